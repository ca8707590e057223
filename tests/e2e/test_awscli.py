"""End to end: the aws CLI (``aws s3`` high-level commands and ``aws s3api``) against Shoal."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .server import ACCESS_KEY, SECRET_KEY, LiveServer

AWS = os.path.join(os.path.dirname(sys.executable), "aws")
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("awshome")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_MAX_ATTEMPTS": "1", "HOME": str(home),
    })
    return env


class Cli:
    def __init__(self, server: LiveServer, env: dict[str, str]) -> None:
        self.endpoint = server.endpoint
        self.env = env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [AWS, "--endpoint-url", self.endpoint, *args]
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} -> {proc.returncode}\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> dict:  # type: ignore[type-arg]
        return json.loads(self.run(*args, "--output", "json").stdout or "{}")


@pytest.fixture(scope="module")
def aws(server: LiveServer, cli_env: dict[str, str]) -> Cli:
    return Cli(server, cli_env)


@pytest.fixture(scope="module")
def cli_bucket(aws: Cli, s3) -> Iterator[str]:  # noqa: ANN001
    """One bucket for the module (every CLI start costs about a second); tests use prefixes."""
    name = f"cli-{os.getpid()}-{os.urandom(3).hex()}"
    out = aws.run("s3", "mb", f"s3://{name}").stdout
    assert f"make_bucket: {name}" in out
    yield name
    out = aws.run("s3", "rb", f"s3://{name}", "--force").stdout
    assert f"remove_bucket: {name}" in out
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def md5_file(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def keys_under(s3, bucket: str, prefix: str) -> list[str]:  # noqa: ANN001
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_cp_ls_rm(aws: Cli, cli_bucket: str, s3, tmp_path: Path) -> None:  # noqa: ANN001
    src = tmp_path / "hello world.txt"
    src.write_bytes(b"hello from the cli\n")
    base = f"s3://{cli_bucket}/cp"
    aws.run("s3", "cp", str(src), f"{base}/dir/hello world.txt")
    listing = aws.run("s3", "ls", f"{base}/dir/").stdout
    assert "hello world.txt" in listing and " 19 " in listing
    top = aws.run("s3", "ls", f"{base}/").stdout
    assert "PRE dir/" in top
    back = tmp_path / "back.txt"
    aws.run("s3", "cp", f"{base}/dir/hello world.txt", str(back))
    assert back.read_bytes() == src.read_bytes()
    aws.run("s3", "cp", f"{base}/dir/hello world.txt", f"{base}/copy.txt")
    assert s3.get_object(Bucket=cli_bucket, Key="cp/copy.txt")["Body"].read() == src.read_bytes()
    aws.run("s3", "rm", f"{base}/", "--recursive")
    assert keys_under(s3, cli_bucket, "cp/") == []


def test_multipart_upload_and_download(aws: Cli, cli_bucket: str, s3, tmp_path: Path) -> None:  # noqa: ANN001
    big = tmp_path / "big.bin"
    block = os.urandom(MiB)
    with big.open("wb") as f:
        for i in range(20):
            f.write(bytes([i]) + block[1:])
        f.write(b"tail")
    aws.run("s3", "cp", str(big), f"s3://{cli_bucket}/mp/big.bin")
    head = s3.head_object(Bucket=cli_bucket, Key="mp/big.bin")
    assert head["ContentLength"] == 20 * MiB + 4
    assert head["ETag"].strip('"').endswith("-3")  # 8 MiB parts: 8 + 8 + 4
    down = tmp_path / "down.bin"
    aws.run("s3", "cp", f"s3://{cli_bucket}/mp/big.bin", str(down))
    assert md5_file(down) == md5_file(big)
    assert not s3.list_multipart_uploads(Bucket=cli_bucket).get("Uploads")
    s3.delete_object(Bucket=cli_bucket, Key="mp/big.bin")


def test_sync_both_ways(aws: Cli, cli_bucket: str, s3, tmp_path: Path) -> None:  # noqa: ANN001
    src = tmp_path / "src"
    files = {"a.txt": b"a", "sub/b.txt": b"bb", "sub/deeper/c d.txt": b"ccc", "e+f.bin": b"\0"}
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    target = f"s3://{cli_bucket}/tree"
    aws.run("s3", "sync", str(src), target)
    assert set(keys_under(s3, cli_bucket, "tree/")) == {f"tree/{name}" for name in files}
    again = aws.run("s3", "sync", str(src), target).stdout
    assert "upload:" not in again  # nothing changed: nothing sent
    (src / "a.txt").write_bytes(b"changed, longer")
    (src / "sub" / "b.txt").unlink()
    out = aws.run("s3", "sync", str(src), target, "--delete").stdout
    assert "upload:" in out and "delete:" in out
    dst = tmp_path / "dst"
    aws.run("s3", "sync", target, str(dst))
    got = {str(p.relative_to(dst)): p.read_bytes() for p in dst.rglob("*") if p.is_file()}
    assert got == {"a.txt": b"changed, longer", "sub/deeper/c d.txt": b"ccc", "e+f.bin": b"\0"}


def test_s3api_list_paging(aws: Cli, cli_bucket: str, s3) -> None:  # noqa: ANN001
    keys = [f"pg/p/{i:02d}" for i in range(7)] + ["pg/q/x", "pg/q/y"]
    for key in keys:
        s3.put_object(Bucket=cli_bucket, Key=key, Body=b"")
    common = ["s3api", "list-objects-v2", "--bucket", cli_bucket, "--prefix", "pg/"]
    page = aws.json(*common, "--max-items", "3", "--page-size", "2")
    assert [o["Key"] for o in page["Contents"]] == keys[:3]
    rest = aws.json(*common, "--page-size", "2", "--starting-token", page["NextToken"])
    assert [o["Key"] for o in rest["Contents"]] == keys[3:]
    assert "NextToken" not in rest
    raw = aws.json(*common, "--no-paginate", "--max-keys", "4", "--delimiter", "/")
    assert raw["KeyCount"] == 2
    assert [p["Prefix"] for p in raw["CommonPrefixes"]] == ["pg/p/", "pg/q/"]
