"""Benchmark: CompleteMultipartUpload time against object size, and server memory during an
upload.

Complete turns the parts' blobs into the object's segments without reading or copying a byte,
so its time must stay flat from 64 MiB to 4 GiB when the number of parts is the same. The
server's resident memory must stay bounded while a 1 GiB object streams in.

    .venv/bin/python benchmarks/multipart_bench.py                 # 64 MiB, 1 GiB, 4 GiB
    .venv/bin/python benchmarks/multipart_bench.py --quick         # CI smoke, small sizes
    .venv/bin/python benchmarks/multipart_bench.py --sizes 64M,256M --parts 12 --repeat 3

It starts its own ``shoal serve`` on a free port with a temporary data directory, checks the
free disk space first, and removes everything when done.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials

ACCESS_KEY, SECRET_KEY = "bench-access-key", "bench-secret-key-0123456789"
BUCKET = "bench"
MIB = 1024 * 1024
BLOCK = 8 * MIB
MIN_PART = 5 * MIB
UNITS = {"K": 1024, "M": MIB, "G": 1024 * MIB}


def parse_size(text: str) -> int:
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text and text[-1] in UNITS:
        return int(float(text[:-1]) * UNITS[text[-1]])
    return int(text)


def human(n: float) -> str:
    for unit, size in (("GiB", 1024 * MIB), ("MiB", MIB), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.4g} {unit}"
    return f"{int(n)} B"


# -- the server under test ---------------------------------------------------------------------


@dataclass
class Server:
    data_dir: str
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = {**os.environ, "SHOAL_ACCESS_KEY": ACCESS_KEY, "SHOAL_SECRET_KEY": SECRET_KEY,
               "SHOAL_LOG_LEVEL": "warning"}
        cmd = [sys.executable, "-m", "shoal", "serve", "--host", "127.0.0.1", "--port",
               str(self.port), "--data-dir", self.data_dir, "--workers", "1"]
        os.makedirs(self.data_dir, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                with open(self.log_path, "rb") as f:
                    raise SystemExit("shoal exited during startup:\n" + f.read().decode())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("shoal did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def log_path(self) -> str:
        return os.path.join(os.path.dirname(self.data_dir), "server.log")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        """The server process and all its descendants."""
        assert self.proc is not None
        todo, found = [self.proc.pid], []
        while todo:
            pid = todo.pop()
            found.append(pid)
            try:
                for tid in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{tid}/children") as f:
                        todo += [int(c) for c in f.read().split()]
            except OSError:
                continue
        return found

    def memory_kib(self) -> tuple[int, int]:
        """(sum of VmRSS, sum of VmHWM) over the server's processes, in KiB."""
        rss = hwm = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            rss += int(line.split()[1])
                        elif line.startswith("VmHWM:"):
                            hwm += int(line.split()[1])
            except OSError:
                continue
        return rss, hwm


# -- a minimal signed HTTP client (unsigned payload: the client never hashes the bodies) --------


class RawClient:
    def __init__(self, port: int) -> None:
        self.port = port
        self.creds = Credentials(ACCESS_KEY, SECRET_KEY)
        self.local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                                timeout=600)
        return conn

    def request(self, method: str, path: str, query: str, body: Iterator[bytes] | bytes,
                length: int) -> tuple[int, dict[str, str], bytes]:
        """One signed request; a small one is retried once on a connection the server closed
        while it sat idle (keep-alive timeout)."""
        try:
            return self._request(method, path, query, body, length)
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            self.local.conn.close()
            self.local.conn = None
            if not isinstance(body, bytes):
                raise
            return self._request(method, path, query, body, length)

    def _request(self, method: str, path: str, query: str, body: Iterator[bytes] | bytes,
                 length: int) -> tuple[int, dict[str, str], bytes]:
        host = f"127.0.0.1:{self.port}"
        req = AWSRequest(method=method, url=f"http://{host}{path}?{query}",
                         headers={"Host": host, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
        SigV4Auth(self.creds, "s3", "us-east-1").add_auth(req)
        conn = self._conn()
        conn.putrequest(method, f"{path}?{query}", skip_host=True, skip_accept_encoding=True)
        for name, value in req.headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(length))
        conn.endheaders()
        for block in [body] if isinstance(body, bytes) else body:
            conn.send(block)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()


def part_body(size: int, number: int, block: bytes) -> Iterator[bytes]:
    """``size`` bytes made of ``block`` repeated, the part number stamped on each copy."""
    sent = 0
    while sent < size:
        n = min(BLOCK, size - sent)
        yield number.to_bytes(4, "big") + block[4:n] if n > 4 else block[:n]
        sent += n


@dataclass
class CompleteRun:
    size: int
    parts: int
    upload_s: list[float] = field(default_factory=list)
    complete_s: list[float] = field(default_factory=list)


def _xml_value(doc: bytes, tag: str) -> str:
    text = doc.decode()
    start = text.index(f"<{tag}>") + len(tag) + 2
    return text[start:text.index(f"</{tag}>", start)]


def one_complete(client: RawClient, size: int, parts: int, block: bytes,
                 run: CompleteRun) -> None:
    """Upload ``size`` bytes as ``parts`` parts, time Complete, delete the object."""
    key = f"/{BUCKET}/object-{size}"
    status, _, doc = client.request("POST", key, "uploads", b"", 0)
    assert status == 200, doc
    upload_id = _xml_value(doc, "UploadId")
    base = size // parts
    sizes = [base] * (parts - 1) + [size - base * (parts - 1)]

    def put(n: int) -> str:
        st, hdrs, body = client.request("PUT", key, f"partNumber={n}&uploadId={upload_id}",
                                        part_body(sizes[n - 1], n, block), sizes[n - 1])
        assert st == 200, body
        return hdrs["etag"]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        etags = list(pool.map(put, range(1, parts + 1)))
    run.upload_s.append(time.perf_counter() - t0)
    xml = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
                  for n, e in enumerate(etags, start=1))
    body = f"<CompleteMultipartUpload>{xml}</CompleteMultipartUpload>".encode()
    status, _, doc = client.request("GET", key, f"uploadId={upload_id}", b"", 0)  # ListParts
    assert status == 200 and doc.count(b"<Part>") == parts, doc
    t0 = time.perf_counter()
    status, _, doc = client.request("POST", key, f"uploadId={upload_id}", body, len(body))
    run.complete_s.append(time.perf_counter() - t0)
    assert status == 200 and _xml_value(doc, "ETag").endswith(f"-{parts}&quot;"), doc
    status, hdrs, _ = client.request("HEAD", key, "", b"", 0)
    assert status == 200 and int(hdrs["content-length"]) == size
    status, _, doc = client.request("DELETE", key, "", b"", 0)
    assert status == 204, doc


def rss_during_upload(server: Server, size: int, workdir: str) -> dict[str, float]:
    """Upload a ``size`` file with boto3's TransferManager while sampling the server's RSS."""
    path = os.path.join(workdir, "rss-upload.bin")
    block = os.urandom(BLOCK)
    with open(path, "wb") as f:
        for i in range(0, size, BLOCK):
            f.write(block[: min(BLOCK, size - i)])
    s3 = boto3.client("s3", endpoint_url=server.endpoint, aws_access_key_id=ACCESS_KEY,
                      aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
                      config=BotoConfig(retries={"max_attempts": 1}))
    before, _ = server.memory_kib()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], server.memory_kib()[0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    config = TransferConfig(max_concurrency=8, multipart_threshold=BLOCK,
                            multipart_chunksize=BLOCK)
    t0 = time.perf_counter()
    try:
        s3.upload_file(path, BUCKET, "rss-object", Config=config)
    finally:
        elapsed = time.perf_counter() - t0
        done.set()
        sampler.join()
        os.unlink(path)
    _, hwm = server.memory_kib()
    assert s3.head_object(Bucket=BUCKET, Key="rss-object")["ContentLength"] == size
    s3.delete_object(Bucket=BUCKET, Key="rss-object")
    return {"before_mib": before / 1024, "peak_mib": peak[0] / 1024, "hwm_mib": hwm / 1024,
            "seconds": elapsed, "mib_s": size / MIB / elapsed}


# -- main ---------------------------------------------------------------------------------------


def check_disk(path: str, sizes: list[int], rss_size: int) -> None:
    need = max(max(sizes), 2 * rss_size) + 512 * MIB
    free = shutil.disk_usage(path).free
    print(f"disk: {human(free)} free under {path}, need about {human(need)}", flush=True)
    if free < need:
        raise SystemExit("not enough free disk space for these sizes")


def print_table(runs: list[CompleteRun], rss: dict[str, float], rss_size: int) -> None:
    print(f"\nCompleteMultipartUpload, {runs[0].parts} parts per object "
          f"(median of {len(runs[0].complete_s)}; min-max)")
    print(f"{'object size':>12} {'part size':>11} {'upload parts':>13} "
          f"{'complete':>10} {'min-max':>17}")
    for r in runs:
        med = statistics.median(r.complete_s) * 1000
        lo, hi = min(r.complete_s) * 1000, max(r.complete_s) * 1000
        up = statistics.median(r.upload_s)
        print(f"{human(r.size):>12} {human(r.size / r.parts):>11} {up:>11.2f} s "
              f"{med:>7.1f} ms {f'{lo:.1f}-{hi:.1f} ms':>17}")
    print(f"\nServer memory during a {human(rss_size)} upload "
          "(boto3 TransferManager, 8 threads, 8 MiB parts)")
    print(f"{'RSS before':>12} {'peak RSS':>10} {'VmHWM':>10} {'upload':>9} {'rate':>11}")
    print(f"{rss['before_mib']:>8.1f} MiB {rss['peak_mib']:>6.1f} MiB {rss['hwm_mib']:>6.1f} MiB "
          f"{rss['seconds']:>7.2f} s {rss['mib_s']:>6.0f} MiB/s")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Time CompleteMultipartUpload against object "
                                 "size and watch the server's memory during an upload.")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a CI smoke run")
    ap.add_argument("--sizes", help="comma-separated object sizes (default 64M,1G,4G)")
    ap.add_argument("--parts", type=int, default=12, help="parts per object (default 12)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="uploads completed (and timed) per size (default 1)")
    ap.add_argument("--rss-size", help="size of the upload watched for RSS (default 1G)")
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="where the data dir goes")
    ns = ap.parse_args(argv)
    sizes = [parse_size(s) for s in (ns.sizes or ("64M,128M" if ns.quick else "64M,1G,4G"))
             .split(",")]
    rss_size = parse_size(ns.rss_size or ("64M" if ns.quick else "1G"))
    if min(sizes) // ns.parts < MIN_PART:
        raise SystemExit(f"{human(min(sizes))} in {ns.parts} parts is below the 5 MiB minimum")
    check_disk(ns.dir, sizes, rss_size)
    workdir = tempfile.mkdtemp(prefix="shoal-mp-bench-", dir=ns.dir)
    server = Server(os.path.join(workdir, "data"))
    try:
        server.start()
        client = RawClient(server.port)
        status, _, doc = client.request("PUT", f"/{BUCKET}", "", b"", 0)
        assert status == 200, doc
        block = os.urandom(BLOCK)
        one_complete(client, ns.parts * MIN_PART, ns.parts, block, CompleteRun(0, ns.parts))
        runs = []
        for size in sizes:
            run = CompleteRun(size, ns.parts)
            for _ in range(ns.repeat):
                one_complete(client, size, ns.parts, block, run)
            runs.append(run)
            print(f"  {human(size)}: complete {statistics.median(run.complete_s) * 1000:.1f} ms",
                  flush=True)
        rss = rss_during_upload(server, rss_size, workdir)
        print_table(runs, rss, rss_size)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
