"""Fixtures for the COS dialect: one live Shoal with a COS base domain, SDK and boto3 clients."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest
from qcloud_cos import CosConfig, CosS3Client

from ..conftest import make_client
from ..server import (
    ACCESS_KEY,
    SECRET_KEY,
    LiveServer,
    seeded_server,
)
from .wire import REGION, Wire

_counter = itertools.count()


@pytest.fixture(scope="session")
def cos_server() -> Iterator[LiveServer]:
    with seeded_server(["--cos-domain", "cos.local", "--domain", "localhost",
                        "--allow-insecure-ssec"]) as srv:
        yield srv


def make_cos(port: int, secret_key: str = SECRET_KEY) -> CosS3Client:
    """dialects.md section 9 recipe: TCP to 127.0.0.1, Host <bucket>.cos.<region>.myqcloud.com."""
    conf = CosConfig(Region=REGION, SecretId=ACCESS_KEY, SecretKey=secret_key, Scheme="http",
                     IP="127.0.0.1", Port=port, ServiceDomain=f"127.0.0.1:{port}")
    return CosS3Client(conf, retry=0)


@pytest.fixture(scope="session")
def cos(cos_server: LiveServer) -> CosS3Client:
    return make_cos(cos_server.port)


@pytest.fixture(scope="session")
def boto(cos_server: LiveServer):  # noqa: ANN201 - botocore client type is dynamic
    """boto3 against the same server (cross-dialect checks)."""
    return make_client(cos_server.endpoint)


@pytest.fixture(scope="session")
def wire(cos_server: LiveServer) -> Wire:
    return Wire(cos_server.port)


def new_bucket_name() -> str:
    return f"cos-{os.getpid()}-{next(_counter)}-1250000000"


@pytest.fixture
def cos_bucket(cos: CosS3Client, boto) -> Iterator[str]:  # noqa: ANN001
    name = new_bucket_name()
    cos.create_bucket(Bucket=name)
    yield name
    empty_and_delete(boto, name)


def empty_and_delete(boto, name: str) -> None:  # noqa: ANN001
    for up in boto.list_multipart_uploads(Bucket=name).get("Uploads", []):
        boto.abort_multipart_upload(Bucket=name, Key=up["Key"], UploadId=up["UploadId"])
    for page in boto.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            boto.delete_object(Bucket=name, Key=obj["Key"])
    boto.delete_bucket(Bucket=name)
