"""Print the MD5 throughput of shoal._md5x (multi-buffer MD5) against hashlib on one core.

    .venv/bin/python benchmarks/md5x_speed.py [--mib-per-job 16] [--chunk-mib 1] [--repeat 5]

hashlib.md5 hashes one stream; ``_md5x.update`` hashes 1, 2, 4 and 8 jobs (each ``--mib-per-job``
MiB given as ``--chunk-mib`` MiB buffers) in one call, and the aggregate MiB/s over all jobs is
compared with hashlib's single stream. The scalar backend (SHOAL_MD5X_SCALAR=1) is measured in a
subprocess when the default backend is not already scalar. Each figure is the best of
``--repeat`` runs, all measured in the same run (ratios are what count on a shared machine).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable

MIB = 1 << 20
JOB_COUNTS = (1, 2, 4, 8)


def best_seconds(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def hashlib_speed(chunks: list[bytes], repeat: int) -> float:
    """MiB/s of hashlib.md5 fed ``chunks`` as one stream."""

    def run() -> None:
        h = hashlib.md5()
        for c in chunks:
            h.update(c)
        h.digest()

    return sum(map(len, chunks)) / MIB / best_seconds(run, repeat)


def md5x_speeds(chunks: list[bytes], repeat: int) -> dict[str, object]:
    """Backend, lanes and aggregate MiB/s of one _md5x.update call per job count."""
    from shoal import _md5x

    # Each job gets its own copies so that no two lanes read the same memory.
    per_job = [[bytes(c) for c in chunks] for _ in range(max(JOB_COUNTS))]
    speeds: dict[str, float] = {}
    for n in JOB_COUNTS:

        def run(n: int = n) -> None:
            jobs = [(_md5x.new(), per_job[i]) for i in range(n)]
            _md5x.update(jobs)
            for state, _ in jobs:
                _md5x.digest(state)

        speeds[str(n)] = n * sum(map(len, chunks)) / MIB / best_seconds(run, repeat)
    return {"backend": _md5x.BACKEND, "lanes": _md5x.LANES, "speeds": speeds}


def make_chunks(mib_per_job: int, chunk_mib: int) -> list[bytes]:
    data = os.urandom(chunk_mib * MIB)
    return [data] * (mib_per_job // chunk_mib)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib-per-job", type=int, default=16)
    ap.add_argument("--chunk-mib", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print the _md5x figures as JSON only")
    args = ap.parse_args()
    chunks = make_chunks(args.mib_per_job, args.chunk_mib)

    try:
        from shoal import _md5x
    except ImportError as exc:
        sys.exit(f"shoal._md5x is not built: {exc}")

    if args.json:
        print(json.dumps(md5x_speeds(chunks, args.repeat)))
        return

    base = hashlib_speed(chunks, args.repeat)
    results = [md5x_speeds(chunks, args.repeat)]
    if _md5x.BACKEND != "scalar":
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--json",
                "--repeat",
                str(args.repeat),
                "--mib-per-job",
                str(args.mib_per_job),
                "--chunk-mib",
                str(args.chunk_mib),
            ],
            env={**os.environ, "SHOAL_MD5X_SCALAR": "1"},
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(out.stdout))
    base_again = hashlib_speed(chunks, args.repeat)  # drift check on a shared machine

    print(f"{args.mib_per_job} MiB per job in {args.chunk_mib} MiB buffers, best of {args.repeat}")
    print(f"hashlib.md5, one stream: {base:8.0f} MiB/s  (again at the end: {base_again:.0f})")
    base = max(base, base_again)
    for res in results:
        speeds = res["speeds"]
        assert isinstance(speeds, dict)
        print(f"_md5x backend={res['backend']} lanes={res['lanes']}:")
        for n, mibs in speeds.items():
            print(f"  {n:>2} job(s): {mibs:8.0f} MiB/s aggregate  {mibs / base:5.2f}x hashlib")


if __name__ == "__main__":
    main()
