"""Real clients doing multipart transfers: `aws s3 cp` and boto3's TransferManager.

The file is 64 MiB (1 GiB with SHOAL_BIG_TEST=1); both directions must give the same SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

from .server import ACCESS_KEY, SECRET_KEY, LiveServer
from .test_multipart_support import MIB

SIZE = 1024 * MIB if os.environ.get("SHOAL_BIG_TEST") == "1" else 64 * MIB
AWS = Path(sys.executable).with_name("aws")
CHUNK = 8 * MIB


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A SIZE-byte file of pseudo-random data and its SHA-256."""
    path = tmp_path_factory.mktemp("mp-transfer") / "big.bin"
    digest = hashlib.sha256()
    block = os.urandom(CHUNK)
    with path.open("wb") as f:
        for i in range(SIZE // CHUNK):
            piece = i.to_bytes(8, "big") + block[8:]
            digest.update(piece)
            f.write(piece)
    yield path, digest.hexdigest()
    path.unlink()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _aws(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "AWS_MAX_ATTEMPTS": "1"}
    return subprocess.run([str(AWS), "--endpoint-url", server.endpoint, *args], env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def test_aws_cli_cp_up_and_down(server: LiveServer, s3: Any, bucket: str,
                                big_file: tuple[Path, str], tmp_path: Path) -> None:
    src, digest = big_file
    up = _aws(server, "s3", "cp", "--only-show-errors", str(src), f"s3://{bucket}/cli/big.bin")
    assert up.returncode == 0, up.stderr
    head = s3.head_object(Bucket=bucket, Key="cli/big.bin")
    assert head["ContentLength"] == SIZE
    assert head["ETag"].endswith(f'-{SIZE // CHUNK}"')  # awscli's default 8 MiB parts
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    dst = tmp_path / "down.bin"
    down = _aws(server, "s3", "cp", "--only-show-errors", f"s3://{bucket}/cli/big.bin", str(dst))
    assert down.returncode == 0, down.stderr
    assert sha256_file(dst) == digest
    dst.unlink()


def test_transfer_manager_up_and_down(s3: Any, bucket: str, big_file: tuple[Path, str],
                                      tmp_path: Path) -> None:
    src, digest = big_file
    config = TransferConfig(max_concurrency=8, multipart_threshold=CHUNK,
                            multipart_chunksize=CHUNK)
    s3.upload_file(str(src), bucket, "tm/big.bin", Config=config,
                   ExtraArgs={"ContentType": "application/x-test", "Metadata": {"via": "tm"}})
    head = s3.head_object(Bucket=bucket, Key="tm/big.bin", ChecksumMode="ENABLED")
    assert head["ContentLength"] == SIZE
    assert head["ETag"].endswith(f'-{SIZE // CHUNK}"')
    assert (head["ContentType"], head["Metadata"]) == ("application/x-test", {"via": "tm"})
    assert head["ChecksumCRC32"].endswith(f"-{SIZE // CHUNK}")  # s3transfer's default
    dst = tmp_path / "down.bin"
    s3.download_file(bucket, "tm/big.bin", str(dst), Config=config)
    assert sha256_file(dst) == digest
    dst.unlink()
