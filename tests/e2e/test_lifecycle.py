"""Bucket lifecycle through boto3: the ``?lifecycle`` configuration (put, get, delete,
validation, permissions)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

import pytest
import requests
from botocore.exceptions import ClientError

from .conftest import add_user, make_client
from .server import LiveServer
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
