"""The master key (env / generated file) and sealing account secrets with AES-256-GCM."""

from __future__ import annotations

import base64
import multiprocessing as mp
import os
import stat
from pathlib import Path

import pytest

from shoal.core.secrets import (
    ENV_VAR,
    KEY_FILE,
    SecretBox,
    SecretError,
    decode_key,
    load_master_key,
    token_key_id,
)

KEY = bytes(range(32))


def test_env_key_wins_and_writes_nothing(tmp_path: Path) -> None:
    env = {ENV_VAR: base64.b64encode(KEY).decode()}
    assert load_master_key(str(tmp_path), env) == KEY
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text", [
    base64.b64encode(KEY).decode(),
    base64.urlsafe_b64encode(KEY).decode().rstrip("="),
    "  " + base64.b64encode(KEY).decode() + "\n",
])
def test_decode_key_forms(text: str) -> None:
    assert decode_key(text, "x") == KEY


@pytest.mark.parametrize("text", ["", "short", base64.b64encode(b"x" * 31).decode(),
                                  base64.b64encode(b"x" * 33).decode(), "!" * 44])
def test_decode_key_rejects(text: str) -> None:
    with pytest.raises(SecretError, match="32 bytes"):
        decode_key(text, "x")


def test_bad_env_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match=ENV_VAR):
        load_master_key(str(tmp_path), {ENV_VAR: "not-a-key"})


def test_generated_key_file(tmp_path: Path) -> None:
    data = tmp_path / "data"  # created on demand
    key = load_master_key(str(data), {})
    path = data / KEY_FILE
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert decode_key(path.read_text(), "file") == key
    assert load_master_key(str(data), {}) == key  # read back, not regenerated
    assert [p.name for p in data.iterdir()] == [KEY_FILE]  # no temporary file left
    other = tmp_path / "other"
    assert load_master_key(str(other), {}) != key


def _load(data_dir: str, start: object, out: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    out.put(load_master_key(data_dir, {}))  # type: ignore[attr-defined]


def test_racing_processes_get_one_key(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_load, args=(str(tmp_path), start, out)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    keys = {out.get(timeout=60) for _ in procs}
    for p in procs:
        p.join(timeout=60)
    assert keys == {load_master_key(str(tmp_path), {})}
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]


def test_seal_and_open() -> None:
    box = SecretBox(KEY)
    token = box.seal("s3cr3t/+ünï", "AKID")
    assert "s3cr3t" not in token
    assert token.startswith(f"v1:{box.key_id}:")
    assert token_key_id(token) == box.key_id
    assert box.open(token, "AKID") == "s3cr3t/+ünï"
    assert box.seal("s3cr3t", "AKID") != box.seal("s3cr3t", "AKID")  # random nonce


def test_sealed_secret_is_bound_to_its_access_key() -> None:
    box = SecretBox(KEY)
    token = box.seal("secret", "AKID")
    with pytest.raises(SecretError, match="tampered"):
        box.open(token, "OTHER")


def test_tampering_is_detected() -> None:
    box = SecretBox(KEY)
    token = box.seal("secret", "AK")
    prefix, body = token.rsplit(":", 1)
    raw = bytearray(base64.b64decode(body))
    raw[-1] ^= 1
    with pytest.raises(SecretError, match="tampered"):
        box.open(f"{prefix}:{base64.b64encode(bytes(raw)).decode()}", "AK")
    with pytest.raises(SecretError, match="tampered"):
        box.open(f"{prefix}:%%%", "AK")
    with pytest.raises(SecretError, match="not a sealed secret"):
        box.open("plain-secret", "AK")


def test_wrong_master_key_is_named() -> None:
    token = SecretBox(KEY).seal("secret", "AK")
    other = SecretBox(os.urandom(32))
    with pytest.raises(SecretError, match="master key"):
        other.open(token, "AK")


def test_box_needs_32_bytes() -> None:
    with pytest.raises(SecretError):
        SecretBox(b"x" * 16)
