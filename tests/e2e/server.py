"""Start a real `shoal serve` process on a free loopback port for end-to-end tests, and run the
admin CLI (``shoal user|kms|fsck``) on a data dir beside it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ACCESS_KEY = "e2e-access-key"
SECRET_KEY = "e2e-secret-key-0123456789"
# What the session-wide COS server runs with (a COS base domain beside the S3 one).
COS_SERVE_ARGS = ["--cos-domain", "cos.local", "--domain", "localhost", "--allow-insecure-ssec"]


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
    log_path: str = ""  # default: shoal-e2e-<port>.log in the temp dir

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The command line that runs the server (a subclass may wrap it)."""
        return [sys.executable, "-m", "shoal", "serve", "--host", "127.0.0.1",
                "--port", str(self.port), "--data-dir", self.data_dir,
                "--workers", str(self.workers), *self.extra_args]

    def start(self, timeout: float = 30.0) -> None:
        env = dict(os.environ)
        env.update({"SHOAL_ACCESS_KEY": ACCESS_KEY, "SHOAL_SECRET_KEY": SECRET_KEY,
                    "SHOAL_LOG_LEVEL": "warning"})
        env.update(self.env)
        if not self.log_path:
            self.log_path = os.path.join(tempfile.gettempdir(), f"shoal-e2e-{self.port}.log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.command(), env=env, stdout=log,
                                         stderr=subprocess.STDOUT)
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


def temp_data_dir() -> str:
    return tempfile.mkdtemp(prefix="shoal-e2e-")


def remove(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


@contextmanager
def serving(srv: LiveServer) -> Iterator[LiveServer]:
    """``srv`` started; stopped and its data dir removed on exit."""
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()
        remove(srv.data_dir)


def own_server(workers: int = 1, extra_args: Sequence[str] = (),
               env: dict[str, str] | None = None) -> AbstractContextManager[LiveServer]:
    """A running Shoal on a fresh data dir of its own; stopped and removed on exit."""
    return serving(LiveServer(data_dir=temp_data_dir(), workers=workers,
                              extra_args=list(extra_args), env=dict(env or {})))


def with_sitecustomize(hooks: Path, code: str) -> dict[str, str]:
    """Write ``code`` as ``hooks/sitecustomize.py``: the environment (PYTHONPATH) under which a
    server runs it at start-up (to inject faults or delays into the server process)."""
    (hooks / "sitecustomize.py").write_text(code)
    path = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": f"{hooks}{os.pathsep}{path}" if path else str(hooks)}


# -- the admin CLI ----------------------------------------------------------------------------
def shoal_cli(data_dir: str, *args: str, ok: bool = True) -> Any:
    """Run ``shoal ARGS --data-dir DIR --json`` as an operator would (the server's root keys in
    the environment); its parsed JSON output. It must succeed, or with ``ok=False`` fail."""
    env = dict(os.environ, SHOAL_ACCESS_KEY=ACCESS_KEY, SHOAL_SECRET_KEY=SECRET_KEY)
    cmd = [sys.executable, "-m", "shoal", *args, "--data-dir", data_dir, "--json"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode == 0) == ok, done.stdout + done.stderr
    return json.loads(done.stdout)


# The KMS key id of the seed documents' SSE-KMS examples (a key Shoal must know to accept them).
SEED_KMS_KEY_ID = "48ba38aa-26c5-11ea-855c-52540085****"


def kms_create(data_dir: str, key_id: str | None = None) -> str:
    """Create a KMS key (named ``key_id``, else with a generated id) with the admin CLI; its
    id."""
    named = ["--id", key_id] if key_id else []
    return str(shoal_cli(data_dir, "kms", "create", *named)["key_id"])


@contextmanager
def seeded_server(extra_args: Sequence[str], workers: int = 1) -> Iterator[LiveServer]:
    """A running Shoal on a fresh data dir with the seed KMS key; removed on exit (the
    session-wide servers of the S3 and COS suites)."""
    with own_server(workers, extra_args) as srv:
        kms_create(srv.data_dir, SEED_KMS_KEY_ID)
        yield srv


def fsck(data_dir: str, *args: str, prefix: Sequence[str] = (),
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``shoal fsck`` on the data dir (``prefix``: a command to run it under, e.g. nsenter)."""
    cmd = [*prefix, sys.executable, "-m", "shoal", "fsck", "--data-dir", data_dir, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def fsck_clean(data_dir: str, prefix: Sequence[str] = ()) -> None:
    """``shoal fsck --grace 0`` finds nothing wrong: no orphan blob, no temp file."""
    run = fsck(data_dir, "--grace", "0", prefix=prefix)
    assert run.returncode == 0 and "clean: no problems found" in run.stdout, \
        run.stdout + run.stderr


def files_containing(root: str, needles: list[bytes]) -> list[str]:
    """``path: needle`` for each needle found in each file under ``root``."""
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                content = f.read()
            found += [f"{path}: {n[:40]!r}" for n in needles if n in content]
    return found
