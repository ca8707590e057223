"""The load generator's workloads. Each returns a dict of metric name -> value.

Every reply is checked: status codes, sizes, ETags (MD5s, where the server computes them) and
every byte of every GET body against the pattern the bytes were uploaded from.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import uvloop
from lg_client import MIB, PERIOD, AsyncConn, BlockingConn, Pattern, Reply, Signer, VerifyError
from lg_servers import PeakSampler, Target

BUCKET = "bench"
BIG_KEY = "big"


@dataclass
class Setup:
    """Sizes and concurrency of one run (the same for every server)."""

    size: int
    part: int
    inflight: int
    small_keys: int
    small_size: int
    small_inflight: int
    list_keys: int
    page_keys: int
    list_passes: int
    complete_sizes: list[int]
    complete_parts: int
    complete_repeat: int


@dataclass
class Client:
    """Everything the workloads share for one target: signer, pattern, connections."""

    target: Target
    pattern: Pattern
    md5s: dict[tuple[object, int], str] = field(default_factory=dict)  # (offset|"small", n)
    local: threading.local = field(default_factory=threading.local)

    def __post_init__(self) -> None:
        self.signer = Signer(f"127.0.0.1:{self.target.port}")

    def conn(self) -> BlockingConn:
        c = getattr(self.local, "conn", None)
        if c is None:
            c = self.local.conn = BlockingConn(self.target.port)
        return c

    def call(self, method: str, path: str, query: str = "", body: list[memoryview] | None = None,
             length: int = 0, extra: str = "", **kw: object) -> Reply:
        head = self.signer.head(method, path, query, length, extra)
        return self.conn().request(head, body or [], method, **kw)  # type: ignore[arg-type]

    def md5(self, offset: int, n: int) -> str:
        """MD5 hex of the object's bytes [offset, offset + n), cached."""
        key = (offset, n)
        if key not in self.md5s:
            h = hashlib.md5()
            for piece in pieces(self.pattern, offset, n):
                h.update(piece)
            self.md5s[key] = h.hexdigest()
        return self.md5s[key]


def precompute_md5s(c: Client, spans: list[tuple[int, int]]) -> None:
    """Fill the MD5 cache for ``(offset, length)`` spans, in threads (hashlib drops the GIL)."""
    todo = [(o, n) for o, n in spans if n <= PERIOD and (o, n) not in c.md5s]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda span: c.md5(*span), todo))


def pieces(pattern: Pattern, offset: int, n: int, step: int = 16 * MIB) -> list[memoryview]:
    """The object's bytes [offset, offset + n) as pattern views of at most ``step`` bytes."""
    out = []
    while n > 0:
        k = min(n, step, PERIOD)
        out.append(pattern.at(offset, k))
        offset, n = offset + k, n - k
    return out


def expect(ok: bool, what: str, reply: Reply | None = None) -> None:
    if not ok:
        detail = f": {reply.status} {reply.body[:300]!r}" if reply is not None else ""
        raise VerifyError(what + detail)


def _tag(doc: bytes, name: str) -> str:
    m = re.search(rb"<%s>(.*?)</%s>" % (name.encode(), name.encode()), doc)
    expect(m is not None, f"no <{name}> in {doc[:300]!r}")
    return m.group(1).decode().replace("&quot;", '"').replace("&#34;", '"')  # type: ignore[union-attr]


def _etag(value: str) -> str:
    return value.strip().strip('"')


def create_bucket(c: Client) -> None:
    r = c.call("PUT", f"/{BUCKET}")
    expect(r.status == 200, "CreateBucket", r)


# -- 1, 5, 6: multipart upload, Complete, RSS --------------------------------------------------


def multipart(c: Client, key: str, size: int, part: int, inflight: int) -> dict[str, float]:
    """Upload ``size`` bytes in ``part``-sized parts, ``inflight`` at a time; Complete."""
    path = f"/{BUCKET}/{key}"
    r = c.call("POST", path, "uploads")
    expect(r.status == 200, "CreateMultipartUpload", r)
    upload_id = _tag(r.body, "UploadId")
    offsets = list(range(0, size, part))
    real = c.target.kind.real_etags
    if real:  # before the clock starts: the client must not hash while it measures
        precompute_md5s(c, [(off, min(part, size - off)) for off in offsets])

    def put(i: int) -> str:
        off, n = offsets[i], min(part, size - offsets[i])
        q = f"partNumber={i + 1}&uploadId={upload_id}"
        rep = c.call("PUT", path, q, pieces(c.pattern, off, n), n)
        expect(rep.status == 200, f"UploadPart {i + 1}", rep)
        etag = _etag(rep.headers.get("etag", ""))
        if real and n <= PERIOD:
            expect(etag == c.md5(off, n), f"part {i + 1} ETag {etag}")
        return etag

    cpu0, mine0, t0 = c.target.cpu_seconds(), time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(inflight) as pool:
        etags = list(pool.map(put, range(len(offsets))))
    upload_s = time.perf_counter() - t0
    cpu, mine = c.target.cpu_seconds() - cpu0, time.process_time() - mine0
    doc = "".join(f"<Part><PartNumber>{i}</PartNumber><ETag>\"{e}\"</ETag></Part>"
                  for i, e in enumerate(etags, start=1))
    body = f"<CompleteMultipartUpload>{doc}</CompleteMultipartUpload>".encode()
    t0 = time.perf_counter()
    r = c.call("POST", path, f"uploadId={upload_id}", [memoryview(body)], len(body))
    complete_s = time.perf_counter() - t0
    expect(r.status == 200 and b"<Error>" not in r.body, "CompleteMultipartUpload", r)
    got = _etag(_tag(r.body, "ETag"))
    if real and size // len(offsets) <= PERIOD:
        want = hashlib.md5(b"".join(bytes.fromhex(e) for e in etags)).hexdigest()
        expect(got == f"{want}-{len(offsets)}", f"multipart ETag {got}")
    r = c.call("HEAD", path)
    expect(r.status == 200 and int(r.headers["content-length"]) == size, "HEAD size", r)
    return {"upload_s": upload_s, "complete_ms": complete_s * 1000, "server_cpu_s": cpu,
            "client_cpu_s": mine}


def upload_big(c: Client, s: Setup) -> dict[str, float]:
    """Workload 1 (and 6): the large multipart upload, with the server's peak RSS."""
    with PeakSampler(c.target) as peak:
        m = multipart(c, BIG_KEY, s.size, s.part, s.inflight)
    gib = s.size / 1024**3
    return {"upload_mib_s": s.size / MIB / m["upload_s"], "complete_big_ms": m["complete_ms"],
            "peak_rss_mib": peak.peak_mib, "rss_before_mib": peak.before / 1024,
            "upload_server_cpu_s_gib": m["server_cpu_s"] / gib,
            "upload_client_cpu_s_gib": m["client_cpu_s"] / gib}


def complete_vs_size(c: Client, s: Setup) -> dict[str, float]:
    """Workload 5: Complete latency for each size, the number of parts held constant."""
    out: dict[str, float] = {}
    for size in s.complete_sizes:
        times = []
        for i in range(s.complete_repeat):
            key = f"complete-{size}-{i}"
            part = -(-size // s.complete_parts)
            times.append(multipart(c, key, size, part, s.inflight)["complete_ms"])
            r = c.call("DELETE", f"/{BUCKET}/{key}")
            expect(r.status == 204, "DELETE", r)
        out[f"complete_ms_{size}"] = statistics.median(times)
    return out


# -- 2: whole and ranged GET -------------------------------------------------------------------


def get_big(c: Client, s: Setup) -> dict[str, float]:
    """Workload 2: GET the whole object on one connection, then 16 MiB ranges in parallel."""
    path = f"/{BUCKET}/{BIG_KEY}"
    srv0, cpu0, t0 = c.target.cpu_seconds(), time.process_time(), time.perf_counter()
    r = c.call("GET", path, pattern=c.pattern, offset=0)
    whole = time.perf_counter() - t0
    expect(r.status == 200 and r.length == s.size, "GET whole", r)
    srv1, cpu1 = c.target.cpu_seconds(), time.process_time()

    def ranged(off: int) -> None:
        last = min(off + s.part, s.size) - 1
        rep = c.call("GET", path, extra=f"Range: bytes={off}-{last}\r\n", pattern=c.pattern,
                     offset=off)
        expect(rep.status == 206 and rep.length == last - off + 1, f"GET range {off}", rep)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(s.inflight) as pool:
        list(pool.map(ranged, range(0, s.size, s.part)))
    ranged_s = time.perf_counter() - t0
    gib = s.size / 1024**3
    return {"get_mib_s": s.size / MIB / whole, "get_range_mib_s": s.size / MIB / ranged_s,
            "get_server_cpu_s_gib": (srv1 - srv0) / gib,
            "get_range_server_cpu_s_gib": (c.target.cpu_seconds() - srv1) / gib,
            "get_client_cpu_s_gib": (cpu1 - cpu0) / gib,
            "get_range_client_cpu_s_gib": (time.process_time() - cpu1) / gib}


def delete_big(c: Client) -> None:
    r = c.call("DELETE", f"/{BUCKET}/{BIG_KEY}")
    expect(r.status == 204, "DELETE big", r)


# -- 3: small objects --------------------------------------------------------------------------


def _small_key(i: int, size: int) -> str:
    return f"/{BUCKET}/small/{i:06d}-{size}"


async def _phase(c: Client, n: int, inflight: int,
                 one: Callable[[AsyncConn, int], object]) -> tuple[float, list[float]]:
    """Run ``one(conn, i)`` for i in range(n) with ``inflight`` connections."""
    todo: Iterator[int] = iter(range(n))
    lat: list[float] = []

    async def worker() -> None:
        conn = AsyncConn(c.target.port)
        try:
            for i in todo:
                t0 = time.perf_counter()
                await one(conn, i)  # type: ignore[misc]
                lat.append(time.perf_counter() - t0)
        finally:
            conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(inflight)))
    return time.perf_counter() - t0, lat


async def _small(c: Client, s: Setup) -> dict[str, float]:
    size, sig, real = s.small_size, c.signer, c.target.kind.real_etags

    async def put(conn: AsyncConn, i: int) -> None:
        r = await conn.request(sig.head("PUT", _small_key(i, size), "", size),
                               c.pattern.small(i, size), "PUT")
        expect(r.status == 200, "PUT small", r)
        expect(not real or _etag(r.headers["etag"]) == c.md5s[("small", i)], "PUT ETag")

    async def get(conn: AsyncConn, i: int) -> None:
        r = await conn.request(sig.head("GET", _small_key(i, size)))
        expect(r.status == 200 and r.body == c.pattern.small(i, size), f"GET small {i}", r)

    async def head(conn: AsyncConn, i: int) -> None:
        r = await conn.request(sig.head("HEAD", _small_key(i, size)), method="HEAD")
        expect(r.status == 200 and r.headers["content-length"] == str(size), "HEAD small", r)
        expect(not real or _etag(r.headers["etag"]) == c.md5s[("small", i)], "HEAD ETag")

    async def delete(conn: AsyncConn, i: int) -> None:
        r = await conn.request(sig.head("DELETE", _small_key(i, size)), method="DELETE")
        expect(r.status == 204, "DELETE small", r)

    out: dict[str, float] = {}
    for name, op in (("put", put), ("get", get), ("head", head), ("delete", delete)):
        cpu0, server0 = time.process_time(), c.target.cpu_seconds()
        elapsed, lat = await _phase(c, s.small_keys, s.small_inflight, op)
        out[f"{name}_server_cpu_us"] = (c.target.cpu_seconds() - server0) / s.small_keys * 1e6
        lat.sort()
        out[f"{name}_ops"] = s.small_keys / elapsed
        out[f"{name}_p50_ms"] = lat[len(lat) // 2] * 1000
        out[f"{name}_p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        out[f"{name}_client_cpu_us"] = (time.process_time() - cpu0) / s.small_keys * 1e6
    return out


def small_ops(c: Client, s: Setup) -> dict[str, float]:
    """Workload 3: PUT, GET, HEAD, DELETE of small objects, many in flight."""
    for i in range(s.small_keys):
        if ("small", i) not in c.md5s:
            c.md5s[("small", i)] = hashlib.md5(c.pattern.small(i, s.small_size)).hexdigest()
    return uvloop.run(_small(c, s))


# -- 4: listing --------------------------------------------------------------------------------


def list_key(i: int) -> str:
    return f"list/k{i:05d}"


def populate_list(c: Client, s: Setup) -> None:
    """Create the keys the listing walks (empty objects, many in flight); not timed."""

    async def put(conn: AsyncConn, i: int) -> None:
        r = await conn.request(c.signer.head("PUT", f"/{BUCKET}/{list_key(i)}", "", 0),
                               method="PUT")
        expect(r.status == 200, "PUT list key", r)

    uvloop.run(_phase(c, s.list_keys, s.small_inflight, put))


def list_pages(c: Client, s: Setup) -> dict[str, float]:
    """Workload 4: walk all keys with ListObjectsV2, ``page_keys`` a page, one at a time."""
    pages, t0 = 0, time.perf_counter()
    for _ in range(s.list_passes):
        token, seen = "", 0
        while True:
            q = f"list-type=2&max-keys={s.page_keys}&prefix=list%2F"
            if token:
                q += f"&continuation-token={token}"
            r = c.call("GET", f"/{BUCKET}", q)
            expect(r.status == 200, "ListObjectsV2", r)
            keys = [k.decode() for k in re.findall(rb"<Key>(.*?)</Key>", r.body)]
            want = [list_key(i) for i in range(seen, min(seen + s.page_keys, s.list_keys))]
            expect(keys == want, f"page after {seen} keys has {keys[:1]}..{keys[-1:]}")
            seen, pages = seen + len(keys), pages + 1
            if b"<IsTruncated>true</IsTruncated>" not in r.body:
                break
            token = _quote(_tag(r.body, "NextContinuationToken"))
        expect(seen == s.list_keys, f"listed {seen} of {s.list_keys} keys")
    return {"list_pages_s": pages / (time.perf_counter() - t0)}


def _quote(token: str) -> str:
    from urllib.parse import quote

    return quote(token, safe="-_.~")
