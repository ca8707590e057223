"""Print the hashing throughput (MB/s) of each algorithm and candidate library on this machine.

    .venv/bin/python benchmarks/hash_speed.py [--chunk-mib 1] [--seconds 0.3] [--threads 2]

Libraries that are not installed are skipped. ``--threads N`` also runs N threads at once to
show whether an implementation releases the GIL (scaling ~N means it does).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import random
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

from shoal.core import hashing

Fn = Callable[[bytes], object]


def _opt(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def candidates() -> list[tuple[str, str, Fn]]:
    """(algorithm, library, one-shot function) for every importable implementation."""
    out: list[tuple[str, str, Fn]] = [
        ("md5", "hashlib", lambda b: hashlib.md5(b).digest()),
        ("sha1", "hashlib", lambda b: hashlib.sha1(b).digest()),
        ("sha256", "hashlib", lambda b: hashlib.sha256(b).digest()),
        ("crc32", "zlib", zlib.crc32),
    ]
    if crt := _opt("awscrt.checksums"):
        out += [("crc32", "awscrt", crt.crc32), ("crc32c", "awscrt", crt.crc32c)]
        if hasattr(crt, "crc64nvme"):
            out.append(("crc64nvme", "awscrt", crt.crc64nvme))
    if fastcrc := _opt("fastcrc"):
        out += [
            ("crc32", "fastcrc", fastcrc.crc32.iso_hdlc),
            ("crc32c", "fastcrc", fastcrc.crc32.iscsi),
            ("crc64ecma", "fastcrc", fastcrc.crc64.xz),
        ]
    if crc32c := _opt("crc32c"):
        out.append(("crc32c", "crc32c", crc32c.crc32c))
    if anycrc := _opt("anycrc"):
        for algo, model in [
            ("crc32", "CRC32-ISO-HDLC"),
            ("crc32c", "CRC32-ISCSI"),
            ("crc64nvme", "CRC64-NVME"),
            ("crc64ecma", "CRC64-XZ"),
        ]:
            out.append((algo, "anycrc", anycrc.Model(model).calc))
    if crc64fast := _opt("crc64fast"):

        def nvme(b: bytes) -> bytes:
            d = crc64fast.crc64fast()
            d.update(b)
            return d.digest()

        out.append(("crc64nvme", "crc64fast", nvme))
    if crcmod := _opt("crcmod"):
        xz = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=(1 << 64) - 1, rev=True)
        out.append(("crc64ecma", "crcmod", xz))
    return out


def _loop(fn: Fn, buf: bytes, calls: int) -> None:
    for _ in range(calls):
        fn(buf)


def rate(fn: Fn, buf: bytes, seconds: float, threads: int = 1) -> float:
    """MB/s (10**6 bytes) of calling ``fn(buf)`` repeatedly in ``threads`` threads."""
    fn(buf)
    calls = max(1, int(seconds * 200e6 / len(buf)))  # rough first guess, then refine once
    for _ in range(2):
        start = time.perf_counter()
        workers = [threading.Thread(target=_loop, args=(fn, buf, calls)) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 2:
            break
        calls = max(calls + 1, int(calls * seconds / max(elapsed, 1e-6)))
    return threads * calls * len(buf) / elapsed / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunk-mib", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=0.3)
    ap.add_argument("--threads", type=int, default=0, help="also measure N concurrent threads")
    args = ap.parse_args()
    buf = os.urandom(int(args.chunk_mib * (1 << 20)))
    print(f"chunk {len(buf)} bytes, {os.cpu_count()} CPUs\n")

    print(
        f"{'algorithm':<10} {'library':<10} {'MB/s':>9}"
        + (f"  {args.threads} threads" if args.threads else "")
    )
    for algo, lib, fn in candidates():
        mark = " *" if lib == hashing.BACKENDS.get(algo, "hashlib") else ""
        line = f"{algo:<10} {lib:<10} {rate(fn, buf, args.seconds):9.0f}"
        if args.threads:
            line += f"  {rate(fn, buf, args.seconds, args.threads):9.0f}"
        print(line + mark)
    print("(* = used by shoal.core.hashing)\n")

    print("MultiHasher (shoal.core.hashing), one update per chunk:")
    for algos in (["md5", "crc32"], ["md5", "crc64ecma"], ["md5", "crc32", "crc64ecma"]):

        def multi(b: bytes, algos: list[str] = algos) -> None:
            hashing.MultiHasher(algos).update(b)

        print(f"  {'+'.join(algos):<24} {rate(multi, buf, args.seconds):9.0f} MB/s")

    rng = random.Random(0)
    for label, lengths in (
        ("equal 8 MiB parts", [8 << 20] * 10_000),
        ("random lengths", [rng.randrange(1, 5 << 30) for _ in range(10_000)]),
    ):
        parts = [(rng.getrandbits(64), n) for n in lengths]
        start = time.perf_counter()
        hashing.crc_combine_parts("crc64ecma", parts)
        ms = (time.perf_counter() - start) * 1e3
        print(f"crc_combine_parts crc64ecma, 10,000 {label}: {ms:.0f} ms")


if __name__ == "__main__":
    main()
