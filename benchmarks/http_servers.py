"""Compare uvicorn (uvloop + httptools) and granian (ASGI) as Shoal's HTTP server.

    .venv/bin/python benchmarks/http_servers.py [--seconds 3] [--rounds 3] [--workers 1,2]
                                                [--big-mib 256] [--no-checks] [--no-perf]
                                                [--idle]

Each server runs ``shoal.app:create_app`` on a free loopback port, alternately (A B A B) with a
fresh data dir per start. Workloads: 4 KiB PUT then GET from 32 keep-alive clients (SigV4,
UNSIGNED-PAYLOAD, requests signed once up front) and one large PUT and GET. Then protocol
checks that matter to Shoal run against each server with 1 worker. Needs ``pip install granian``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

AK, SK, HOST = "benchak", "benchsk-secret", "127.0.0.1"
BUCKET, N_KEYS, SMALL = "bench", 256, 4096
SERVERS = ("uvicorn", "granian")
HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------- servers

def server_cmd(name: str, target: str, port: int, workers: int) -> list[str]:
    """The command line that runs ``target`` (a factory) the way production would."""
    py = [sys.executable, "-m", name, target, "--factory", "--host", HOST, "--port", str(port),
          "--workers", str(workers), "--loop", "uvloop", "--log-level", "warning",
          "--no-access-log"]
    if name == "uvicorn":  # same options as shoal.cli.serve()
        return py + ["--http", "httptools", "--no-server-header", "--no-date-header",
                     "--timeout-keep-alive", "30"]
    return py + ["--interface", "asgi", "--http", "1", "--no-ws"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """One server process group on a free port with its own data dir."""

    def __init__(self, name: str, workers: int, target: str = "shoal.app:create_app") -> None:
        self.name, self.port = name, free_port()
        self.data = tempfile.mkdtemp(prefix="shoal-httpbench-")
        env = dict(os.environ, SHOAL_DATA_DIR=self.data, SHOAL_ACCESS_KEY=AK,
                   SHOAL_SECRET_KEY=SK, SHOAL_LOG_LEVEL="warning",
                   PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen(server_cmd(name, target, self.port, workers), env=env,
                                     start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, limit: float = 30.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1) as s:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if s.recv(12).startswith(b"HTTP/1.1"):
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start")

    def cpu_seconds(self) -> float:
        """CPU time of every live thread in the server's process group (schedstat, ns)."""
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rpartition(")")[2].split()[2]) != self.proc.pid:
                    continue
                total += sum(int(t.read_text().split()[0])
                             for t in stat.parent.glob("task/*/schedstat"))
            except OSError:
                continue
        return total / 1e9

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        shutil.rmtree(self.data, ignore_errors=True)


# ---------------------------------------------------------------- signing and raw HTTP

class _UnsignedPayload(S3SigV4Auth):
    def _should_sha256_sign_payload(self, request: Any) -> bool:
        return False


def signed(method: str, port: int, path: str, length: int | None = None,
           extra: dict[str, str] | None = None, target: str | None = None) -> bytes:
    """A SigV4-signed (UNSIGNED-PAYLOAD) request head; ``target`` overrides the request line."""
    req = AWSRequest(method=method, url=f"http://{HOST}:{port}{path}", headers=dict(extra or {}))
    _UnsignedPayload(Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    lines = [f"{method} {target or path} HTTP/1.1", f"Host: {HOST}:{port}"]
    lines += [f"{k}: {v}" for k, v in req.headers.items()]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError(f"no Content-Length in {head[:200]!r}")


class Conn:
    """A blocking keep-alive connection that reads whole responses."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def head(self) -> tuple[int, dict[str, str]]:
        status = self.file.readline()
        if not status:
            raise ConnectionError("closed by server")
        headers: dict[str, str] = {}
        while (line := self.file.readline()) not in (b"\r\n", b""):
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        return int(status.split()[1]), headers

    def response(self, body: bool = True) -> tuple[int, dict[str, str], bytes]:
        status, headers = self.head()
        n = int(headers.get("content-length", "0")) if body else 0
        return status, headers, self.file.read(n)

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def setup_bucket(port: int) -> None:
    c = Conn(port)
    c.sock.sendall(signed("PUT", port, f"/{BUCKET}", 0))
    status, _, body = c.response()
    c.close()
    if status != 200:
        raise RuntimeError(f"CreateBucket: {status} {body[:200]!r}")


# ---------------------------------------------------------------- workloads

async def _client(port: int, reqs: list[bytes], stop: float, lat: list[float]) -> int:
    reader, writer = await asyncio.open_connection(HOST, port)
    errors, i = 0, 0
    while time.perf_counter() < stop:
        t0 = time.perf_counter()
        writer.write(reqs[i % len(reqs)])
        head = await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(_length(head))
        lat.append(time.perf_counter() - t0)
        errors += not head.startswith(b"HTTP/1.1 200")
        i += 1
    writer.close()
    return errors


async def _load(port: int, reqs: list[list[bytes]], seconds: float) -> dict[str, float]:
    lat: list[float] = []
    t0 = time.perf_counter()
    errors = await asyncio.gather(*(_client(port, r, t0 + seconds, lat) for r in reqs))
    elapsed = time.perf_counter() - t0
    q = statistics.quantiles(lat, n=100)
    return {"ops": len(lat) / elapsed, "p50": q[49] * 1e3, "p99": q[98] * 1e3,
            "errors": float(sum(errors)), "n": float(len(lat))}


def small_load(port: int, method: str, seconds: float, conc: int) -> dict[str, float]:
    """``conc`` clients, each cycling over its share of the N_KEYS keys for ``seconds``."""
    body = os.urandom(SMALL) if method == "PUT" else b""
    heads = [signed(method, port, f"/{BUCKET}/k{i}", SMALL if body else None) + body
             for i in range(N_KEYS)]
    import uvloop

    return uvloop.run(_load(port, [heads[i::conc] for i in range(conc)], seconds))


def big_put(port: int, payload: bytes) -> float:
    c = Conn(port, timeout=120)
    t0 = time.perf_counter()
    c.sock.sendall(signed("PUT", port, f"/{BUCKET}/big", len(payload)))
    c.sock.sendall(memoryview(payload))
    status, _, body = c.response()
    elapsed = time.perf_counter() - t0
    c.close()
    if status != 200:
        raise RuntimeError(f"big PUT: {status} {body[:200]!r}")
    return len(payload) / elapsed / 2**20


def big_get(port: int, size: int, request: bytes | None = None) -> float:
    c = Conn(port, timeout=120)
    t0 = time.perf_counter()
    c.sock.sendall(request or signed("GET", port, f"/{BUCKET}/big"))
    status, headers = c.head()
    if status != 200 or "transfer-encoding" in headers or headers["content-length"] != str(size):
        raise RuntimeError(f"big GET: {status} {headers}")
    buf, left = bytearray(1 << 20), size
    while left:
        n = c.file.readinto(memoryview(buf)[:min(left, len(buf))])
        if not n:
            raise RuntimeError("big GET: short body")
        left -= n
    elapsed = time.perf_counter() - t0
    c.close()
    return size / elapsed / 2**20


def run_once(name: str, workers: int, args: argparse.Namespace, payload: bytes) -> dict[str, float]:
    srv = Server(name, workers)
    try:
        setup_bucket(srv.port)
        small_load(srv.port, "PUT", 1.0, args.concurrency)  # warm-up; creates the keys
        res: dict[str, float] = {}
        for method in ("PUT", "GET"):
            cpu, mine = srv.cpu_seconds(), time.process_time()
            got = small_load(srv.port, method, args.seconds, args.concurrency)
            n = got.pop("n")
            got["server CPU us/op"] = (srv.cpu_seconds() - cpu) / n * 1e6
            got["client CPU us/op"] = (time.process_time() - mine) / n * 1e6
            res |= {f"{method} 4KiB {k}": v for k, v in got.items()}
        for method, fn in (("PUT", lambda: big_put(srv.port, payload)),
                           ("GET", lambda: big_get(srv.port, len(payload)))):
            cpu = srv.cpu_seconds()
            res[f"{method} {args.big_mib}MiB MiB/s"] = fn()
            res[f"{method} {args.big_mib}MiB CPU s/GiB"] = (
                (srv.cpu_seconds() - cpu) / len(payload) * 2**30)
        return res
    finally:
        srv.stop()


def perf(args: argparse.Namespace) -> None:
    payload = os.urandom(1 << 20) * args.big_mib
    for workers in args.workers:
        runs: dict[str, list[dict[str, float]]] = {s: [] for s in SERVERS}
        for rnd in range(args.rounds):
            for name in SERVERS:
                res = run_once(name, workers, args, payload)
                runs[name].append(res)
                print(f"# workers={workers} round={rnd + 1} {name}: " + ", ".join(
                    f"{k}={v:.1f}" for k, v in res.items()), flush=True)
        print(f"\nworkers={workers}  (median of {args.rounds} rounds)")
        print(f"{'metric':<28}{'uvicorn':>10}{'granian':>10}{'granian/uvicorn':>17}")
        for key in runs["uvicorn"][0]:
            u, g = (statistics.median(r[key] for r in runs[s]) for s in SERVERS)
            ratio = f"{g / u:.2f}" if u else "-"
            print(f"{key:<28}{u:>10.2f}{g:>10.2f}{ratio:>17}")
        print(flush=True)


# ---------------------------------------------------------------- server-level checks (probe app)

async def _probe_file(scope: dict[str, Any], send: Any, path: str) -> None:
    """Send a file by ``http.response.pathsend`` or as 1 MiB body messages (as Shoal does)."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(os.path.getsize(path)).encode())]})
    if scope["path"] == "/pathsend":
        await send({"type": "http.response.pathsend", "path": path})
        return
    with open(path, "rb") as f:
        while chunk := await asyncio.to_thread(f.read, 1 << 20):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def probe_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with what the server put into the scope; ``/reject`` answers 403 unread."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] in ("/pathsend", "/stream"):
        await _probe_file(scope, send, os.path.join(os.environ["SHOAL_DATA_DIR"], "probe.bin"))
        return
    size, more = 0, not scope["path"].startswith("/reject")
    while more:
        msg = await receive()
        size, more = size + len(msg.get("body", b"")), msg.get("more_body", False)
    raw = scope.get("raw_path")
    doc = json.dumps({"path": scope["path"], "body": size,
                      "raw_path": None if raw is None else raw.decode("latin-1"),
                      "extensions": sorted(scope.get("extensions") or {}),
                      "query_string": scope["query_string"].decode("latin-1")}).encode()
    status = 403 if scope["path"].startswith("/reject") else 200
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"Content-Length", str(len(doc)).encode()), (b"ETag", b'"p"')]})
    await send({"type": "http.response.body", "body": doc})


def probe_factory() -> Any:
    return probe_app


def _ask(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    c = Conn(port)
    try:
        c.sock.sendall(data)
        return c.response()
    finally:
        c.close()


def _status(port: int, data: bytes) -> str:
    try:
        return str(_ask(port, data)[0])
    except (OSError, ValueError) as err:
        return f"failed ({type(err).__name__})"


def _plain(method: str, target: str, *lines: str) -> bytes:
    return "\r\n".join([f"{method} {target} HTTP/1.1", "Host: x", *lines, "", ""]).encode()


def _after_early_final(c: Conn, body: bytes, nxt: bytes) -> str:
    """RFC 9110 lets the client close or send the body anyway; does the server close?"""
    readable, _, _ = select.select([c.sock], [], [], 1.0)
    if readable and not c.sock.recv(1, socket.MSG_PEEK):
        return "server closed the conn"
    c.sock.sendall(body + nxt)
    try:
        return f"conn kept; body sent anyway, then next request: {c.response()[0]}"
    except (OSError, ValueError) as err:
        return f"conn kept; body sent anyway, then next request failed ({err!r})"


def _expect_100(port: int, head: bytes, body: bytes, nxt: bytes) -> str:
    c = Conn(port, timeout=2.0)
    t0 = time.perf_counter()
    c.sock.sendall(head)
    try:
        status, headers = c.head()
        ms = (time.perf_counter() - t0) * 1e3
        if status != 100:
            c.file.read(int(headers.get("content-length", "0")))
            return f"final {status}, no 100 ({ms:.0f} ms); {_after_early_final(c, body, nxt)}"
        c.sock.sendall(body)
        return f"100 Continue after {ms:.1f} ms, then {c.response()[0]}"
    except TimeoutError:
        return "no interim response within 2 s"
    finally:
        c.close()


def _early_error(port: int, request: bytes, nxt: bytes) -> str:
    """A request answered before its (fully sent) body is read, then another on the conn."""
    c = Conn(port)
    c.sock.sendall(request)
    status = c.response()[0]
    try:
        c.sock.sendall(nxt)
        return f"{status}; next request on conn: {c.response()[0]}"
    except (OSError, ValueError) as err:
        return f"{status}; next request on conn failed ({type(err).__name__})"
    finally:
        c.close()


def _file_get(srv: Server, size: int, target: str) -> str:
    cpu = srv.cpu_seconds()
    speed = big_get(srv.port, size, _plain("GET", target))
    return f"{speed:.0f} MiB/s, server CPU {(srv.cpu_seconds() - cpu) / size * 2**30:.2f} s/GiB"


def file_speed(srv: Server, size: int) -> dict[str, str]:
    """A cached file sent as 1 MiB body messages, and by pathsend when offered."""
    offered = "http.response.pathsend" in _ask(srv.port, _plain("GET", "/"))[2].decode()
    return {"file as 1 MiB body messages": _file_get(srv, size, "/stream"),
            "file by http.response.pathsend": _file_get(srv, size, "/pathsend") if offered else
            "extension not offered"}


def server_checks(port: int) -> dict[str, str]:
    """Behaviour of the HTTP server itself, seen through the probe app."""
    out = {}
    for label, target in (("origin-form", "/bkt/a%2Fb?x=1"),
                          ("absolute-form", f"http://{HOST}:{port}/bkt/a%2Fb?x=1")):
        try:
            st, _, body = _ask(port, _plain("GET", target))
            out[f"scope, {label} target"] = f"{st} {body.decode()}"
        except (OSError, ValueError) as err:
            out[f"scope, {label} target"] = f"failed: {err!r}"
    body, nxt = b"x" * SMALL, _plain("GET", "/next")
    reject = _plain("PUT", "/reject", f"Content-Length: {SMALL}", "Expect: 100-continue")
    out["app answers 403 to an Expect PUT, body unread"] = _expect_100(port, reject, body, nxt)
    out["app answers 403, sent body unread (no Expect)"] = _early_error(
        port, _plain("PUT", "/reject", f"Content-Length: {SMALL}") + body, nxt)
    with socket.create_connection((HOST, port), timeout=5) as sock:
        sock.sendall(_plain("GET", "/", "Connection: close"))
        head = sock.recv(65536).partition(b"\r\n\r\n")[0]
    out["app sends 'Content-Length', 'ETag'; wire has"] = ", ".join(
        line.partition(b":")[0].decode() for line in head.split(b"\r\n")[1:]
        if line.lower().startswith((b"content-length:", b"etag:")))
    for n in (8 << 10, 64 << 10, 1 << 20):
        out[f"one {n >> 10} KiB header"] = _status(port, _plain("GET", "/", "X-Pad: " + "a" * n))
    for total in (100, 101):
        lines = [f"X-H{i}: v" for i in range(total - 1)]
        out[f"{total} header lines"] = _status(port, _plain("GET", "/", *lines))
    return out


# ---------------------------------------------------------------- checks through Shoal

def shoal_expect(port: int) -> dict[str, str]:
    body, nxt = b"x" * SMALL, signed("GET", port, f"/{BUCKET}/k0")
    ok = signed("PUT", port, f"/{BUCKET}/e100", SMALL, {"Expect": "100-continue"})
    bad = signed("PUT", port, "/nosuchbucket/e100", SMALL, {"Expect": "100-continue"})
    return {"Expect PUT": _expect_100(port, ok, body, nxt),
            "Expect PUT to a missing bucket": _expect_100(port, bad, body, nxt)}


def _ms_since(t0: float) -> str:
    return f"{(time.perf_counter() - t0) * 1e3:.0f} ms"


def shoal_boto3(port: int) -> dict[str, str]:
    """boto3 sends Expect for file-like bodies and skips the body on an early final status."""
    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=f"http://{HOST}:{port}", aws_access_key_id=AK,
                      aws_secret_access_key=SK, region_name="us-east-1",
                      config=Config(s3={"addressing_style": "path"}, read_timeout=5))
    t0 = time.perf_counter()
    data = os.urandom(1 << 20)
    s3.put_object(Bucket=BUCKET, Key="boto", Body=io.BytesIO(data))
    out = {"boto3 put_object 1 MiB (Expect)": _ms_since(t0)}
    same = s3.get_object(Bucket=BUCKET, Key="boto")["Body"].read() == data
    out["boto3 get_object returns the same bytes"] = str(same)
    with contextlib.suppress(s3.exceptions.NoSuchBucket):
        s3.put_object(Bucket="nosuchbucket", Key="k", Body=io.BytesIO(b"x" * SMALL))
    t0 = time.perf_counter()
    s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1)
    out["boto3 next call after rejected Expect PUT"] = f"{_ms_since(t0)} (read_timeout 5 s)"
    return out


def shoal_paths(port: int) -> dict[str, str]:
    path = f"/{BUCKET}/abs"
    absolute = signed("PUT", port, path, 3, target=f"http://{HOST}:{port}{path}") + b"abc"
    out = {"absolute-form signed PUT": _status(port, absolute)}
    out["PUT /bench/a%2Fb signed as sent"] = _status(
        port, signed("PUT", port, f"/{BUCKET}/a%2Fb", 3) + b"abc")
    got = _ask(port, signed("GET", port, f"/{BUCKET}/a/b"))
    out["  then GET /bench/a/b"] = f"{got[0]} body={got[2]!r}"
    return out


def shoal_head_keepalive(port: int) -> dict[str, str]:
    c, out = Conn(port), {}
    c.sock.sendall(signed("HEAD", port, f"/{BUCKET}/k0"))
    status, headers = c.head()  # then read nothing: a stray body would break the next parse
    c.sock.sendall(signed("GET", port, f"/{BUCKET}/k0"))
    st2, _, body = c.response()
    out["HEAD"] = (f"{status} Content-Length={headers.get('content-length')}; next GET on conn: "
                   f"{st2} ({len(body)} bytes)")
    ok = sum(c.sock.sendall(signed("GET", port, f"/{BUCKET}/k{i % 8}")) or
             c.response()[0] == 200 for i in range(100))
    out["keep-alive: 100 GETs on one conn"] = f"{ok}/100 ok"
    out["response header names"] = ",".join(sorted(headers))
    c.close()
    return out


def _trickle(port: int, fast: bytes, slow: bytes, stop: threading.Event) -> None:
    with socket.create_connection((HOST, port)) as s:
        s.sendall(fast)
        for b in slow:
            if stop.wait(1.0):
                return
            s.send(bytes([b]))


def shoal_slowloris(port: int, clients: int = 50, seconds: float = 5.0) -> dict[str, str]:
    """``clients`` connections send a byte a second (half in headers, half in a PUT body)."""
    stop, threads = threading.Event(), []
    for i in range(clients):
        fast, slow = ((b"", b"GET /bench/k0 HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100)
                      if i % 2 else (signed("PUT", port, f"/{BUCKET}/slow{i}", 100), b"b" * 100))
        threads.append(threading.Thread(target=_trickle, args=(port, fast, slow, stop),
                                        daemon=True))
    for t in threads:
        t.start()
    time.sleep(1.5)  # let every slow client get its connection in
    lat, t_end = [], time.monotonic() + seconds
    try:
        while time.monotonic() < t_end:
            t0 = time.perf_counter()
            status = _ask(port, signed("GET", port, f"/{BUCKET}/k0"))[0]
            lat.append((time.perf_counter() - t0) * 1e3)
            if status != 200:
                return {"slowloris": f"GET failed with {status}"}
    finally:
        stop.set()
    return {f"slowloris ({clients} conns, 1 B/s)":
            f"{len(lat)} GETs from another client, max {max(lat):.1f} ms"}


def idle_check(limit: float = 40.0) -> None:
    """Which stalled connections each server drops within ``limit`` seconds (both at once)."""
    stalls = {"no bytes at all": b"", "headers never finished": b"GET / HTTP/1.1\r\nHost: x\r\n",
              "body stalled": b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nab"}
    servers = [Server(name, 1, "http_servers:probe_factory") for name in SERVERS]
    open_: dict[socket.socket, str] = {}
    for srv in servers:
        for label, data in stalls.items():
            sock = socket.create_connection((HOST, srv.port))
            sock.sendall(data)
            open_[sock] = f"{srv.name}: {label}"
    t0, seen = time.monotonic(), {}
    while open_ and time.monotonic() - t0 < limit:
        for sock in select.select(list(open_), [], [], 0.5)[0]:
            got = sock.recv(64).split(b"\r\n")[0]
            seen[open_.pop(sock)] = f"{got!r} then " * bool(got) + \
                f"closed after {time.monotonic() - t0:.0f} s"
    print(f"\n== stalled connections (watched {limit:.0f} s)")
    for label in sorted([*seen, *open_.values()]):
        print(f"  {label:<40} {seen.get(label, 'still open')}")
    for sock in [*open_]:
        sock.close()
    for srv in servers:
        srv.stop()


def sigkill_check(name: str) -> dict[str, str]:
    """SIGKILL only the main process (as the OOM killer or ``kill -9`` would): who serves?"""
    srv = Server(name, 1, "http_servers:probe_factory")
    try:
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait()
        time.sleep(0.5)  # let the kernel tear down what the dead process owned
        try:
            got = f"port still answered: {_ask(srv.port, _plain('GET', '/'))[0]} (orphan worker)"
        except OSError as err:
            got = f"port closed ({type(err).__name__})"
        return {"SIGKILL main process, 1 worker": got}
    finally:
        with contextlib.suppress(ProcessLookupError):  # orphans stay in the process group
            os.killpg(srv.proc.pid, signal.SIGKILL)
        shutil.rmtree(srv.data, ignore_errors=True)


def checks(big_mib: int) -> None:
    steps: list[Callable[[int], dict[str, str]]] = [
        shoal_expect, shoal_boto3, shoal_paths, shoal_head_keepalive, shoal_slowloris]
    for name in SERVERS:
        probe = Server(name, 1, "http_servers:probe_factory")
        try:
            Path(probe.data, "probe.bin").write_bytes(os.urandom(1 << 20) * big_mib)
            results = server_checks(probe.port) | file_speed(probe, big_mib << 20) | \
                sigkill_check(name)
            results = {f"[server] {k}": v for k, v in results.items()}
        finally:
            probe.stop()
        srv = Server(name, 1)
        try:
            setup_bucket(srv.port)
            small_load(srv.port, "PUT", 0.2, 8)
            for step in steps:
                results |= {f"[shoal] {k}": v for k, v in step(srv.port).items()}
        finally:
            srv.stop()
        print(f"\n== checks: {name} (1 worker)")
        for k, v in results.items():
            print(f"  {k:<55} {v}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=3.0, help="duration of each 4 KiB phase")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--big-mib", type=int, default=256)
    p.add_argument("--no-checks", action="store_true")
    p.add_argument("--no-perf", action="store_true")
    p.add_argument("--idle", action="store_true", help="also watch stalled conns for 40 s")
    args = p.parse_args()
    print("load average before: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()), flush=True)
    if not args.no_perf:
        perf(args)
    if not args.no_checks:
        checks(args.big_mib)
    if args.idle:
        idle_check()
    print("load average after: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()), flush=True)


if __name__ == "__main__":
    main()
