"""Endpoint -> handler. One file per operation family."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..context import Ctx
from ..endpoints import Endpoint as E
from ..response import Response
from . import bucket, listing, multipart, object, subresource

TABLE: dict[E, Callable[[Ctx], Awaitable[Response]]] = {
    E.ListBuckets: bucket.list_buckets,
    E.CreateBucket: bucket.create_bucket,
    E.HeadBucket: bucket.head_bucket,
    E.DeleteBucket: bucket.delete_bucket,
    E.GetBucketLocation: bucket.get_bucket_location,
    E.GetBucketVersioning: bucket.get_bucket_versioning,
    E.GetBucketAcl: bucket.get_bucket_acl,
    E.PutBucketAcl: bucket.put_bucket_acl,
    E.ListObjects: listing.list_objects,
    E.ListObjectsV2: listing.list_objects_v2,
    E.ListObjectVersions: listing.list_object_versions,
    E.PutObject: object.put_object,
    E.GetObject: object.get_object,
    E.HeadObject: object.head_object,
    E.DeleteObject: object.delete_object,
    E.CopyObject: object.copy_object,
    E.DeleteObjects: object.delete_objects,
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
