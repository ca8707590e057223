"""Cross-dialect (boto3 <-> COS SDK on one core) and coscmd through HTTP_PROXY."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from qcloud_cos import CosS3Client

from ..server import ACCESS_KEY, SECRET_KEY, LiveServer
from .conftest import empty_and_delete, new_bucket_name
from .wire import REGION, ci

MiB = 1024 * 1024


def test_boto3_put_cos_read(cos: CosS3Client, boto, cos_bucket: str) -> None:  # noqa: ANN001
    data = os.urandom(300_000)
    boto.put_object(Bucket=cos_bucket, Key="from/boto3.bin", Body=data, ContentType="image/png",
                    Metadata={"origin": "boto3", "n": "1"}, CacheControl="no-cache",
                    Tagging="a=1")
    got = cos.get_object(Bucket=cos_bucket, Key="from/boto3.bin")
    assert got["Body"].get_raw_stream().read() == data
    h = ci(got)
    assert h["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert (h["content-type"], h["cache-control"]) == ("image/png", "no-cache")
    assert (h["x-cos-meta-origin"], h["x-cos-meta-n"], h["x-cos-tagging-count"]) == \
        ("boto3", "1", "1")
    assert "x-amz-meta-origin" not in h and h["server"] == "tencent-cos"
    listed = cos.list_objects(Bucket=cos_bucket, Prefix="from/")["Contents"]
    assert [(c["Key"], int(c["Size"])) for c in listed] == [("from/boto3.bin", len(data))]


def test_cos_initiate_boto3_complete(cos: CosS3Client, boto, cos_bucket: str) -> None:  # noqa: ANN001
    key = "mixed/object.bin"
    upload_id = cos.create_multipart_upload(
        Bucket=cos_bucket, Key=key, ContentType="application/x-mixed",
        Metadata={"x-cos-meta-made-by": "cos"})["UploadId"]
    chunks = [os.urandom(5 * MiB), os.urandom(1000)]
    first = ci(cos.upload_part(Bucket=cos_bucket, Key=key, Body=chunks[0], PartNumber=1,
                               UploadId=upload_id))["etag"]
    second = boto.upload_part(Bucket=cos_bucket, Key=key, Body=chunks[1], PartNumber=2,
                              UploadId=upload_id)["ETag"]
    parts = [{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}]
    listed = boto.list_parts(Bucket=cos_bucket, Key=key, UploadId=upload_id)["Parts"]
    assert [p["Size"] for p in listed] == [len(c) for c in chunks]
    done = boto.complete_multipart_upload(Bucket=cos_bucket, Key=key, UploadId=upload_id,
                                          MultipartUpload={"Parts": parts})
    data = b"".join(chunks)
    s3_obj = boto.get_object(Bucket=cos_bucket, Key=key)
    assert s3_obj["Body"].read() == data
    assert (s3_obj["ContentType"], s3_obj["Metadata"]) == ("application/x-mixed",
                                                            {"made-by": "cos"})
    got = cos.get_object(Bucket=cos_bucket, Key=key)
    assert got["Body"].get_raw_stream().read() == data
    h = ci(got)
    assert h["etag"] == done["ETag"] and h["x-cos-meta-made-by"] == "cos"


COS_CONF = """[common]
secret_id = {ak}
secret_key = {sk}
bucket = {bucket}
region = {region}
max_thread = 5
part_size = 1
multiupload_threshold = 20
multidownload_threshold = 20
retry = 1
timeout = 60
schema = http
verify = md5
anonymous = False
endpoint = cos.local:{port}
"""


class CosCmd:
    """coscmd 1.9 with a config file, routed through HTTP_PROXY (absolute-form targets)."""

    def __init__(self, exe: str, conf: Path, port: int) -> None:
        self.exe, self.conf = exe, conf
        self.env = {**os.environ, "HTTP_PROXY": f"http://127.0.0.1:{port}",
                    "http_proxy": f"http://127.0.0.1:{port}", "NO_PROXY": "", "no_proxy": ""}

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.exe, "-c", str(self.conf), *args], env=self.env,
                              capture_output=True, text=True, timeout=120, check=False)


def coscmd_exe() -> str | None:
    here = Path(sys.executable).parent / "coscmd"
    return str(here) if here.exists() else shutil.which("coscmd")


@pytest.fixture(scope="module")
def coscmd(cos_server: LiveServer, boto, tmp_path_factory: pytest.TempPathFactory,  # noqa: ANN001
           ) -> Iterator[tuple[CosCmd, str, Path]]:
    exe = coscmd_exe()
    if exe is None:
        pytest.skip("coscmd is not installed")
    bucket = new_bucket_name()
    work = tmp_path_factory.mktemp("coscmd")
    conf = work / "cos.conf"
    conf.write_text(COS_CONF.format(ak=ACCESS_KEY, sk=SECRET_KEY, bucket=bucket, region=REGION,
                                    port=cos_server.port))
    cmd = CosCmd(exe, conf, cos_server.port)
    res = cmd("createbucket")
    assert res.returncode == 0, res.stdout + res.stderr
    src = work / "thirty.bin"
    src.write_bytes(os.urandom(30 * MiB))
    res = cmd("upload", str(src), "dir/thirty.bin")
    assert res.returncode == 0, res.stdout + res.stderr
    yield cmd, bucket, src
    empty_and_delete(boto, bucket)


def test_coscmd_multipart_upload(coscmd: tuple[CosCmd, str, Path], cos: CosS3Client) -> None:
    cmd, bucket, src = coscmd
    got = cos.get_object(Bucket=bucket, Key="dir/thirty.bin")
    stream, sha = got["Body"].get_raw_stream(), hashlib.sha256()
    while chunk := stream.read(MiB):
        sha.update(chunk)
    assert sha.digest() == hashlib.sha256(src.read_bytes()).digest()
    h = ci(got)
    assert h["etag"].endswith('-30"')  # 1 MB parts
    assert h["x-cos-meta-md5"] == hashlib.md5(src.read_bytes()).hexdigest()
    listing = cmd("list")
    assert listing.returncode == 0 and "dir/" in listing.stdout


def test_coscmd_download(coscmd: tuple[CosCmd, str, Path], tmp_path: Path) -> None:
    cmd, _, src = coscmd
    dest = tmp_path / "back.bin"
    res = cmd("download", "-f", "dir/thirty.bin", str(dest))
    assert res.returncode == 0, res.stdout + res.stderr
    assert dest.read_bytes() == src.read_bytes()
