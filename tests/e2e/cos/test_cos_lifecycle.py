"""Bucket lifecycle in the COS dialect (cos-python-sdk-v5): the same ``?lifecycle`` document,
COS dates at midnight Beijing time, COS error codes."""

from __future__ import annotations

import pytest
from qcloud_cos import CosS3Client
from qcloud_cos.cos_exception import CosServiceError


def _error(call, **kwargs: object) -> tuple[int, str]:  # noqa: ANN001
    with pytest.raises(CosServiceError) as info:
        call(**kwargs)
    return info.value.get_status_code(), info.value.get_error_code()


def test_cos_lifecycle_round_trip(cos: CosS3Client, boto, cos_bucket: str) -> None:  # noqa: ANN001
    assert _error(cos.get_bucket_lifecycle, Bucket=cos_bucket) == \
        (404, "NoSuchLifecycleConfiguration")
    config = {"Rule": [
        {"ID": "archive", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
         "Transition": [{"Days": "30", "StorageClass": "ARCHIVE"}],
         "Expiration": {"Date": "2030-01-01T00:00:00+08:00"}},
        {"ID": "uploads", "Filter": {"Prefix": ""}, "Status": "Disabled",
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": "3"}},
    ]}
    cos.put_bucket_lifecycle(Bucket=cos_bucket, LifecycleConfiguration=config)
    got = cos.get_bucket_lifecycle(Bucket=cos_bucket)["Rule"]
    assert [r["ID"] for r in got] == ["archive", "uploads"]
    assert got[0]["Filter"] == {"Prefix": "logs/"}
    assert got[0]["Expiration"] == {"Date": "2030-01-01T00:00:00+08:00"}
    assert got[0]["Transition"] == [{"Days": "30", "StorageClass": "ARCHIVE"}]
    assert got[1]["Status"] == "Disabled"
    assert got[1]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": "3"}
    # The same configuration, seen through the S3 dialect.
    rules = boto.get_bucket_lifecycle_configuration(Bucket=cos_bucket)["Rules"]
    assert rules[1]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 3}
    cos.delete_bucket_lifecycle(Bucket=cos_bucket)
    assert _error(cos.get_bucket_lifecycle, Bucket=cos_bucket) == \
        (404, "NoSuchLifecycleConfiguration")


def test_cos_lifecycle_validation(cos: CosS3Client, cos_bucket: str) -> None:
    bad_days = {"Rule": [{"ID": "r", "Filter": {"Prefix": ""}, "Status": "Enabled",
                          "Expiration": {"Days": "0"}}]}
    assert _error(cos.put_bucket_lifecycle, Bucket=cos_bucket,
                  LifecycleConfiguration=bad_days) == (400, "InvalidArgument")
    not_midnight = {"Rule": [{"ID": "r", "Filter": {"Prefix": ""}, "Status": "Enabled",
                              "Expiration": {"Date": "2030-01-01T00:00:00Z"}}]}
    cos.put_bucket_lifecycle(Bucket=cos_bucket, LifecycleConfiguration=not_midnight)
    not_midnight["Rule"][0]["Expiration"] = {"Date": "2030-01-01T08:00:00+08:00"}
    assert _error(cos.put_bucket_lifecycle, Bucket=cos_bucket,
                  LifecycleConfiguration=not_midnight) == (400, "InvalidArgument")
    bad_status = {"Rule": [{"ID": "r", "Filter": {"Prefix": ""}, "Status": "On",
                            "Expiration": {"Days": "1"}}]}
    assert _error(cos.put_bucket_lifecycle, Bucket=cos_bucket,
                  LifecycleConfiguration=bad_status) == (400, "MalformedXML")
