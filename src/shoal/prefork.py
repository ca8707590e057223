"""Worker processes for ``shoal serve --workers N``: bind the port, fork N servers onto it.

The parent binds one listening socket per worker (SO_REUSEPORT: the kernel spreads new
connections evenly over them, where workers sharing one socket let whichever woke first take a
whole burst of connections) and forks the workers before it has imported the
server (it holds a few MiB, not a copy of everything the workers load), so N workers cost N
servers' memory and little more. It restarts a worker that dies, passes SIGTERM/SIGINT on to
all of them and waits for their graceful shutdown (SIGKILL after ``STOP_TIMEOUT_S``). Each
worker asks the kernel for SIGTERM when the parent dies, so a killed parent leaves no
orphaned workers behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
import time
from collections.abc import Callable

STOP_TIMEOUT_S = 30.0
POLL_S = 0.1
RESTART_PAUSE_S = 0.5  # between restarts of a worker that keeps dying
EARLY_S = 5.0  # a worker that fails sooner than this after its start failed to start
MAX_EARLY_FAILURES = 5  # in a row: then the server cannot start (bad config): give up
_PR_SET_PDEATHSIG = 1


def bind(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening sockets on host:port, one per worker; one shared socket where the
    system has no SO_REUSEPORT."""
    reuse_port = hasattr(socket, "SO_REUSEPORT")
    socks: list[socket.socket] = []
    for _ in range(count if reuse_port else 1):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        port = sock.getsockname()[1]  # port 0: the others take the one the first was given
        sock.listen(2048)
        socks.append(sock)
    return socks


def _die_with_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: workers then outlive a killed parent
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def run(workers: int, socks: list[socket.socket],
        worker: Callable[[socket.socket], None]) -> int:
    """Fork ``workers`` processes, worker i running ``worker(socks[i % len(socks)])`` (a
    replacement gets the socket of the worker it replaces, and the connections waiting on it);
    return 0 when all have stopped after SIGTERM or SIGINT, 1 when workers kept failing right
    after their start (MAX_EARLY_FAILURES in a row: the server cannot start)."""
    early_failures = 0
    parent = os.getpid()
    children: dict[int, tuple[int, float]] = {}  # pid -> (worker number, when it started)
    stopping: list[int] = []  # the signal that asked us to stop

    def start(number: int) -> None:
        sock = socks[number % len(socks)]
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _die_with_parent(parent)
                worker(sock)
                code = 0
            except BaseException:  # noqa: BLE001 - reported, then the process ends
                import traceback

                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        children[pid] = (number, time.monotonic())

    def on_signal(signum: int, _frame: object) -> None:
        if not stopping:
            stopping.append(signum)
        for pid in children:
            _kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for number in range(workers):
        start(number)
    deadline: float | None = None
    while children:
        if stopping and deadline is None:
            deadline = time.monotonic() + STOP_TIMEOUT_S
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:  # polled: a blocking wait would not notice the stop deadline
            if deadline is not None and time.monotonic() > deadline:
                for child in children:
                    _kill(child, signal.SIGKILL)
                deadline = time.monotonic() + STOP_TIMEOUT_S
            time.sleep(POLL_S)
            continue
        gone = children.pop(pid, None)
        if gone is None or stopping:
            continue
        lived = time.monotonic() - gone[1]
        early_failures = early_failures + 1 if lived < EARLY_S else 0
        if early_failures >= MAX_EARLY_FAILURES:
            print(f"shoal: workers keep failing at start ({_describe(status)}); stopping",
                  file=sys.stderr, flush=True)
            on_signal(signal.SIGTERM, None)
            stopping.append(-1)
            continue
        print(f"shoal: worker {pid} exited ({_describe(status)}); starting another",
              file=sys.stderr, flush=True)
        if lived < RESTART_PAUSE_S:
            time.sleep(RESTART_PAUSE_S)
        if not stopping:
            start(gone[0])
    for sock in socks:
        sock.close()
    return 1 if -1 in stopping else 0


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"status {os.waitstatus_to_exitcode(status)}"
