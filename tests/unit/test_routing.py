"""The routing table: (method, bucket?, key?, query, copy-source?) -> endpoint."""

from __future__ import annotations

import pytest

from shoal.api.endpoints import Endpoint as E
from shoal.api.routing import route
from shoal.core.errors import ShoalError

CASES = [
    ("GET", None, None, {}, False, E.ListBuckets),
    ("PUT", "b", None, {}, False, E.CreateBucket),
    ("HEAD", "b", None, {}, False, E.HeadBucket),
    ("DELETE", "b", None, {}, False, E.DeleteBucket),
    ("GET", "b", None, {}, False, E.ListObjects),
    ("GET", "b", None, {"list-type": "2"}, False, E.ListObjectsV2),
    ("GET", "b", None, {"versions": ""}, False, E.ListObjectVersions),
    ("GET", "b", None, {"location": ""}, False, E.GetBucketLocation),
    ("GET", "b", None, {"uploads": ""}, False, E.ListMultipartUploads),
    ("GET", "b", None, {"uploads": "", "prefix": "a"}, False, E.ListMultipartUploads),
    ("POST", "b", None, {"delete": ""}, False, E.DeleteObjects),
    ("GET", "b", None, {"acl": ""}, False, E.GetBucketAcl),
    ("PUT", "b", None, {"acl": ""}, False, E.PutBucketAcl),
    ("PUT", "b", "k", {}, False, E.PutObject),
    ("PUT", "b", "k", {"x-id": "PutObject"}, False, E.PutObject),
    ("PUT", "b", "k", {}, True, E.CopyObject),
    ("GET", "b", "k", {}, False, E.GetObject),
    ("GET", "b", "k", {"partNumber": "2"}, False, E.GetObject),
    ("HEAD", "b", "k", {"partNumber": "2"}, False, E.HeadObject),
    ("GET", "b", "k", {"response-content-type": "a/b"}, False, E.GetObject),
    ("HEAD", "b", "k", {}, False, E.HeadObject),
    ("DELETE", "b", "k", {}, False, E.DeleteObject),
    ("POST", "b", "k", {"uploads": ""}, False, E.CreateMultipartUpload),
    ("PUT", "b", "k", {"partNumber": "1", "uploadId": "u"}, False, E.UploadPart),
    ("PUT", "b", "k", {"partNumber": "1", "uploadId": "u"}, True, E.UploadPartCopy),
    ("POST", "b", "k", {"uploadId": "u"}, False, E.CompleteMultipartUpload),
    ("DELETE", "b", "k", {"uploadId": "u"}, False, E.AbortMultipartUpload),
    ("GET", "b", "k", {"uploadId": "u"}, False, E.ListParts),
    ("GET", "b", "k", {"tagging": ""}, False, E.GetObjectTagging),
    ("PUT", "b", "k", {"tagging": ""}, False, E.PutObjectTagging),
    ("DELETE", "b", "k", {"tagging": ""}, False, E.DeleteObjectTagging),
    ("GET", "b", "k", {"acl": ""}, False, E.GetObjectAcl),
    ("PUT", "b", "k", {"acl": ""}, False, E.PutObjectAcl),
]


@pytest.mark.parametrize("method,bucket,key,args,copy,expected", CASES)
def test_route(method: str, bucket: str | None, key: str | None, args: dict[str, str],
               copy: bool, expected: E) -> None:
    assert route(method, bucket, key, args, copy) is expected


def test_known_but_unimplemented_subresource_is_unsupported() -> None:
    assert route("GET", "b", "k", {"torrent": ""}, False) is E.Unsupported
    assert route("PUT", "b", None, {"website": ""}, False) is E.Unsupported
    assert route("POST", "b", "k", {"restore": ""}, False) is E.Unsupported


@pytest.mark.parametrize("method,bucket,key", [
    ("PATCH", "b", "k"), ("PUT", None, None), ("DELETE", None, None), ("POST", "b", "k"),
])
def test_invalid_method_for_resource(method: str, bucket: str | None, key: str | None) -> None:
    with pytest.raises(ShoalError) as exc:
        route(method, bucket, key, {}, False)
    assert exc.value.code == "MethodNotAllowed"
    assert exc.value.status == 405
