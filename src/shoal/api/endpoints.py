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
    FORM_SIGNED = "form_signed"  # POST Object: the handler checks the form's own signature
    PREFLIGHT = "preflight"  # CORS OPTIONS: unauthenticated by design, answered from the rules


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
    GetBucketTagging = ("GetBucketTagging", Action.BUCKET_OWNER)
    PutBucketTagging = ("PutBucketTagging", Action.BUCKET_OWNER)
    DeleteBucketTagging = ("DeleteBucketTagging", Action.BUCKET_OWNER)
    GetBucketEncryption = ("GetBucketEncryption", Action.BUCKET_OWNER)
    PutBucketEncryption = ("PutBucketEncryption", Action.BUCKET_OWNER)
    DeleteBucketEncryption = ("DeleteBucketEncryption", Action.BUCKET_OWNER)
    GetBucketCors = ("GetBucketCors", Action.BUCKET_OWNER)
    PutBucketCors = ("PutBucketCors", Action.BUCKET_OWNER)
    DeleteBucketCors = ("DeleteBucketCors", Action.BUCKET_OWNER)
    CorsPreflight = ("CorsPreflight", Action.PREFLIGHT)
    GetBucketLifecycle = ("GetBucketLifecycleConfiguration", Action.BUCKET_OWNER)
    PutBucketLifecycle = ("PutBucketLifecycleConfiguration", Action.BUCKET_OWNER)
    DeleteBucketLifecycle = ("DeleteBucketLifecycle", Action.BUCKET_OWNER)
    GetPublicAccessBlock = ("GetPublicAccessBlock", Action.BUCKET_OWNER)
    PutPublicAccessBlock = ("PutPublicAccessBlock", Action.BUCKET_OWNER)
    DeletePublicAccessBlock = ("DeletePublicAccessBlock", Action.BUCKET_OWNER)
    # objects
    PutObject = ("PutObject", Action.OBJECT_WRITE)
    CopyObject = ("CopyObject", Action.OBJECT_WRITE)
    GetObject = ("GetObject", Action.OBJECT_READ)
    HeadObject = ("HeadObject", Action.OBJECT_READ)
    GetObjectAttributes = ("GetObjectAttributes", Action.OBJECT_READ)
    DeleteObject = ("DeleteObject", Action.OBJECT_WRITE)
    GetObjectAcl = ("GetObjectAcl", Action.OBJECT_READ_ACP)
    PutObjectAcl = ("PutObjectAcl", Action.OBJECT_WRITE_ACP)
    GetObjectTagging = ("GetObjectTagging", Action.OBJECT_READ)
    PutObjectTagging = ("PutObjectTagging", Action.OBJECT_WRITE)
    DeleteObjectTagging = ("DeleteObjectTagging", Action.OBJECT_WRITE)
    PostObject = ("PostObject", Action.FORM_SIGNED)
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
