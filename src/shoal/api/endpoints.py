"""One name per operation; the same name is used by routing, handlers, the core and logs."""

from __future__ import annotations

from enum import Enum


class Action(Enum):
    """What an operation needs, checked against ACLs (see core.auth)."""

    LIST_BUCKETS = "list_buckets"
    BUCKET_OWNER = "bucket_owner"  # create/delete bucket, bucket config
    BUCKET_READ = "bucket_read"  # list objects / uploads, head bucket
    BUCKET_READ_ACP = "bucket_read_acp"
    BUCKET_WRITE_ACP = "bucket_write_acp"
    OBJECT_READ = "object_read"
    OBJECT_WRITE = "object_write"  # writes into the bucket (needs bucket WRITE)
    OBJECT_READ_ACP = "object_read_acp"
    OBJECT_WRITE_ACP = "object_write_acp"


class Endpoint(Enum):
    # service
    ListBuckets = ("ListBuckets", Action.LIST_BUCKETS)
    # buckets
    CreateBucket = ("CreateBucket", Action.BUCKET_OWNER)
    HeadBucket = ("HeadBucket", Action.BUCKET_READ)
    DeleteBucket = ("DeleteBucket", Action.BUCKET_OWNER)
    ListObjects = ("ListObjects", Action.BUCKET_READ)
    ListObjectsV2 = ("ListObjectsV2", Action.BUCKET_READ)
    ListObjectVersions = ("ListObjectVersions", Action.BUCKET_READ)
    GetBucketLocation = ("GetBucketLocation", Action.BUCKET_READ)
    GetBucketVersioning = ("GetBucketVersioning", Action.BUCKET_READ)
    ListMultipartUploads = ("ListMultipartUploads", Action.BUCKET_READ)
    DeleteObjects = ("DeleteObjects", Action.OBJECT_WRITE)
    GetBucketAcl = ("GetBucketAcl", Action.BUCKET_READ_ACP)
    PutBucketAcl = ("PutBucketAcl", Action.BUCKET_WRITE_ACP)
    # objects
    PutObject = ("PutObject", Action.OBJECT_WRITE)
    CopyObject = ("CopyObject", Action.OBJECT_WRITE)
    GetObject = ("GetObject", Action.OBJECT_READ)
    HeadObject = ("HeadObject", Action.OBJECT_READ)
    DeleteObject = ("DeleteObject", Action.OBJECT_WRITE)
    GetObjectAcl = ("GetObjectAcl", Action.OBJECT_READ_ACP)
    PutObjectAcl = ("PutObjectAcl", Action.OBJECT_WRITE_ACP)
    GetObjectTagging = ("GetObjectTagging", Action.OBJECT_READ)
    PutObjectTagging = ("PutObjectTagging", Action.OBJECT_WRITE)
    DeleteObjectTagging = ("DeleteObjectTagging", Action.OBJECT_WRITE)
    # multipart
    CreateMultipartUpload = ("CreateMultipartUpload", Action.OBJECT_WRITE)
    UploadPart = ("UploadPart", Action.OBJECT_WRITE)
    UploadPartCopy = ("UploadPartCopy", Action.OBJECT_WRITE)
    CompleteMultipartUpload = ("CompleteMultipartUpload", Action.OBJECT_WRITE)
    AbortMultipartUpload = ("AbortMultipartUpload", Action.OBJECT_WRITE)
    ListParts = ("ListParts", Action.OBJECT_WRITE)
    # anything recognised but not implemented
    Unsupported = ("Unsupported", Action.BUCKET_OWNER)

    def __init__(self, label: str, action: Action) -> None:
        self.label = label
        self.action = action
