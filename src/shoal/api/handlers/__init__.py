"""Endpoint -> handler. One file per operation family."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..context import Ctx
from ..endpoints import Endpoint as E
from ..response import Response
from . import (
    attributes,
    bucket,
    bucket_config,
    cors,
    listing,
    multipart,
    object,
    post_object,
    subresource,
)

_HANDLERS: dict[E, Callable[[Ctx], Awaitable[Response]]] = {
    E.ListBuckets: bucket.list_buckets,
    E.CreateBucket: bucket.create_bucket,
    E.HeadBucket: bucket.head_bucket,
    E.DeleteBucket: bucket.delete_bucket,
    E.GetBucketLocation: bucket.get_bucket_location,
    E.GetBucketVersioning: bucket.get_bucket_versioning,
    E.GetBucketAcl: bucket.get_bucket_acl,
    E.PutBucketAcl: bucket.put_bucket_acl,
    E.GetBucketTagging: bucket_config.get_bucket_tagging,
    E.PutBucketTagging: bucket_config.put_bucket_tagging,
    E.DeleteBucketTagging: bucket_config.delete_bucket_tagging,
    E.GetBucketEncryption: bucket_config.get_bucket_encryption,
    E.PutBucketEncryption: bucket_config.put_bucket_encryption,
    E.DeleteBucketEncryption: bucket_config.delete_bucket_encryption,
    E.GetPublicAccessBlock: bucket_config.get_public_access_block,
    E.PutPublicAccessBlock: bucket_config.put_public_access_block,
    E.DeletePublicAccessBlock: bucket_config.delete_public_access_block,
    E.GetBucketLifecycle: bucket_config.get_bucket_lifecycle,
    E.PutBucketLifecycle: bucket_config.put_bucket_lifecycle,
    E.DeleteBucketLifecycle: bucket_config.delete_bucket_lifecycle,
    E.GetBucketCors: cors.get_bucket_cors,
    E.PutBucketCors: cors.put_bucket_cors,
    E.DeleteBucketCors: cors.delete_bucket_cors,
    E.ListObjects: listing.list_objects,
    E.ListObjectsV2: listing.list_objects_v2,
    E.ListObjectVersions: listing.list_object_versions,
    E.PutObject: object.put_object,
    E.GetObject: object.get_object,
    E.HeadObject: object.head_object,
    E.GetObjectAttributes: attributes.get_object_attributes,
    E.DeleteObject: object.delete_object,
    E.CopyObject: object.copy_object,
    E.DeleteObjects: object.delete_objects,
    E.PostObject: post_object.post_object,
    E.GetObjectTagging: subresource.get_object_tagging,
    E.PutObjectTagging: subresource.put_object_tagging,
    E.DeleteObjectTagging: subresource.delete_object_tagging,
    E.GetObjectAcl: subresource.get_object_acl,
    E.PutObjectAcl: subresource.put_object_acl,
    E.CreateMultipartUpload: multipart.create_multipart_upload,
    E.UploadPart: multipart.upload_part,
    E.UploadPartCopy: multipart.upload_part_copy,
    E.CompleteMultipartUpload: multipart.complete_multipart_upload,
    E.AbortMultipartUpload: multipart.abort_multipart_upload,
    E.ListParts: multipart.list_parts,
    E.ListMultipartUploads: multipart.list_multipart_uploads,
}

# Every bucket/object response gets the bucket's CORS headers when the request has an Origin.
TABLE: dict[E, Callable[[Ctx], Awaitable[Response]]] = {
    e: cors.with_cors(h) for e, h in _HANDLERS.items()
}
TABLE[E.CorsPreflight] = cors.preflight
