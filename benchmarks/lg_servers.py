"""The servers the load generator drives: Shoal, moto, the bare reference and the sink.

Each runs as its own process group on a free loopback port with its own data directory. The
load generator reads the group's memory and CPU time from /proc (never its own).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from lg_client import ACCESS_KEY, HOST, SECRET_KEY

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Kind:
    """What a server is and what the client may check against it."""

    name: str
    real_etags: bool  # ETags are the MD5 of the body (multipart: of the part MD5s)
    can_list: bool
    small_ops: bool = True


KINDS = {
    "shoal": Kind("shoal", True, True),
    "moto": Kind("moto", True, True),
    "ref": Kind("ref", False, False),
    "refmd5": Kind("refmd5", True, False),
    "sink": Kind("sink", False, True),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Target:
    """One running server (a process group)."""

    kind: Kind
    workdir: str
    label: str = ""  # as named on the command line ("shoal@2"); the kind's name by default
    workers: int | None = None  # shoal serve --workers; None: shoal's default
    big_size: int = 0
    list_keys: int = 0
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.label = self.label or self.kind.name

    @property
    def name(self) -> str:
        return self.kind.name

    def command(self) -> list[str]:
        py, port = sys.executable, str(self.port)
        if self.name.startswith("shoal"):
            cmd = [py, "-m", "shoal", "serve", "--host", HOST, "--port", port,
                   "--data-dir", os.path.join(self.workdir, "data")]
            return cmd + (["--workers", str(self.workers)] if self.workers else [])
        if self.name == "moto":
            return [py, "-m", "moto.server", "-H", HOST, "-p", port]
        mode = {"ref": "files", "refmd5": "filesmd5"}.get(self.name, "sink")
        return [py, str(HERE / "refserver.py"), mode, "--port", port, "--dir",
                os.path.join(self.workdir, "data"), "--big-size", str(self.big_size),
                "--list-keys", str(self.list_keys)]

    def start(self, timeout: float = 60.0) -> None:
        os.makedirs(os.path.join(self.workdir, "data"), exist_ok=True)
        env = dict(os.environ, SHOAL_ACCESS_KEY=ACCESS_KEY, SHOAL_SECRET_KEY=SECRET_KEY,
                   SHOAL_LOG_LEVEL="warning")
        log = open(os.path.join(self.workdir, "server.log"), "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(self.command(), env=env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited during startup:\n{self.log()}")
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start within {timeout} s")

    def log(self) -> str:
        try:
            return Path(self.workdir, "server.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        with _suppress():
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with _suppress():
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    # -- what the server uses ---------------------------------------------------------------
    def pids(self) -> list[int]:
        """The server process and its descendants."""
        assert self.proc is not None
        todo, found = [self.proc.pid], []
        while todo:
            pid = todo.pop()
            found.append(pid)
            with _suppress():
                for tid in os.listdir(f"/proc/{pid}/task"):
                    todo += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children")
                             .read_text().split()]
        return found

    def memory_kib(self) -> tuple[int, int]:
        """(sum of VmRSS, sum of VmHWM) over the server's processes."""
        rss = hwm = 0
        for pid in self.pids():
            with _suppress():
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        hwm += int(line.split()[1])
        return rss, hwm

    def reset_peak(self) -> None:
        """Reset VmHWM to the current RSS (``clear_refs`` 5) in each server process."""
        for pid in self.pids():
            with _suppress(), open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server's processes (all their threads)."""
        total = 0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in self.pids():
            with _suppress():
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                total += int(fields[11]) + int(fields[12])
        return total / tick


class _suppress:
    """contextlib.suppress for the OS errors of processes that come and go."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], (OSError, ValueError))  # type: ignore[arg-type]


class PeakSampler:
    """Samples a target's RSS every ``interval`` s in a thread; ``peak_mib`` when stopped."""

    def __init__(self, target: Target, interval: float = 0.02) -> None:
        self.target, self.interval = target, interval
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self.target.reset_peak()
        self.before = self.target.memory_kib()[0]
        self.peak = self.before
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            self.peak = max(self.peak, self.target.memory_kib()[0])

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        rss, hwm = self.target.memory_kib()
        self.peak = max(self.peak, rss, hwm)

    @property
    def peak_mib(self) -> float:
        return self.peak / 1024


def make_workdir(base: str, name: str) -> str:
    return tempfile.mkdtemp(prefix=f"loadgen-{name}-", dir=base)


def remove(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
