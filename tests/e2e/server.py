"""Start a real `shoal serve` process on a free loopback port for end-to-end tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests

ACCESS_KEY = "e2e-access-key"
SECRET_KEY = "e2e-secret-key-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    data_dir: str
    port: int = field(default_factory=free_port)
    workers: int = 1
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    log_path: str = ""

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        env = dict(os.environ)
        env.update({"SHOAL_ACCESS_KEY": ACCESS_KEY, "SHOAL_SECRET_KEY": SECRET_KEY,
                    "SHOAL_LOG_LEVEL": "warning"})
        env.update(self.env)
        cmd = [sys.executable, "-m", "shoal", "serve", "--host", "127.0.0.1",
               "--port", str(self.port), "--data-dir", self.data_dir,
               "--workers", str(self.workers), *self.extra_args]
        self.log_path = os.path.join(tempfile.gettempdir(), f"shoal-e2e-{self.port}.log")
        log = open(self.log_path, "wb")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"shoal exited early:\n{self.log()}")
            try:
                requests.get(self.endpoint + "/", timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"shoal did not start:\n{self.log()}")

    def log(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-5000:]
        except OSError:
            return ""

    def stop(self, sig_kill: bool = False) -> None:
        if self.proc is None:
            return
        if sig_kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


# The KMS key id of the seed documents' SSE-KMS examples (a key Shoal must know to accept them).
SEED_KMS_KEY_ID = "48ba38aa-26c5-11ea-855c-52540085****"


def kms_create(data_dir: str, key_id: str) -> None:
    """Create a named KMS key with the admin CLI, as an operator would."""
    env = dict(os.environ, SHOAL_ACCESS_KEY=ACCESS_KEY, SHOAL_SECRET_KEY=SECRET_KEY)
    subprocess.run([sys.executable, "-m", "shoal", "kms", "create", "--id", key_id,
                    "--data-dir", data_dir], check=True, env=env, capture_output=True)


def temp_data_dir() -> str:
    return tempfile.mkdtemp(prefix="shoal-e2e-")


def remove(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


@contextmanager
def own_server(workers: int = 1) -> Iterator[LiveServer]:
    """A running Shoal on a fresh data dir of its own; stopped and removed on exit."""
    srv = LiveServer(data_dir=temp_data_dir(), workers=workers)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        remove(srv.data_dir)


@contextmanager
def seeded_server(extra_args: list[str], workers: int = 1) -> Iterator[LiveServer]:
    """A running Shoal on a fresh data dir with the seed KMS key; removed on exit (the
    session-wide servers of the S3 and COS suites)."""
    data = temp_data_dir()
    srv = LiveServer(data_dir=data, workers=workers, extra_args=extra_args)
    srv.start()
    kms_create(data, SEED_KMS_KEY_ID)
    try:
        yield srv
    finally:
        srv.stop()
        remove(data)
