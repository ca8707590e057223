"""Fixtures for the COS dialect: one live Shoal with a COS base domain, SDK and boto3 clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from qcloud_cos import CosConfig, CosS3Client

from ..conftest import empty_and_delete, make_client, unique_name
from ..server import ACCESS_KEY, COS_SERVE_ARGS, SECRET_KEY, LiveServer, seeded_server
from .wire import REGION, Wire


@pytest.fixture(scope="session")
def cos_server() -> Iterator[LiveServer]:
    with seeded_server(COS_SERVE_ARGS) as srv:
        yield srv


def make_cos(port: int, secret_key: str = SECRET_KEY, *,
             access_key: str = ACCESS_KEY) -> CosS3Client:
    """dialects.md section 9 recipe: TCP to 127.0.0.1, Host <bucket>.cos.<region>.myqcloud.com."""
    conf = CosConfig(Region=REGION, SecretId=access_key, SecretKey=secret_key, Scheme="http",
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
    return unique_name("cos", "-1250000000")


@pytest.fixture
def cos_bucket(cos: CosS3Client, boto) -> Iterator[str]:  # noqa: ANN001
    name = new_bucket_name()
    cos.create_bucket(Bucket=name)
    yield name
    empty_and_delete(boto, name)
