"""Soak: 64 concurrent clients, mixed operations, for ``SHOAL_SOAK_SECONDS`` (8 by default;
a few minutes in long mode) against a server of its own.

Each client owns a set of keys, so it knows exactly what each of them must hold: after a 2xx
PUT, Copy or Complete a GET returns the new bytes and a listing shows the key (read after
write); after a DELETE both say it is gone. All clients also fight over a few shared keys,
whose content must always be one of the bodies written there, with an ETag that matches it.
The test fails on any 5xx, any integrity error, a Traceback in the server log, or server RSS
that keeps growing (sampled twice a second).
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote
from xml.etree import ElementTree

import pytest
import requests

from .server import LiveServer, own_server
from .test_s3_auth import sign_v4

SECONDS = float(os.environ.get("SHOAL_SOAK_SECONDS", "8"))
CLIENTS = int(os.environ.get("SHOAL_SOAK_CLIENTS", "64"))
BUCKET = "soak"
HOT_KEYS = [f"hot/{i}" for i in range(4)]
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@dataclass
class Stats:
    ops: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    hot_written: dict[str, set[str]] = field(default_factory=dict)  # key -> md5s ever sent
    lock: threading.Lock = field(default_factory=threading.Lock)

    known: list[str] = field(default_factory=list)  # failures of the reported read race

    def fail(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)

    def known_race(self, message: str) -> None:
        """A GET of a key that another client overwrites fails (500 or a broken body): the
        race test_races.py::test_get_racing_overwrite pins; counted apart to report it."""
        with self.lock:
            self.known.append(message)


class Client:
    """One keep-alive connection, SigV4-signed requests."""

    def __init__(self, server: LiveServer) -> None:
        self.base = server.endpoint
        self.http = requests.Session()
        self.requests = 0

    def send(self, method: str, path: str, body: bytes = b"",
             headers: dict[str, str] | None = None) -> requests.Response:
        url = self.base + path
        signed = sign_v4(method, url, {**(headers or {}), "content-length": str(len(body))},
                         hashlib.sha256(body).hexdigest()).headers
        self.requests += 1
        return self.http.request(method, url, data=body, headers=signed, timeout=60)


def keys_listed(resp: requests.Response) -> dict[str, tuple[int, str]]:
    root = ElementTree.fromstring(resp.content)
    return {c.findtext(f"{NS}Key") or "": (int(c.findtext(f"{NS}Size") or -1),
                                            c.findtext(f"{NS}ETag") or "")
            for c in root.iter(f"{NS}Contents")}


class Worker:
    def __init__(self, n: int, server: LiveServer, stats: Stats, seed: int) -> None:
        self.n = n
        self.c = Client(server)
        self.stats = stats
        self.rng = random.Random(seed)
        self.model: dict[str, bytes] = {}  # my keys -> what they hold
        self.ops: dict[str, Callable[[], None]] = {
            "put": self.put, "get": self.get, "delete": self.delete, "copy": self.copy,
            "multipart": self.multipart, "range": self.range_get, "list": self.list_mine,
            "head": self.head, "hot-put": self.hot_put, "hot-get": self.hot_get,
        }
        self.weights = [30, 20, 8, 6, 3, 8, 6, 6, 7, 6]

    # -- helpers --------------------------------------------------------------------------
    def key(self) -> str:
        return f"c{self.n:02d}/k{self.rng.randrange(12)}"

    def data(self) -> bytes:
        size = self.rng.choice([0, 1, 100, 4096, 30000, 200000])
        return os.urandom(size)

    def ok(self, resp: requests.Response, what: str, *statuses: int) -> bool:
        if resp.status_code >= 500:
            self.stats.fail(f"{what}: {resp.status_code} {resp.content[:200]!r}")
            return False
        if resp.status_code not in (statuses or (200,)):
            self.stats.fail(f"{what}: unexpected {resp.status_code} {resp.content[:200]!r}")
            return False
        return True

    def expect(self, key: str) -> None:
        """Read after write: GET and a listing agree with the model."""
        want = self.model.get(key)
        resp = self.c.send("GET", f"/{BUCKET}/{quote(key)}")
        if want is None:
            self.ok(resp, f"GET deleted {key}", 404)
        elif self.ok(resp, f"GET {key}") and resp.content != want:
            self.stats.fail(f"GET {key}: {len(resp.content)} bytes, wrote {len(want)}")
        listed = self.c.send("GET", f"/{BUCKET}?list-type=2&prefix={quote(key, safe='')}")
        if self.ok(listed, f"LIST {key}"):
            entry = keys_listed(listed).get(key)
            if (entry is None) != (want is None) or (entry and entry[0] != len(want or b"")):
                self.stats.fail(f"LIST {key}: {entry}, model has {want is not None}")

    # -- operations -----------------------------------------------------------------------
    def put(self) -> None:
        key, data = self.key(), self.data()
        if self.ok(self.c.send("PUT", f"/{BUCKET}/{key}", data), f"PUT {key}"):
            self.model[key] = data
            self.expect(key)

    def get(self) -> None:
        if self.model:
            key = self.rng.choice(sorted(self.model))
            resp = self.c.send("GET", f"/{BUCKET}/{key}")
            if self.ok(resp, f"GET {key}") and resp.content != self.model[key]:
                self.stats.fail(f"GET {key}: wrong bytes")

    def head(self) -> None:
        key = self.key()
        resp = self.c.send("HEAD", f"/{BUCKET}/{key}")
        if self.ok(resp, f"HEAD {key}", 200, 404):
            want = self.model.get(key)
            size = None if resp.status_code == 404 else int(resp.headers["Content-Length"])
            if size != (None if want is None else len(want)):
                self.stats.fail(f"HEAD {key}: {resp.status_code} {size}, model {want is not None}")

    def delete(self) -> None:
        key = self.key()
        if self.ok(self.c.send("DELETE", f"/{BUCKET}/{key}"), f"DELETE {key}", 204):
            self.model.pop(key, None)
            self.expect(key)

    def copy(self) -> None:
        if not self.model:
            return
        src, dst = self.rng.choice(sorted(self.model)), self.key()
        if src == dst:
            return
        resp = self.c.send("PUT", f"/{BUCKET}/{dst}",
                           headers={"x-amz-copy-source": f"/{BUCKET}/{src}"})
        if self.ok(resp, f"COPY {src} {dst}"):
            self.model[dst] = self.model[src]
            self.expect(dst)

    def multipart(self) -> None:
        key, data = self.key(), self.data()
        resp = self.c.send("POST", f"/{BUCKET}/{key}?uploads")
        if not self.ok(resp, f"INITIATE {key}"):
            return
        up = ElementTree.fromstring(resp.content).findtext(f"{NS}UploadId")
        part = self.c.send("PUT", f"/{BUCKET}/{key}?partNumber=1&uploadId={up}", data)
        if not self.ok(part, f"PART {key}"):
            return
        doc = (f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"
               f"{part.headers['ETag']}</ETag></Part></CompleteMultipartUpload>").encode()
        if self.ok(self.c.send("POST", f"/{BUCKET}/{key}?uploadId={up}", doc), f"COMPLETE {key}"):
            self.model[key] = data
            self.expect(key)

    def range_get(self) -> None:
        full = {k: v for k, v in self.model.items() if len(v) > 10}
        if full:
            key = self.rng.choice(sorted(full))
            first = self.rng.randrange(len(full[key]))
            last = self.rng.randrange(first, len(full[key]))
            resp = self.c.send("GET", f"/{BUCKET}/{key}", headers={"range": f"bytes={first}-{last}"})
            if self.ok(resp, f"RANGE {key}", 206) and resp.content != full[key][first:last + 1]:
                self.stats.fail(f"RANGE {key} {first}-{last}: wrong bytes")

    def list_mine(self) -> None:
        resp = self.c.send("GET", f"/{BUCKET}?list-type=2&prefix=c{self.n:02d}/")
        if self.ok(resp, "LIST mine"):
            listed = {k: size for k, (size, _) in keys_listed(resp).items()}
            if listed != {k: len(v) for k, v in self.model.items()}:
                self.stats.fail(f"LIST c{self.n:02d}: {sorted(listed)} != {sorted(self.model)}")

    def hot_put(self) -> None:
        key, data = self.rng.choice(HOT_KEYS), self.data()
        with self.stats.lock:
            self.stats.hot_written.setdefault(key, set()).add(hashlib.md5(data).hexdigest())
        self.ok(self.c.send("PUT", f"/{BUCKET}/{key}", data), f"PUT {key}")

    def hot_get(self) -> None:
        key = self.rng.choice(HOT_KEYS)
        try:
            resp = self.c.send("GET", f"/{BUCKET}/{key}")
        except requests.RequestException as exc:  # the body stream broke off
            self.stats.known_race(f"GET {key}: {exc!r}")
            return
        if resp.status_code == 500:
            self.stats.known_race(f"GET {key}: 500 {resp.content[:80]!r}")
            return
        if not self.ok(resp, f"GET {key}", 200, 404) or resp.status_code == 404:
            return
        digest = hashlib.md5(resp.content).hexdigest()
        if resp.headers["ETag"] != f'"{digest}"' or digest not in self.stats.hot_written[key]:
            self.stats.fail(f"GET {key}: body {digest} vs ETag {resp.headers['ETag']}")

    def run(self, until: float) -> None:
        names = list(self.ops)
        while time.monotonic() < until and len(self.stats.errors) < 50:
            name = self.rng.choices(names, self.weights)[0]
            try:
                self.ops[name]()
            except Exception as exc:  # noqa: BLE001 - a broken connection is a failure too
                self.stats.fail(f"{name}: {exc!r}")
            with self.stats.lock:
                self.stats.ops[name] += 1


def server_errors(srv: LiveServer, known: bool) -> list[str]:
    """The exceptions the server logged (the last line of each traceback), but for those of
    the known read race when it happened."""
    with open(srv.log_path, errors="replace") as f:
        lines = [line for line in f if re.match(r"[A-Za-z_][\w.]*(Error|Exception): ", line)]
    if known:
        lines = [line for line in lines if "Object data is missing" not in line
                 and not line.startswith("FileNotFoundError: ")]
    return lines


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def sample_rss(pid: int, stop: threading.Event, out: list[tuple[float, float]]) -> None:
    t0 = time.monotonic()
    while not stop.wait(0.5):
        out.append((time.monotonic() - t0, rss_mib(pid)))


def slope_mib_per_min(samples: list[tuple[float, float]]) -> float:
    n = len(samples)
    mt = sum(t for t, _ in samples) / n
    mr = sum(r for _, r in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples) or 1.0
    return 60 * sum((t - mt) * (r - mr) for t, r in samples) / var


@pytest.fixture(scope="module")
def soak_server() -> Iterator[LiveServer]:
    with own_server() as srv:
        yield srv


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="samples /proc/<pid>")
@pytest.mark.timeout(SECONDS + 300)
def test_soak(soak_server: LiveServer) -> None:
    assert soak_server.proc is not None
    assert Client(soak_server).send("PUT", f"/{BUCKET}").status_code == 200
    stats = Stats()
    workers = [Worker(n, soak_server, stats, n) for n in range(CLIENTS)]
    rss: list[tuple[float, float]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_rss, args=(soak_server.proc.pid, stop, rss))
    until = time.monotonic() + SECONDS
    threads = [threading.Thread(target=w.run, args=(until,)) for w in workers]
    started = time.monotonic()
    sampler.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(SECONDS + 120)
    stop.set()
    sampler.join()
    elapsed = time.monotonic() - started
    total = sum(stats.ops.values())
    sent = sum(w.c.requests for w in workers)
    half = rss[len(rss) // 2:] or rss
    trend = slope_mib_per_min(half) if len(half) > 2 else 0.0
    print(f"\nsoak: {elapsed:.0f} s, {CLIENTS} clients, {total} ops ({total / elapsed:.0f}/s), "
          f"{sent} requests ({sent / elapsed:.0f}/s), {len(stats.errors)} errors, "
          f"{len(stats.known)} known-race failures; ops {dict(sorted(stats.ops.items()))}; RSS MiB first "
          f"{rss[0][1]:.1f} max {max(r for _, r in rss):.1f} last {rss[-1][1]:.1f}, "
          f"second-half trend {trend:+.1f} MiB/min")
    assert not [t for t in threads if t.is_alive()], "a client hung"
    assert not stats.errors, "\n".join(stats.errors[:20])
    assert total >= CLIENTS * 2
    assert not server_errors(soak_server, known=bool(stats.known))
    warm = rss[min(len(rss) - 1, 4)][1]  # after two seconds of load
    assert max(r for _, r in rss) < warm + 96, "server RSS grew under load"
    if SECONDS >= 60:  # long mode: flat in the second half
        assert trend < 2.0, f"RSS keeps growing: {trend:+.1f} MiB/min"
    assert not stats.known, (f"{len(stats.known)} GETs failed while their key was being "
                             f"overwritten: {stats.known[0]}")
