"""Fixtures: one live Shoal per test session, boto3 clients, fresh buckets; and the client-side
helpers the e2e files share (clients, unique names, accounts, emptying a bucket)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig

from .server import ACCESS_KEY, SECRET_KEY, LiveServer, seeded_server, shoal_cli

_counter = itertools.count()


@pytest.fixture(scope="session")
def server() -> Iterator[LiveServer]:
    with seeded_server(["--domain", "localhost", "--allow-insecure-ssec"],
                       workers=int(os.environ.get("SHOAL_TEST_WORKERS", "1"))) as srv:
        yield srv


def make_client(endpoint: str, *, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY,
                **config: object) -> object:
    """A boto3 S3 client that never retries (root's keys unless others are given)."""
    cfg = BotoConfig(retries={"max_attempts": 1}, **config)  # type: ignore[arg-type]
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access_key,
                        aws_secret_access_key=secret_key, region_name="us-east-1", config=cfg)


def unique_name(prefix: str, suffix: str = "") -> str:
    """A name no other test (nor a parallel run) uses: ``prefix-<pid>-<n>suffix``."""
    return f"{prefix}-{os.getpid()}-{next(_counter)}{suffix}"


def add_user(srv: LiveServer, label: str) -> Any:
    """A new account on the server (``shoal user add`` beside it), named after ``label``: the
    CLI's JSON (``user``, ``access_key``, ``secret_key``)."""
    return shoal_cli(srv.data_dir, "user", "add", unique_name(label))


def empty_and_delete(s3: Any, name: str) -> None:
    """Abort the bucket's uploads, delete its objects, then the bucket (a root client)."""
    for up in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=up["Key"], UploadId=up["UploadId"])
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


@pytest.fixture(scope="session")
def s3(server: LiveServer):  # noqa: ANN201 - botocore client type is dynamic
    return make_client(server.endpoint)


@pytest.fixture
def bucket(s3) -> Iterator[str]:  # noqa: ANN001
    name = unique_name("test")
    s3.create_bucket(Bucket=name)
    yield name
    empty_and_delete(s3, name)
