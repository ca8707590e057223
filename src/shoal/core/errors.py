"""Errors raised by the core and the front ends.

Every failure a client can see is a ``ShoalError`` carrying a neutral code. The codes are the
S3 spellings (``NoSuchKey``, ``InvalidPart``...); each dialect maps a code to its own HTTP status
and wire code when it renders the error (see ``shoal.dialects.*.errors``).

    ShoalError(code, message, **fields)
      fields end up as extra elements of the error document (``Key``, ``BucketName``,
      ``UploadId``, ``StringToSign``...), in insertion order.
"""

from __future__ import annotations

import errno

# Default HTTP status per code, in the S3 dialect. Dialects may override.
STATUS: dict[str, int] = {
    "AccessDenied": 403,
    "AccessForbidden": 403,  # a CORS preflight no rule allows
    "NoSuchCORSConfiguration": 404,
    "NoSuchPublicAccessBlockConfiguration": 404,
    "NoSuchLifecycleConfiguration": 404,
    "ServerSideEncryptionConfigurationNotFoundError": 404,
    "AuthorizationHeaderMalformed": 400,
    "AuthorizationQueryParametersError": 400,
    "BadDigest": 400,
    "BucketAlreadyExists": 409,
    "FileAlreadyExists": 409,
    "ConditionalRequestConflict": 409,
    "BucketAlreadyOwnedByYou": 409,
    "BucketNotEmpty": 409,
    "EntityTooLarge": 400,
    "EntityTooSmall": 400,
    "ExpiredToken": 400,
    "IllegalLocationConstraintException": 400,
    "IncompleteBody": 400,
    "InternalError": 500,
    "InvalidAccessKeyId": 403,
    "InvalidArgument": 400,
    "InvalidBucketName": 400,
    "InvalidDigest": 400,
    "InvalidEncryptionAlgorithmError": 400,
    "InvalidLocationConstraint": 400,
    "InvalidPart": 400,
    "InvalidPartOrder": 400,
    "InvalidPartNumber": 416,
    "InvalidRange": 416,
    "InvalidRequest": 400,
    "InvalidStorageClass": 400,
    "InvalidTag": 400,
    "InvalidURI": 400,
    "KeyTooLongError": 400,
    "MalformedACLError": 400,
    "MalformedXML": 400,
    "MetadataTooLarge": 400,
    "MethodNotAllowed": 405,
    "MissingContentLength": 411,
    "MissingSecurityHeader": 400,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "NoSuchTagSet": 404,
    "NoSuchUpload": 404,
    "NoSuchVersion": 404,
    "NotImplemented": 501,
    "NotModified": 304,
    "PreconditionFailed": 412,
    "RequestTimeTooSkewed": 403,
    "RequestTimeout": 400,
    "ServiceUnavailable": 503,
    "SignatureDoesNotMatch": 403,
    "SlowDown": 503,
    "TooManyBuckets": 400,
    "XAmzContentSHA256Mismatch": 400,
    "InvalidChunkSizeError": 400,
    "KMS.NotFoundException": 400,
    "UnexpectedContent": 400,
}

MESSAGES: dict[str, str] = {
    "AccessDenied": "Access Denied",
    "BadDigest": "The Content-MD5 you specified did not match what we received.",
    "BucketAlreadyExists": "The requested bucket name is not available. The bucket namespace is "
    "shared by all users of the system. Please select a different name and try again.",
    "BucketAlreadyOwnedByYou": "Your previous request to create the named bucket succeeded and "
    "you already own it.",
    "BucketNotEmpty": "The bucket you tried to delete is not empty",
    "EntityTooLarge": "Your proposed upload exceeds the maximum allowed object size.",
    "EntityTooSmall": "Your proposed upload is smaller than the minimum allowed object size.",
    "IncompleteBody": "You did not provide the number of bytes specified by the "
    "Content-Length HTTP header.",
    "InternalError": "We encountered an internal error. Please try again.",
    "InvalidAccessKeyId": "The AWS Access Key Id you provided does not exist in our records.",
    "InvalidBucketName": "The specified bucket is not valid.",
    "InvalidDigest": "The Content-MD5 you specified is not valid.",
    "InvalidPart": "One or more of the specified parts could not be found. The part might not "
    "have been uploaded, or the specified entity tag might not have matched the part's entity "
    "tag.",
    "InvalidPartOrder": "The list of parts was not in ascending order. The parts list must be "
    "specified in order by part number.",
    "InvalidRange": "The requested range is not satisfiable",
    "InvalidStorageClass": "The storage class you specified is not valid",
    "KeyTooLongError": "Your key is too long",
    "MalformedXML": "The XML you provided was not well-formed or did not validate against our "
    "published schema.",
    "MetadataTooLarge": "Your metadata headers exceed the maximum allowed metadata size.",
    "MethodNotAllowed": "The specified method is not allowed against this resource.",
    "MissingContentLength": "You must provide the Content-Length HTTP header.",
    "NoSuchBucket": "The specified bucket does not exist",
    "NoSuchKey": "The specified key does not exist.",
    "NoSuchTagSet": "The TagSet does not exist",
    "NoSuchUpload": "The specified upload does not exist. The upload ID may be invalid, or the "
    "upload may have been aborted or completed.",
    "NotImplemented": "A header you provided implies functionality that is not implemented.",
    "PreconditionFailed": "At least one of the pre-conditions you specified did not hold",
    "FileAlreadyExists": "The object already exists and the request forbids overwriting it.",
    "ConditionalRequestConflict": "A conflicting conditional operation is currently in progress "
    "against this resource. Please try again.",
    "RequestTimeTooSkewed": "The difference between the request time and the current time is "
    "too large.",
    "SignatureDoesNotMatch": "The request signature we calculated does not match the signature "
    "you provided. Check your key and signing method.",
    "XAmzContentSHA256Mismatch": "The provided 'x-amz-content-sha256' header does not match "
    "what was computed.",
    "ServiceUnavailable": "Please reduce your request rate.",
    "InsufficientStorage": "The server is out of storage space. Please try again later.",
    "SlowDown": "Please reduce your request rate.",
}


class ShoalError(Exception):
    """A client-visible failure with a neutral (S3-spelled) code."""

    def __init__(self, code: str, message: str | None = None, **fields: str) -> None:
        self.code = code
        self.message = message or MESSAGES.get(code, code)
        self.fields = fields
        super().__init__(f"{code}: {self.message}")

    @property
    def status(self) -> int:
        return STATUS.get(self.code, 400)


# Codes whose responses carry ``Retry-After`` (seconds): the client should come back later.
RETRY_AFTER: dict[str, str] = {"ServiceUnavailable": "5", "SlowDown": "1"}
_SQLITE_FULL = 13  # SQLITE_FULL, the primary result code (low byte of the extended code)
_PG_DISK_FULL = "53100"  # PostgreSQL SQLSTATE disk_full


def is_storage_full(exc: BaseException) -> bool:
    """True when ``exc`` or an exception that led to it says the disk or a quota is full.

    Looks at OSError ENOSPC/EDQUOT (blob files, directories), SQLite's SQLITE_FULL and
    PostgreSQL's disk_full without importing either driver.
    """
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        code = getattr(cur, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF == _SQLITE_FULL:
            return True
        if getattr(cur, "sqlstate", None) == _PG_DISK_FULL:
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def storage_full_error() -> ShoalError:
    """What a client sees when a write failed for lack of space: 503, retry later."""
    return ShoalError("ServiceUnavailable", MESSAGES["InsufficientStorage"])


class RetryConflict(Exception):
    """A store transaction saw state change under it; the caller may retry the operation."""
