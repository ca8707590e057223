"""The load generator (benchmarks/loadgen.py) runs end to end in its smoke mode.

Tiny sizes and one round against every server it knows (Shoal, the zero-copy prototype, moto,
the bare references and the sink): proves that it starts them, that every workload passes its
own checks of every byte, and that it prints the comparison table. No timing is asserted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVERS = ["shoal", "moto", "ref", "refmd5", "sink"]


def test_loadgen_smoke(tmp_path: Path) -> None:
    pytest.importorskip("moto", reason="moto[server] is in the test extra")
    cmd = [sys.executable, str(ROOT / "benchmarks" / "loadgen.py"), "--smoke",
           "--servers", ",".join(SERVERS), "--dir", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=150,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    out = proc.stdout
    assert proc.returncode == 0, f"loadgen failed:\n{out[-3000:]}\n{proc.stderr[-3000:]}"
    header = next(line for line in out.splitlines() if line.startswith("| metric |"))
    assert [c.strip() for c in header.strip("|").split("|")][1:len(SERVERS) + 1] == SERVERS
    for label in ("multipart upload", "GET 24 MiB whole", "PUT 4 KiB x8, ops/s",
                  "ListObjectsV2", "server peak RSS"):
        row = next((line for line in out.splitlines() if label in line), None)
        assert row is not None, f"no row for {label!r} in:\n{out}"
        shoal = row.strip("|").split("|")[1].strip()
        assert re.fullmatch(r"[0-9.]+", shoal), row  # Shoal measured something
    assert "| target | measured | met |" in out
    assert "Complete against object size" in out
    assert not os.listdir(tmp_path), "the data directories were not removed"
