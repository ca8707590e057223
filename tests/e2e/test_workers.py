"""``shoal serve --workers N``: N forked servers on one socket, kept at N, gone with the parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from .conftest import make_client
from .server import LiveServer, own_server, remove, temp_data_dir


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            found |= {int(c) for c in f.read().split()}
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(check: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def server() -> Iterator[LiveServer]:
    with own_server(workers=2) as srv:
        yield srv


def running_workers(server: LiveServer) -> tuple[int, set[int]]:
    """The server's parent pid and its two workers, once both are up."""
    assert server.proc is not None
    parent = server.proc.pid
    wait_for(lambda: len(children(parent)) == 2)
    return parent, children(parent)


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads /proc")
def test_a_dead_worker_is_replaced_and_the_rest_follow_the_parent(server: LiveServer) -> None:
    parent, workers = running_workers(server)
    s3 = make_client(server.endpoint)
    s3.create_bucket(Bucket="workers")
    for i in range(10):  # both workers share the bucket cache epoch and the metadata
        s3.put_object(Bucket="workers", Key=f"k{i}", Body=b"x" * i)
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(children(parent)) == 2 and victim not in children(parent))
    for _ in range(10):  # still served, whichever worker answers
        assert s3.get_object(Bucket="workers", Key="k3")["Body"].read() == b"xxx"
    assert "exited (signal 9); starting another" in server.log()
    everyone = children(parent)
    server.stop(sig_kill=True)  # the parent only: its workers must not outlive it
    wait_for(lambda: not any(alive(p) for p in everyone))


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads /proc")
def test_sigterm_stops_every_worker_cleanly(server: LiveServer) -> None:
    _, workers = running_workers(server)
    assert server.proc is not None
    server.proc.terminate()
    assert server.proc.wait(timeout=30) == 0
    assert not any(alive(p) for p in workers)
    assert "Traceback" not in server.log()


def test_workers_that_cannot_start_stop_the_server() -> None:
    """A configuration every worker fails on (here: no metadata store there) ends the server
    with an error instead of restarting workers forever."""
    data = temp_data_dir()
    try:
        cmd = [sys.executable, "-m", "shoal", "serve", "--port", "0", "--workers", "2",
               "--data-dir", data, "--meta-dsn", "postgresql://nobody@127.0.0.1:1/none"]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                             env=dict(os.environ, SHOAL_LOG_LEVEL="warning"))
    finally:
        remove(data)
    assert run.returncode == 1
    assert "workers keep failing at start" in run.stderr
