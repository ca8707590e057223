"""Bucket lifecycle through boto3: the ``?lifecycle`` configuration (put, get, delete,
validation, permissions)."""

from __future__ import annotations

import hashlib
import math
import os
import time
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

import pytest
import requests
from botocore.exceptions import ClientError

from .conftest import add_user, make_client
from .server import LiveServer, fsck_clean, own_server
from .test_s3_auth import sign_v4


def _error(call: Any, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    resp = info.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"]


def _put(s3: Any, bucket: str, *rules: dict[str, Any]) -> Any:
    return s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": list(rules)})


def test_put_get_delete_round_trip(s3, bucket: str) -> None:  # noqa: ANN001
    assert _error(s3.get_bucket_lifecycle_configuration, Bucket=bucket) == \
        (404, "NoSuchLifecycleConfiguration")
    rules = [
        {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
         "Expiration": {"Days": 30},
         "Transitions": [{"Days": 10, "StorageClass": "STANDARD_IA"}]},
        {"ID": "uploads", "Filter": {"Prefix": ""}, "Status": "Enabled",
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
        {"ID": "tagged", "Status": "Disabled",
         "Filter": {"And": {"Prefix": "tmp/", "Tags": [{"Key": "kind", "Value": "scratch"}],
                            "ObjectSizeGreaterThan": 1, "ObjectSizeLessThan": 1000}},
         "Expiration": {"Date": datetime(2030, 1, 1, tzinfo=UTC)},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 3}},
    ]
    resp = _put(s3, bucket, *rules)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in got] == ["logs", "uploads", "tagged"]
    assert got[0]["Filter"] == {"Prefix": "logs/"} and got[0]["Expiration"] == {"Days": 30}
    assert got[0]["Transitions"] == [{"Days": 10, "StorageClass": "STANDARD_IA"}]
    assert got[1]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert got[2]["Status"] == "Disabled"
    assert got[2]["Filter"]["And"] == rules[2]["Filter"]["And"]
    assert got[2]["Expiration"]["Date"] == datetime(2030, 1, 1, tzinfo=UTC)
    assert got[2]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 3}
    # A new configuration replaces the old one whole.
    _put(s3, bucket, {"Filter": {}, "Status": "Enabled", "Expiration": {"Days": 1}})
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert len(got) == 1 and got[0]["ID"]  # an ID was made up
    resp = s3.delete_bucket_lifecycle(Bucket=bucket)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert _error(s3.get_bucket_lifecycle_configuration, Bucket=bucket) == \
        (404, "NoSuchLifecycleConfiguration")


def test_legacy_prefix_rules(s3, bucket: str) -> None:  # noqa: ANN001
    s3.put_bucket_lifecycle(Bucket=bucket, LifecycleConfiguration={"Rules": [
        {"ID": "old", "Prefix": "a/", "Status": "Enabled", "Expiration": {"Days": 2}}]})
    got = s3.get_bucket_lifecycle(Bucket=bucket)["Rules"]
    assert got == [{"ID": "old", "Prefix": "a/", "Status": "Enabled",
                    "Expiration": {"Days": 2}}]


EXPIRE = {"Filter": {"Prefix": "x/"}, "Status": "Enabled", "Expiration": {"Days": 1}}


@pytest.mark.parametrize(("rules", "want"), [
    ([{**EXPIRE, "ID": "a" * 256}], (400, "InvalidArgument")),
    ([{**EXPIRE, "ID": "same"}, {**EXPIRE, "ID": "same"}], (400, "InvalidArgument")),
    ([{**EXPIRE, "Expiration": {"Days": 0}}], (400, "InvalidArgument")),
    ([{**EXPIRE, "Expiration": {"Date": datetime(2030, 1, 1, 12, tzinfo=UTC)}}],
     (400, "InvalidArgument")),
    ([{**EXPIRE, "Status": "enabled"}], (400, "MalformedXML")),
    ([{**EXPIRE, "Prefix": "x/"}], (400, "MalformedXML")),
    ([{"ID": "none", "Filter": {"Prefix": "x/"}, "Status": "Enabled"}], (400, "InvalidRequest")),
    ([{"Filter": {"Tag": {"Key": "k", "Value": "v"}}, "Status": "Enabled",
       "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}], (400, "InvalidRequest")),
    ([{**EXPIRE, "ID": f"r{i}"} for i in range(1001)], (400, "MalformedXML")),
])
def test_invalid_configurations(s3, bucket: str, rules: list[dict[str, Any]],  # noqa: ANN001
                                want: tuple[int, str]) -> None:
    assert _error(s3.put_bucket_lifecycle_configuration, Bucket=bucket,
                  LifecycleConfiguration={"Rules": rules}) == want
    assert _error(s3.get_bucket_lifecycle_configuration, Bucket=bucket) == \
        (404, "NoSuchLifecycleConfiguration")


@pytest.mark.parametrize("body", [b"<LifecycleConfiguration><Rule>", b"not xml", b""])
def test_malformed_document(server: LiveServer, bucket: str, body: bytes) -> None:
    url = f"{server.endpoint}/{bucket}?lifecycle"
    signed = sign_v4("PUT", url, {}, hashlib.sha256(body).hexdigest())
    resp = requests.put(url, data=body, headers=signed.headers, timeout=10)
    assert resp.status_code == 400, resp.text
    assert ElementTree.fromstring(resp.content).findtext("Code") == "MalformedXML"


def test_only_the_owner_may_configure(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    _put(s3, bucket, EXPIRE)
    user = add_user(server, "lc-other")
    other = make_client(server.endpoint, access_key=user["access_key"],
                        secret_key=user["secret_key"])
    assert _error(other.get_bucket_lifecycle_configuration, Bucket=bucket)[0] == 403
    assert _error(other.put_bucket_lifecycle_configuration, Bucket=bucket,
                  LifecycleConfiguration={"Rules": [EXPIRE]})[0] == 403
    assert _error(other.delete_bucket_lifecycle, Bucket=bucket)[0] == 403
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"][0]["Filter"] == \
        {"Prefix": "x/"}


def test_missing_bucket(s3) -> None:  # noqa: ANN001
    assert _error(s3.get_bucket_lifecycle_configuration, Bucket="no-such-bucket-lc") == \
        (404, "NoSuchBucket")


def test_expiration_header(s3, bucket: str) -> None:  # noqa: ANN001
    _put(s3, bucket, {"ID": "logs rule", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
                      "Expiration": {"Days": 30}},
         {"ID": "off", "Filter": {"Prefix": ""}, "Status": "Disabled",
          "Expiration": {"Days": 1}})
    put = s3.put_object(Bucket=bucket, Key="logs/a", Body=b"a")
    head = s3.head_object(Bucket=bucket, Key="logs/a")
    created = head["LastModified"].timestamp()
    due = datetime.fromtimestamp(math.ceil((created + 30 * 86400) / 86400) * 86400, UTC)
    want = f'expiry-date="{due.strftime("%a, %d %b %Y %H:%M:%S GMT")}", rule-id="logs rule"'
    assert put["Expiration"] == head["Expiration"] == want
    assert s3.get_object(Bucket=bucket, Key="logs/a")["Expiration"] == want
    assert "Expiration" not in s3.put_object(Bucket=bucket, Key="other", Body=b"o")
    assert "Expiration" not in s3.head_object(Bucket=bucket, Key="other")


# -- enforcement, against a server whose lifecycle "day" is 3 seconds ---------------------------

DAY_S = 3.0  # Days=1 falls due 3-6 s after an object's creation (rounded up to a "midnight")
SWEEP_ENV = {"SHOAL_LIFECYCLE_DAY_SECONDS": str(DAY_S), "SHOAL_LIFECYCLE_INTERVAL": "0.5"}


def _blob_files(data_dir: str) -> set[str]:
    return {os.path.join(d, n) for d, _, names in os.walk(os.path.join(data_dir, "blobs"))
            for n in names}


def _keys(s3: Any, bucket: str) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def _upload_keys(s3: Any, bucket: str) -> set[str]:
    return {u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])}


def _until(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the lifecycle sweep did not happen in time"
        time.sleep(0.2)


def _start_upload(s3: Any, bucket: str, key: str, data_dir: str) -> set[str]:
    """An upload of ``key`` with one part; the blob files the part added."""
    before = _blob_files(data_dir)
    up = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    s3.upload_part(Bucket=bucket, Key=key, UploadId=up, PartNumber=1, Body=b"p" * 70_000)
    return _blob_files(data_dir) - before


B = "lc-sweep"


def test_sweeper_applies_enabled_rules() -> None:
    with own_server(workers=2, env=SWEEP_ENV) as srv:
        s3 = make_client(srv.endpoint)
        s3.create_bucket(Bucket=B)
        stale = _start_upload(s3, B, "tmp/stale", srv.data_dir)
        kept = _start_upload(s3, B, "keep/upload", srv.data_dir)
        off = _start_upload(s3, B, "off/upload", srv.data_dir)
        assert len(stale) == len(kept) == len(off) == 1
        big = b"b" * 40_000  # kept in a blob file, not inline
        for key, body, tags in [("old/x", big, ""), ("keep/y", b"y", ""),
                                ("t/tagged", b"t", "k=v"), ("t/other-tag", b"t", "k=w"),
                                ("big/large", b"l" * 200, ""), ("big/small", b"s", ""),
                                ("off/z", b"z", "")]:
            s3.put_object(Bucket=B, Key=key, Body=body, Tagging=tags)
        _put(s3, B,
             {"ID": "uploads", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled",
              "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
             {"ID": "old", "Filter": {"Prefix": "old/"}, "Status": "Enabled",
              "Expiration": {"Days": 1}},
             {"ID": "tagged", "Filter": {"Tag": {"Key": "k", "Value": "v"}},
              "Status": "Enabled", "Expiration": {"Days": 1}},
             {"ID": "big", "Status": "Enabled", "Expiration": {"Days": 1},
              "Filter": {"And": {"Prefix": "big/", "ObjectSizeGreaterThan": 100}}},
             {"ID": "dated", "Filter": {"Prefix": "dated/"}, "Status": "Enabled",
              "Expiration": {"Date": datetime(2020, 1, 1, tzinfo=UTC)}},
             {"ID": "off", "Filter": {"Prefix": "off/"}, "Status": "Disabled",
              "Expiration": {"Days": 1},
              "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}})
        _until(lambda: "tmp/stale" not in _upload_keys(s3, B)
               and not {"old/x", "t/tagged", "big/large"} & _keys(s3, B))
        assert not stale & _blob_files(srv.data_dir)  # the aborted part's blob is freed
        assert kept | off <= _blob_files(srv.data_dir)
        assert _upload_keys(s3, B) == {"keep/upload", "off/upload"}
        assert _keys(s3, B) == {"keep/y", "t/other-tag", "big/small", "off/z"}
        # A fresh object under an expiring prefix stays: "dated/" objects go at the next
        # sweep whatever their age, so once one put after it is gone, a sweep has seen both.
        put_at = time.monotonic()
        s3.put_object(Bucket=B, Key="old/fresh", Body=b"f")
        s3.put_object(Bucket=B, Key="dated/sentinel", Body=b"d")
        _until(lambda: "dated/sentinel" not in _keys(s3, B))
        assert time.monotonic() - put_at < DAY_S, "too slow to tell fresh from expired"
        assert "old/fresh" in _keys(s3, B)
        for up in s3.list_multipart_uploads(Bucket=B)["Uploads"]:
            s3.abort_multipart_upload(Bucket=B, Key=up["Key"], UploadId=up["UploadId"])
        srv.stop()
        fsck_clean(srv.data_dir)  # deletes and aborts left no orphan blob behind
        assert "lifecycle sweep failed" not in srv.log()
