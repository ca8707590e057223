"""Smoke test of the PostgreSQL metadata store: a live Shoal with two workers sharing one schema.

Needs PostgreSQL (SHOAL_TEST_PG_DSN, see tests/contract/test_metastore.py): skipped where none
is reachable, failed instead when CI is set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError

from ..contract.test_metastore import pg_schema
from .conftest import make_client
from .server import LiveServer, own_server

MIB = 1024 * 1024
KEYS = ["a", "a/b", "a/c/d", "b", "é", "z\U0001f600", "z\uffff", "A", "a b", "a%2F"]


@pytest.fixture(scope="module")
def pg_server() -> Iterator[tuple[LiveServer, str]]:
    """A 2-worker server on a fresh schema; yields it and the DSN it uses."""
    with pg_schema() as dsn:
        assert dsn.startswith("postgresql://"), "the server recognises only URL DSNs"
        dsn += f"&application_name=shoal-e2e-{uuid.uuid4().hex[:12]}"
        with own_server(workers=2, env={"SHOAL_META_DSN": dsn}) as srv:
            yield srv, dsn


@pytest.fixture(scope="module")
def pg(pg_server: tuple[LiveServer, str]) -> Any:
    return make_client(pg_server[0].endpoint)


def query(dsn: str, sql: str) -> list[Any]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_metadata_lives_in_postgres(pg: Any, pg_server: tuple[LiveServer, str]) -> None:
    srv, dsn = pg_server
    pg.create_bucket(Bucket="where")
    pg.put_object(Bucket="where", Key="row", Body=b"x")
    assert query(dsn, "SELECT bucket, key, size FROM objects") == [("where", "row", 1)]
    assert not os.path.exists(os.path.join(srv.data_dir, "meta.db"))
    # Both worker processes opened the store: each keeps a connection of its own.
    name = dsn.rsplit("application_name=", 1)[1]
    backends = query(
        dsn, f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{name}'"
    )
    assert backends[0][0] >= 2
    pg.delete_object(Bucket="where", Key="row")
    pg.delete_bucket(Bucket="where")


def test_objects_and_listing(pg: Any) -> None:
    pg.create_bucket(Bucket="objs")
    keys = KEYS + [f"many/{i:03d}" for i in range(40)]
    with ThreadPoolExecutor(6) as pool:  # spread over both workers
        list(pool.map(lambda k: pg.put_object(Bucket="objs", Key=k, Body=k.encode()), keys))
    assert pg.get_object(Bucket="objs", Key="z\U0001f600")["Body"].read() == "z\U0001f600".encode()
    pg.put_object(Bucket="objs", Key="b", Body=b"replaced")
    assert pg.head_object(Bucket="objs", Key="b")["ContentLength"] == 8
    pg.copy_object(Bucket="objs", Key="copy", CopySource={"Bucket": "objs", "Key": "a/b"})
    keys.append("copy")

    seen: list[str] = []
    for page in pg.get_paginator("list_objects_v2").paginate(
        Bucket="objs", PaginationConfig={"PageSize": 7}
    ):
        seen += [o["Key"] for o in page.get("Contents", [])]
    assert seen == sorted(keys, key=lambda k: k.encode())
    top = pg.list_objects_v2(Bucket="objs", Prefix="a", Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["a", "a b", "a%2F"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/"]
    after = pg.list_objects_v2(Bucket="objs", StartAfter="z", MaxKeys=10)
    assert [o["Key"] for o in after["Contents"]] == ["z\uffff", "z\U0001f600", "é"]  # bytes

    with pytest.raises(ClientError) as exc:
        pg.delete_bucket(Bucket="objs")
    assert code_of(exc) == "BucketNotEmpty"
    many = [{"Key": k} for k in keys if k.startswith("many/")]
    assert not pg.delete_objects(Bucket="objs", Delete={"Objects": many}).get("Errors")
    for key in keys:  # one by one: "z\uffff" cannot be written in an XML document
        if not key.startswith("many/"):
            pg.delete_object(Bucket="objs", Key=key)
    assert pg.list_objects_v2(Bucket="objs")["KeyCount"] == 0
    pg.delete_bucket(Bucket="objs")
    with pytest.raises(ClientError) as exc:
        pg.head_bucket(Bucket="objs")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_multipart(pg: Any) -> None:
    pg.create_bucket(Bucket="mpu")
    body = [os.urandom(5 * MIB), os.urandom(1000)]
    up = pg.create_multipart_upload(Bucket="mpu", Key="big")["UploadId"]
    gone = pg.create_multipart_upload(Bucket="mpu", Key="gone")["UploadId"]
    etags = [
        pg.upload_part(Bucket="mpu", Key="big", UploadId=up, PartNumber=n, Body=b)["ETag"]
        for n, b in enumerate(body, 1)
    ]
    parts = pg.list_parts(Bucket="mpu", Key="big", UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts] == [
        (1, etags[0], 5 * MIB), (2, etags[1], 1000)]  # fmt: skip
    uploads = pg.list_multipart_uploads(Bucket="mpu")["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("big", up), ("gone", gone)]

    pg.abort_multipart_upload(Bucket="mpu", Key="gone", UploadId=gone)
    done = {"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]}
    result = pg.complete_multipart_upload(
        Bucket="mpu", Key="big", UploadId=up, MultipartUpload=done
    )
    assert result["ETag"].endswith('-2"')
    assert pg.get_object(Bucket="mpu", Key="big")["Body"].read() == b"".join(body)
    again = pg.complete_multipart_upload(Bucket="mpu", Key="big", UploadId=up,
                                         MultipartUpload=done)  # a retry: the same answer
    assert again["ETag"] == result["ETag"]
    with pytest.raises(ClientError) as exc:
        pg.complete_multipart_upload(Bucket="mpu", Key="gone", UploadId=gone,
                                     MultipartUpload=done)
    assert code_of(exc) == "NoSuchUpload"
    assert pg.list_multipart_uploads(Bucket="mpu").get("Uploads", []) == []
    pg.delete_object(Bucket="mpu", Key="big")
    pg.delete_bucket(Bucket="mpu")
