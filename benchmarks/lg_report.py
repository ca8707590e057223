"""The load generator's report: the machine's own figures, the comparison table, the targets."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import threading
import time
from typing import Any

from lg_client import GIB, MIB, Pattern
from lg_workloads import Setup


def human(n: float) -> str:
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{int(n)} B"


def loadavg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


# -- the machine -------------------------------------------------------------------------------


def _mount(path: str) -> str:
    best, desc = "", "?"
    real = os.path.realpath(path)
    with open("/proc/mounts") as f:
        for line in f:
            dev, mnt, fstype, opts = line.split()[:4]
            if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, desc = mnt, f"{dev} {fstype} ({opts.split(',')[0]})"
    return desc


def _disk_write(path: str, total: int) -> float:
    """MiB/s writing ``total`` bytes then fdatasync."""
    data = Pattern().at(0, 16 * MIB)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        t0 = time.perf_counter()
        for _ in range(total // len(data)):
            os.write(fd, data)
        os.fdatasync(fd)
        return total / MIB / (time.perf_counter() - t0)
    finally:
        os.close(fd)
        os.unlink(path)


def _fsync_ms(path: str, n: int = 200) -> tuple[float, float]:
    """(p50, p99) ms of a 4 KiB write + fdatasync, appended to one file."""
    block, times = os.urandom(4096), []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            os.write(fd, block)
            os.fdatasync(fd)
            times.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        os.unlink(path)
    times.sort()
    return times[n // 2] * 1000, times[int(n * 0.99)] * 1000


def _loopback(total: int) -> float:
    """MiB/s through one TCP connection over 127.0.0.1 (sender and receiver threads)."""
    lsock = socket.create_server(("127.0.0.1", 0))
    port = lsock.getsockname()[1]
    block = memoryview(Pattern().at(0, 4 * MIB))

    def send() -> None:
        with socket.create_connection(("127.0.0.1", port)) as s:
            for _ in range(total // len(block)):
                s.sendall(block)

    sender = threading.Thread(target=send)
    sender.start()
    conn, _ = lsock.accept()
    buf = bytearray(4 * MIB)
    got, t0 = 0, time.perf_counter()
    while got < total:
        n = conn.recv_into(buf, len(buf), socket.MSG_WAITALL)
        if not n:
            break
        got += n
    elapsed = time.perf_counter() - t0
    sender.join()
    conn.close()
    lsock.close()
    return got / MIB / elapsed


def machine_facts(workdir: str, smoke: bool) -> dict[str, str]:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    p50, p99 = _fsync_ms(os.path.join(workdir, "fsync-probe"), 50 if smoke else 200)
    write = _disk_write(os.path.join(workdir, "write-probe"), (16 if smoke else 512) * MIB)
    loop = _loopback((64 if smoke else 2048) * MIB)
    return {
        "cores": f"{os.cpu_count()} ({model})",
        "disk": f"{_mount(workdir)}, {shutil.disk_usage(workdir).free / GIB:.0f} GiB free",
        "disk write + fdatasync": f"{write:.0f} MiB/s",
        "4 KiB write + fdatasync": f"p50 {p50:.2f} ms, p99 {p99:.2f} ms",
        "loopback TCP, one connection": f"{loop:.0f} MiB/s",
        "load before": loadavg(),
    }


# -- the tables --------------------------------------------------------------------------------


def metrics(s: Setup) -> list[tuple[str, str, str]]:
    """(key, label, better) in table order."""
    big, part, small = human(s.size), human(s.part), human(s.small_size)
    rows = [
        ("upload_mib_s", f"{big} multipart upload, {part} parts x{s.inflight}, MiB/s", "higher"),
        ("complete_big_ms", f"Complete of {big} ({-(-s.size // s.part)} parts), ms", "lower"),
        ("peak_rss_mib", f"server peak RSS during the {big} upload, MiB", "lower"),
        ("get_mib_s", f"GET {big} whole, one connection, MiB/s", "higher"),
        ("get_range_mib_s", f"GET {big} as {part} ranges x{s.inflight}, MiB/s", "higher"),
    ]
    for op in ("put", "get", "head", "delete"):
        name = f"{op.upper()} {small}" if op in ("put", "get") else op.upper()
        rows += [(f"{op}_ops", f"{name} x{s.small_inflight}, ops/s", "higher"),
                 (f"{op}_p50_ms", f"{name} p50 ms", "lower"),
                 (f"{op}_p99_ms", f"{name} p99 ms", "lower")]
    rows += [
        ("list_pages_s", f"ListObjectsV2, {s.page_keys} keys a page of {s.list_keys}, "
         "pages/s", "higher"),
        ("upload_server_cpu_s_gib", "server CPU s per GiB uploaded", "lower"),
        ("get_server_cpu_s_gib", "server CPU s per GiB read (whole GET)", "lower"),
        ("get_range_server_cpu_s_gib", "server CPU s per GiB read (ranged GETs)", "lower"),
        ("upload_client_cpu_s_gib", "client CPU s per GiB uploaded", "lower"),
        ("get_client_cpu_s_gib", "client CPU s per GiB read (whole GET)", "lower"),
        ("get_range_client_cpu_s_gib", "client CPU s per GiB read (ranged GETs)", "lower"),
        ("put_server_cpu_us", f"server CPU µs per {small} PUT", "lower"),
        ("get_server_cpu_us", f"server CPU µs per {small} GET", "lower"),
        ("put_client_cpu_us", f"client CPU µs per {small} PUT", "lower"),
        ("get_client_cpu_us", f"client CPU µs per {small} GET", "lower"),
    ]
    return rows


def fmt(v: float | None) -> str:
    if v is None:
        return "–"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or not b else f"{a / b:.2f}"


PEERS = ("moto", "ref", "refmd5")


def baseline(names: list[str]) -> str | None:
    """The Shoal the ratios are taken for: the first one named."""
    return next((n for n in names if n.partition("@")[0] == "shoal"), None)


def print_table(names: list[str], medians: dict[str, dict[str, float]], s: Setup) -> None:
    first = baseline(names)
    peers = [n for n in PEERS if n in names and first is not None]
    head = ["metric", *names] + [f"{first}/{p}" for p in peers]
    print("| " + " | ".join(head) + " |")
    print("| --- " + "| ---: " * (len(head) - 1) + "|")
    for key, label, _ in metrics(s):
        vals = [medians.get(n, {}).get(key) for n in names]
        if all(v is None for v in vals):
            continue
        shoal = medians.get(first or "", {}).get(key)
        ratios = [_ratio(shoal, medians.get(p, {}).get(key)) for p in peers]
        print("| " + " | ".join([label, *map(fmt, vals), *ratios]) + " |")


def print_complete(complete: dict[str, float], s: Setup) -> None:
    if not complete:
        return
    print(f"\nComplete against object size (shoal, {s.complete_parts} parts per object, "
          f"median of {s.complete_repeat})\n")
    print("| object size | part size | Complete ms |\n| ---: | ---: | ---: |")
    for size in s.complete_sizes:
        print(f"| {human(size)} | {human(-(-size // s.complete_parts))} | "
              f"{fmt(complete[f'complete_ms_{size}'])} |")


def targets(m: dict[str, dict[str, float]], complete: dict[str, float],
            first: str | None) -> list[tuple[str, str, bool | None]]:
    """(target, what was measured, met?) for the issue's targets; None when not measured."""
    sh, moto, ref = m.get(first or "", {}), m.get("moto", {}), m.get("ref", {})

    def ratio(key: str, peer: dict[str, float], want: float) -> tuple[str, bool | None]:
        if key not in sh or not peer.get(key):
            return "not measured", None
        r = sh[key] / peer[key]
        return f"{r:.2f}x", r >= want

    rows: list[tuple[str, str, bool | None]] = []
    for label, key, peer, want in (
        ("upload >= 0.8x ref", "upload_mib_s", ref, 0.8),
        ("upload >= 3x moto", "upload_mib_s", moto, 3.0),
        ("GET whole >= 0.8x ref", "get_mib_s", ref, 0.8),
        ("GET ranged >= 0.8x ref", "get_range_mib_s", ref, 0.8),
        ("PUT small >= 5x moto", "put_ops", moto, 5.0),
        ("GET small >= 5x moto", "get_ops", moto, 5.0),
    ):
        rows.append((label, *ratio(key, peer, want)))
    for label, key, limit, above in (
        ("Complete of the large object < 50 ms", "complete_big_ms", 50.0, False),
        ("peak RSS during the upload < 200 MiB", "peak_rss_mib", 200.0, False),
        ("PUT small p99 < 20 ms", "put_p99_ms", 20.0, False),
        ("ListObjectsV2 >= 200 pages/s", "list_pages_s", 200.0, True),
    ):
        v = sh.get(key)
        rows.append((label, "not measured" if v is None else fmt(v),
                     None if v is None else (v >= limit if above else v < limit)))
    if complete:
        vals = list(complete.values())
        flat = max(vals) < 50 and max(vals) <= 3 * min(vals) + 5
        rows.append(("Complete flat over the sizes, all < 50 ms",
                     f"{fmt(min(vals))}-{fmt(max(vals))} ms", flat))
    return rows


def print_all(ns: argparse.Namespace, s: Setup, machine: dict[str, str], names: list[str],
              medians: dict[str, dict[str, float]], complete: dict[str, Any]) -> None:
    print(f"\nMachine and run ({ns.rounds} rounds, medians; shoal --workers "
          f"{ns.workers or 'default'}, shoal@N: N workers; ratios for {baseline(names)})\n")
    for k, v in machine.items():
        print(f"- {k}: {v}")
    print()
    print_table(names, medians, s)
    print_complete(complete, s)
    print("\nTargets\n\n| target | measured | met |\n| --- | ---: | --- |")
    for label, value, ok in targets(medians, complete, baseline(names)):
        print(f"| {label} | {value} | {'–' if ok is None else 'yes' if ok else 'NO'} |")
