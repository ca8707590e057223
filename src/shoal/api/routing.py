"""(method, target, sub-resource, copy-source?) -> Endpoint, as one table.

``target`` is "service" (no bucket), "bucket" or "object". The sub-resource is the first query
parameter of the request that names one (``?uploads``, ``?acl``...); other parameters (``x-id``,
``prefix``...) do not take part in routing.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..core.errors import ShoalError
from .endpoints import Endpoint as E

# Sub-resources Shoal recognises. Ones missing from the table below answer NotImplemented.
SUBRESOURCES = (
    "uploadId", "uploads", "partNumber", "acl", "tagging", "location", "versioning", "versions",
    "delete", "list-type", "cors", "policy", "policyStatus", "lifecycle", "website", "logging",
    "notification", "encryption", "replication", "requestPayment", "object-lock", "retention",
    "legal-hold", "torrent", "restore", "select", "attributes", "accelerate", "analytics",
    "inventory", "metrics", "intelligent-tiering", "ownershipControls", "publicAccessBlock",
    "website", "referer", "domain", "origin", "inventory", "append", "rename",
)  # fmt: skip

# (method, target, sub-resource or "", copy-source header present) -> endpoint.
# A None copy flag means "either".
TABLE: dict[tuple[str, str, str], E | dict[bool, E]] = {
    ("GET", "service", ""): E.ListBuckets,
    ("PUT", "bucket", ""): E.CreateBucket,
    ("HEAD", "bucket", ""): E.HeadBucket,
    ("DELETE", "bucket", ""): E.DeleteBucket,
    ("GET", "bucket", ""): E.ListObjects,
    ("GET", "bucket", "list-type"): E.ListObjectsV2,
    ("GET", "bucket", "versions"): E.ListObjectVersions,
    ("GET", "bucket", "location"): E.GetBucketLocation,
    ("GET", "bucket", "versioning"): E.GetBucketVersioning,
    ("GET", "bucket", "uploads"): E.ListMultipartUploads,
    ("POST", "bucket", "delete"): E.DeleteObjects,
    ("POST", "bucket", ""): E.PostObject,
    ("GET", "bucket", "acl"): E.GetBucketAcl,
    ("PUT", "bucket", "acl"): E.PutBucketAcl,
    ("GET", "bucket", "tagging"): E.GetBucketTagging,
    ("PUT", "bucket", "tagging"): E.PutBucketTagging,
    ("DELETE", "bucket", "tagging"): E.DeleteBucketTagging,
    ("GET", "bucket", "encryption"): E.GetBucketEncryption,
    ("PUT", "bucket", "encryption"): E.PutBucketEncryption,
    ("DELETE", "bucket", "encryption"): E.DeleteBucketEncryption,
    ("GET", "bucket", "cors"): E.GetBucketCors,
    ("PUT", "bucket", "cors"): E.PutBucketCors,
    ("DELETE", "bucket", "cors"): E.DeleteBucketCors,
    ("OPTIONS", "bucket", ""): E.CorsPreflight,
    ("GET", "bucket", "lifecycle"): E.GetBucketLifecycle,
    ("PUT", "bucket", "lifecycle"): E.PutBucketLifecycle,
    ("DELETE", "bucket", "lifecycle"): E.DeleteBucketLifecycle,
    ("GET", "bucket", "publicAccessBlock"): E.GetPublicAccessBlock,
    ("PUT", "bucket", "publicAccessBlock"): E.PutPublicAccessBlock,
    ("DELETE", "bucket", "publicAccessBlock"): E.DeletePublicAccessBlock,
    ("PUT", "object", ""): {False: E.PutObject, True: E.CopyObject},
    ("GET", "object", ""): E.GetObject,
    ("HEAD", "object", ""): E.HeadObject,
    ("GET", "object", "attributes"): E.GetObjectAttributes,
    ("OPTIONS", "object", ""): E.CorsPreflight,
    ("DELETE", "object", ""): E.DeleteObject,
    ("GET", "object", "acl"): E.GetObjectAcl,
    ("PUT", "object", "acl"): E.PutObjectAcl,
    ("GET", "object", "tagging"): E.GetObjectTagging,
    ("PUT", "object", "tagging"): E.PutObjectTagging,
    ("DELETE", "object", "tagging"): E.DeleteObjectTagging,
    ("POST", "object", "uploads"): E.CreateMultipartUpload,
    ("PUT", "object", "uploadId"): {False: E.UploadPart, True: E.UploadPartCopy},
    ("POST", "object", "uploadId"): E.CompleteMultipartUpload,
    ("DELETE", "object", "uploadId"): E.AbortMultipartUpload,
    ("GET", "object", "uploadId"): E.ListParts,
    ("GET", "object", "partNumber"): E.GetObject,
    ("HEAD", "object", "partNumber"): E.HeadObject,
}

# Order in which sub-resources are looked for when a request carries several.
_PRIORITY = ("uploadId", "uploads", "acl", "tagging", "delete", "list-type", "versions")
_KNOWN_METHODS = {"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"}


def subresource(args: Mapping[str, str]) -> str:
    for name in _PRIORITY:
        if name in args:
            return name
    for name in args:
        if name in SUBRESOURCES:
            return name
    return ""


def route(method: str, bucket: str | None, key: str | None, args: Mapping[str, str],
          copy_source: bool) -> E:
    """Resolve the endpoint; unknown combinations raise MethodNotAllowed or NotImplemented."""
    if method not in _KNOWN_METHODS:
        raise ShoalError("MethodNotAllowed")
    target = "service" if not bucket else ("object" if key else "bucket")
    sub = subresource(args)
    if sub == "partNumber" and method == "PUT":
        sub = "uploadId"  # PUT ?partNumber without uploadId: let the handler complain
    entry = TABLE.get((method, target, sub))
    if entry is None:
        if target == "service":
            raise ShoalError("MethodNotAllowed")
        if sub:
            return E.Unsupported
        raise ShoalError("MethodNotAllowed")
    if isinstance(entry, dict):
        return entry[copy_source]
    return entry
