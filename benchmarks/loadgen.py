"""Load generator: Shoal against its Python peers, on this machine, in one run.

    .venv/bin/python benchmarks/loadgen.py                      # shoal, moto, ref, sink; 2 rounds
    .venv/bin/python benchmarks/loadgen.py --servers shoal      # Shoal alone
    .venv/bin/python benchmarks/loadgen.py --smoke              # tiny sizes, a few seconds (CI)

Servers (each its own process group, free loopback port, temporary data dir):

* ``shoal``: ``shoal serve`` with ``--workers`` (default: what ``shoal serve`` defaults to);
* ``moto``: moto's server (``moto[server]``), the Python peer;
* ``ref``: ``refserver.py files``, a bare Python server that writes bodies to fsynced files and
  sends them with sendfile: the practical limit for Python on this box;
* ``sink``: ``refserver.py sink``, answers from memory: the load generator's own ceiling.

Workloads, the same for every server, run round by round (A B C D A B C D ...): 1. a large
multipart upload (1 GiB in 16 MiB parts, 8 in flight) with the server's peak RSS; 2. GET of that
object whole, then in 16 MiB ranges 8 in flight; 3. 4 KiB PUT, GET, HEAD, DELETE with 32 in
flight; 4. ListObjectsV2 pages over 10,000 keys, 1000 a page. After the rounds: 5. Complete
latency against object size (Shoal only; the parts per object held constant). Figures are
medians over the rounds; ratios are Shoal / peer within this run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lg_report  # noqa: E402
import lg_workloads as w  # noqa: E402
from lg_client import GIB, MIB, Pattern  # noqa: E402
from lg_servers import KINDS, Target, make_workdir, remove  # noqa: E402

UNITS = {"K": 1024, "M": MIB, "G": GIB}


def parse_size(text: str) -> int:
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text and text[-1] in UNITS:
        return int(float(text[:-1]) * UNITS[text[-1]])
    return int(text)


def setup_from(ns: argparse.Namespace) -> w.Setup:
    if ns.smoke:
        return w.Setup(size=24 * MIB, part=8 * MIB, inflight=2, small_keys=64, small_size=4096,
                       small_inflight=8, list_keys=250, page_keys=100, list_passes=1,
                       complete_sizes=[10 * MIB, 20 * MIB], complete_parts=2,
                       complete_repeat=1)
    return w.Setup(
        size=parse_size(ns.size), part=parse_size(ns.part), inflight=ns.inflight,
        small_keys=ns.small_keys, small_size=parse_size(ns.small_size),
        small_inflight=ns.small_inflight, list_keys=ns.list_keys, page_keys=ns.page_keys,
        list_passes=ns.list_passes,
        complete_sizes=[parse_size(x) for x in ns.complete_sizes.split(",") if x],
        complete_parts=ns.complete_parts, complete_repeat=ns.complete_repeat)


def disk_needed(s: w.Setup, names: list[str]) -> int:
    copies = sum(1 for n in names if n != "sink")
    return s.size * copies + max(s.complete_sizes or [0]) + 512 * MIB


def parse_servers(text: str, default_workers: int | None) -> list[tuple[str, str, int | None]]:
    """``shoal,shoal@2,moto`` -> [(label, kind, workers)]; ``@N`` sets shoal's --workers."""
    out = []
    for label in (x.strip() for x in text.split(",")):
        if not label:
            continue
        kind, _, n = label.partition("@")
        if kind not in KINDS or (n and (not kind.startswith("shoal") or not n.isdigit())):
            raise SystemExit(f"unknown server {label!r} (choose from {', '.join(KINDS)}; "
                             "shoal@N for N workers)")
        out.append((label, kind, int(n) if n else default_workers))
    if len({label for label, _, _ in out}) != len(out):
        raise SystemExit("each server may be named once")
    return out


WORKLOADS = ("upload", "get", "small", "list", "complete")


def one_round(clients: dict[str, w.Client], s: w.Setup, todo: set[str],
              results: dict[str, dict[str, list[float]]]) -> None:
    for name, c in clients.items():
        t0 = time.perf_counter()
        got: dict[str, float] = {}
        if "upload" in todo or "get" in todo:
            drop_page_cache()
            got |= w.upload_big(c, s)
            if "get" in todo:
                got |= w.get_big(c, s)
            w.delete_big(c)
        if "small" in todo:
            got |= w.small_ops(c, s)
        if "list" in todo and c.target.kind.can_list:
            got |= w.list_pages(c, s)
        for k, v in got.items():
            results[name][k].append(v)
        print(f"  {name:<6} {time.perf_counter() - t0:6.1f} s  " + _summary(got), flush=True)


def drop_page_cache() -> bool:
    """Write dirty pages back and drop the clean page cache (root only; False otherwise).

    Done before each server's large upload. On a virtual machine, the kernel's copy of written
    bytes into page-cache pages costs several times more when the pages come from memory the
    guest never touched than when they are recycled ones: without this, which server met
    which kind of memory depended on the order of the run (up to 4x the CPU per GiB for the
    same server, measured in one run)."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
        return True
    except OSError:
        return False


def _summary(got: dict[str, float]) -> str:
    parts = [f"{label} {got[key]:.{digits}f}{unit}" for key, label, unit, digits in (
        ("upload_mib_s", "upload", " MiB/s", 0), ("get_mib_s", "GET", " MiB/s", 0),
        ("get_range_mib_s", "ranged", " MiB/s", 0), ("put_ops", "PUT", "/s", 0),
        ("put_p99_ms", "p99", " ms", 1), ("get_ops", "GET", "/s", 0),
        ("list_pages_s", "list", " pages/s", 0)) if key in got]
    return ", ".join(parts)


def run(ns: argparse.Namespace) -> None:
    s = setup_from(ns)
    servers = parse_servers(ns.servers, ns.workers)
    names = [label for label, _, _ in servers]
    todo = {x.strip() for x in ns.workloads.split(",") if x.strip()}
    if todo - set(WORKLOADS):
        raise SystemExit(f"unknown workloads {todo - set(WORKLOADS)} (from {WORKLOADS})")
    need, free = disk_needed(s, names), shutil.disk_usage(ns.dir).free
    print(f"disk: {free / GIB:.1f} GiB free under {ns.dir}, need about {need / GIB:.1f} GiB")
    if free < need:
        raise SystemExit("not enough free disk space for these sizes")
    base = make_workdir(ns.dir, "run")
    targets: list[Target] = []
    try:
        machine = lg_report.machine_facts(base, smoke=ns.smoke)
        pattern = Pattern()
        clients: dict[str, w.Client] = {}
        for label, kind, workers in servers:
            t = Target(KINDS[kind], make_workdir(base, kind), label=label, workers=workers,
                       big_size=s.size, list_keys=s.list_keys)
            targets.append(t)
            t.start()
            c = clients[label] = w.Client(t, pattern)
            w.create_bucket(c)
            if "list" in todo and t.kind.can_list and kind != "sink":
                w.populate_list(c, s)
        print("started: " + ", ".join(f"{t.label} (port {t.port})" for t in targets), flush=True)
        results: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for r in range(ns.rounds):
            print(f"round {r + 1} of {ns.rounds}", flush=True)
            one_round(clients, s, todo, results)
        complete: dict[str, float] = {}
        first = lg_report.baseline(names)
        if "complete" in todo and first is not None and s.complete_sizes:
            print(f"Complete against object size ({first})", flush=True)
            complete = w.complete_vs_size(clients[first], s)
        machine["load after"] = lg_report.loadavg()
        medians = {n: {k: statistics.median(v) for k, v in m.items()} for n, m in results.items()}
        lg_report.print_all(ns, s, machine, names, medians, complete)
    finally:
        for t in targets:
            t.stop()
        remove(base)


def _arm(limit: float) -> None:
    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"loadgen: time limit of {limit:.0f} s reached")

    signal.signal(signal.SIGALRM, expired)
    signal.alarm(int(limit))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Shoal load generator and peer comparison.")
    arg: Callable[..., Any] = ap.add_argument
    arg("--smoke", action="store_true", help="tiny sizes, one round (CI): proves it works")
    arg("--servers", default="shoal,moto,ref,refmd5,sink",
        help="comma list of shoal (shoal@N: N workers), moto, ref, refmd5, sink")
    arg("--workloads", default=",".join(WORKLOADS), help="comma list of " + ",".join(WORKLOADS))
    arg("--rounds", type=int, help="rounds over all servers (default 2; smoke 1)")
    arg("--workers", type=int, help="shoal serve --workers (default: shoal's own default)")
    arg("--size", default="1G", help="large object size (default 1G)")
    arg("--part", default="16M", help="part size and range size (default 16M)")
    arg("--inflight", type=int, default=8, help="parts / ranges in flight (default 8)")
    arg("--small-keys", type=int, default=2000, help="small objects per phase (default 2000)")
    arg("--small-size", default="4K", help="small object size (default 4K)")
    arg("--small-inflight", type=int, default=32, help="small requests in flight (default 32)")
    arg("--list-keys", type=int, default=10000, help="keys listed (default 10000)")
    arg("--page-keys", type=int, default=1000, help="keys per ListObjectsV2 page")
    arg("--list-passes", type=int, default=5, help="walks over all keys per round (default 5)")
    arg("--complete-sizes", default="64M,1G,4G", help="Complete vs size, Shoal only ('' skips)")
    arg("--complete-parts", type=int, default=8, help="parts per object for Complete vs size")
    arg("--complete-repeat", type=int, default=3, help="Completes timed per size (default 3)")
    arg("--dir", default=os.environ.get("TMPDIR", "/tmp"), help="where data dirs go")
    arg("--time-limit", type=float, help="abort after this many seconds (default 1800; smoke 120)")
    ns = ap.parse_args(argv)
    ns.rounds = ns.rounds or (1 if ns.smoke else 2)
    ns.time_limit = ns.time_limit or (120.0 if ns.smoke else 1800.0)
    _arm(ns.time_limit)
    try:
        run(ns)
    finally:
        signal.alarm(0)


if __name__ == "__main__":
    main()
