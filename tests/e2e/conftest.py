"""Fixtures: one live Shoal per test session, boto3 clients, fresh buckets."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config as BotoConfig

from .server import (
    ACCESS_KEY,
    SECRET_KEY,
    LiveServer,
    seeded_server,
)

_counter = itertools.count()


@pytest.fixture(scope="session")
def server() -> Iterator[LiveServer]:
    with seeded_server(["--domain", "localhost", "--allow-insecure-ssec"],
                       workers=int(os.environ.get("SHOAL_TEST_WORKERS", "1"))) as srv:
        yield srv


def make_client(endpoint: str, **config: object) -> object:
    cfg = BotoConfig(retries={"max_attempts": 1}, **config)  # type: ignore[arg-type]
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, region_name="us-east-1", config=cfg)


@pytest.fixture(scope="session")
def s3(server: LiveServer):  # noqa: ANN201 - botocore client type is dynamic
    return make_client(server.endpoint)


@pytest.fixture
def bucket(s3) -> Iterator[str]:  # noqa: ANN001
    name = f"test-{os.getpid()}-{next(_counter)}"
    s3.create_bucket(Bucket=name)
    yield name
    for up in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=up["Key"], UploadId=up["UploadId"])
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=name):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)
