"""Checksums of multipart uploads: COMPOSITE (checksum of the part checksums, "-N") and
FULL_OBJECT (the CRC of the whole object, combined from the parts' CRCs)."""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Any

import pytest
from awscrt import checksums

from .test_multipart_support import MIN_PART, client_error, code_of, data

PARTS = [data(MIN_PART, 21), data(MIN_PART, 22), data(777, 23)]


def _raw_digest(algo: str, body: bytes) -> bytes:
    if algo == "SHA256":
        return hashlib.sha256(body).digest()
    if algo == "SHA1":
        return hashlib.sha1(body).digest()
    if algo == "CRC32":
        return zlib.crc32(body).to_bytes(4, "big")
    if algo == "CRC32C":
        return checksums.crc32c(body).to_bytes(4, "big")
    assert algo == "CRC64NVME"
    return checksums.crc64nvme(body).to_bytes(8, "big")


def b64(algo: str, body: bytes) -> str:
    return base64.b64encode(_raw_digest(algo, body)).decode()


def composite(algo: str, parts: list[bytes]) -> str:
    joined = b"".join(_raw_digest(algo, p) for p in parts)
    return f"{b64(algo, joined)}-{len(parts)}"


def _upload(s3: Any, bucket: str, algo: str, **create: Any) -> tuple[str, list[dict[str, Any]]]:
    """Initiate with ``algo`` and upload PARTS with that checksum; returns (id, Complete parts)."""
    created = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm=algo,
                                         **create)
    assert created["ChecksumAlgorithm"] == algo
    upload_id = created["UploadId"]
    listed = []
    for n, body in enumerate(PARTS, start=1):
        resp = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=n,
                              Body=body, ChecksumAlgorithm=algo)
        assert resp[f"Checksum{algo}"] == b64(algo, body)
        listed.append({"PartNumber": n, "ETag": resp["ETag"],
                       f"Checksum{algo}": resp[f"Checksum{algo}"]})
    return upload_id, listed


@pytest.mark.parametrize("algo", ["SHA256", "SHA1", "CRC32", "CRC32C"])
def test_composite(s3: Any, bucket: str, algo: str) -> None:
    upload_id, parts = _upload(s3, bucket, algo)
    page = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
    assert page["ChecksumAlgorithm"] == algo
    assert [p[f"Checksum{algo}"] for p in page["Parts"]] == [b64(algo, p) for p in PARTS]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                        MultipartUpload={"Parts": parts})
    assert done[f"Checksum{algo}"] == composite(algo, PARTS)
    assert done["ChecksumType"] == "COMPOSITE"
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head[f"Checksum{algo}"] == composite(algo, PARTS)
    assert head["ChecksumType"] == "COMPOSITE"


def test_composite_is_the_default_type(s3: Any, bucket: str) -> None:
    created = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256")
    assert created["ChecksumType"] == "COMPOSITE"


def test_composite_part_checksum_mismatch(s3: Any, bucket: str) -> None:
    upload_id, parts = _upload(s3, bucket, "SHA256")
    parts[1]["ChecksumSHA256"] = b64("SHA256", b"something else")
    err = client_error(lambda: s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts}))
    assert code_of(err) == (400, "InvalidPart")
    assert len(s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]) == 3


@pytest.mark.parametrize("algo", ["CRC32", "CRC32C", "CRC64NVME"])
def test_full_object(s3: Any, bucket: str, algo: str) -> None:
    upload_id, parts = _upload(s3, bucket, algo, ChecksumType="FULL_OBJECT")
    whole = b64(algo, b"".join(PARTS))
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts},
        ChecksumType="FULL_OBJECT", MpuObjectSize=sum(map(len, PARTS)),
        **{f"Checksum{algo}": whole})
    assert (done[f"Checksum{algo}"], done["ChecksumType"]) == (whole, "FULL_OBJECT")
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert (head[f"Checksum{algo}"], head["ChecksumType"]) == (whole, "FULL_OBJECT")
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"".join(PARTS)


def test_crc64nvme_defaults_to_full_object(s3: Any, bucket: str) -> None:
    upload_id, parts = _upload(s3, bucket, "CRC64NVME")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                        MultipartUpload={"Parts": parts})
    assert done["ChecksumType"] == "FULL_OBJECT"
    assert done["ChecksumCRC64NVME"] == b64("CRC64NVME", b"".join(PARTS))


def test_full_object_claims_are_checked(s3: Any, bucket: str) -> None:
    upload_id, parts = _upload(s3, bucket, "CRC32", ChecksumType="FULL_OBJECT")
    size = sum(map(len, PARTS))
    bad_calls = [
        ({"ChecksumCRC32": b64("CRC32", b"not the object")}, (400, "BadDigest")),
        ({"ChecksumSHA256": b64("SHA256", b"x")}, (400, "InvalidRequest")),
        ({"ChecksumType": "COMPOSITE"}, (400, "InvalidRequest")),
        ({"MpuObjectSize": size + 1}, (400, "InvalidRequest")),
    ]
    for extra, expected in bad_calls:
        err = client_error(lambda extra=extra: s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload={"Parts": parts},
            **extra))
        assert code_of(err) == expected, extra
    assert len(s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]) == 3
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                        MultipartUpload={"Parts": parts}, MpuObjectSize=size)
    assert done["ChecksumCRC32"] == b64("CRC32", b"".join(PARTS))


@pytest.mark.parametrize(("algo", "ctype"), [("SHA256", "FULL_OBJECT"),
                                             ("SHA1", "FULL_OBJECT"),
                                             ("CRC64NVME", "COMPOSITE"),
                                             ("CRC32", "SOMETHING")])
def test_unsupported_checksum_modes(s3: Any, bucket: str, algo: str, ctype: str) -> None:
    err = client_error(lambda: s3.create_multipart_upload(Bucket=bucket, Key="k",
                                                          ChecksumAlgorithm=algo,
                                                          ChecksumType=ctype))
    assert code_of(err) == (400, "InvalidRequest")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_upload_without_checksum_algorithm_has_none(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1,
                          Body=b"plain")["ETag"]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id,
                                        MultipartUpload={"Parts": [{"PartNumber": 1,
                                                                    "ETag": etag}]})
    assert "ChecksumType" not in done
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert not [k for k in head if k.startswith("Checksum")]
