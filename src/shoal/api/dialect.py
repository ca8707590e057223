"""What a wire dialect must provide. Handlers use only this interface, never a dialect's name.

The differences between S3 and COS are data here (header prefix, namespace, limits, names of
values) plus a few methods each dialect implements (addressing, authentication, errors).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator, Mapping
from email.utils import formatdate
from typing import Any, ClassVar

from ..core import process
from ..core.auth import Keyring, Principal
from ..core.errors import ShoalError
from . import xmldoc
from .postpolicy import Policy
from .request import Request
from .response import Response

_ids: dict[int, tuple[str, Iterator[int]]] = {}  # pid -> (random prefix, counter)
_date: list[Any] = [0, ""]  # the second and its HTTP date, formatted once a second


def _request_id() -> str:
    """16 upper-case hex digits, unique per server without a system call per request: six
    random ones drawn once per process, then a counter."""
    pid = process.pid()
    entry = _ids.get(pid)
    if entry is None:
        entry = _ids[pid] = (os.urandom(3).hex().upper(), itertools.count())
    return f"{entry[0]}{next(entry[1]) & 0xFFFFFFFFFF:010X}"


def http_date() -> str:
    """The current time as an HTTP date (RFC 7231), formatted at most once a second."""
    now = int(time.time())
    if _date[0] != now:
        _date[1] = formatdate(now, usegmt=True)
        _date[0] = now
    return str(_date[1])


class Dialect:
    name: ClassVar[str]
    prefix: ClassVar[str]  # "x-amz-" / "x-cos-"
    xmlns: ClassVar[str | None]
    server: ClassVar[str]
    min_part_size: int = 5 * 1024 * 1024
    max_key_bytes: ClassVar[int] = 1024
    consecutive_parts: ClassVar[bool] = False
    storage_classes: ClassVar[frozenset[str]]
    default_content_type: ClassVar[str] = "binary/octet-stream"
    kms_algorithm: ClassVar[str]  # "aws:kms" / "cos/kms"
    kms_key_header: ClassVar[str]
    group_uri_base: ClassVar[str]  # ".../groups/global/"
    canned_acls: ClassVar[frozenset[str]]
    bucket_canned_acls: ClassVar[frozenset[str]]  # canned ACLs a bucket may take
    object_canned_acls: ClassVar[frozenset[str]]  # canned ACLs an object may take
    # The ACL of an object written without one (None: private; COS: inherit the bucket's).
    default_object_acl: ClassVar[dict[str, str] | None] = None
    # Grant ids must name an account here (COS ids are CAM uins, taken as given).
    check_grantee_ids: ClassVar[bool] = True
    # The owner's repeated CreateBucket succeeds (S3 us-east-1); COS: BucketAlreadyExists.
    repeat_create_succeeds: ClassVar[bool] = True
    emit_standard_storage_class: ClassVar[bool] = False
    crc64_header: ClassVar[str | None] = None  # COS: x-cos-hash-crc64ecma
    forbid_overwrite_header: ClassVar[str | None] = None  # COS: x-cos-forbid-overwrite
    # S3 deletes a bucket holding only unfinished uploads (aborting them); COS refuses.
    delete_bucket_aborts_uploads: ClassVar[bool] = True
    # A lifecycle Date must be midnight UTC (S3); COS: midnight at the offset written
    # (its documents use Beijing time, ``...T00:00:00+08:00``).
    lifecycle_dates_any_offset: ClassVar[bool] = False

    def h(self, suffix: str) -> str:
        """Dialect header name: ``h("meta-")`` -> ``x-amz-meta-``."""
        return self.prefix + suffix

    # -- per-request hooks, implemented by each dialect -----------------------------------
    def matches(self, req: Request) -> bool:
        raise NotImplementedError

    def address(self, req: Request) -> tuple[str | None, str | None]:
        """(bucket, key) from Host and path."""
        raise NotImplementedError

    async def authenticate(self, req: Request, keys: Keyring) -> None:
        """Verify the signature, set ``req.principal`` and ``req.body`` (a verifying stream)."""
        raise NotImplementedError

    def error_code(self, err: ShoalError) -> tuple[int, str]:
        return err.status, err.code

    def error_fields(self, req: Request, err: ShoalError) -> list[str]:
        raise NotImplementedError

    def location(self, req: Request, bucket: str, key: str) -> str:
        raise NotImplementedError

    def copy_source(self, value: str) -> tuple[str, str, str | None]:
        """Parse a copy-source header into (bucket, key, version id)."""
        raise NotImplementedError

    async def post_form_auth(
        self, values: Mapping[str, str], keys: Keyring | None, now: float
    ) -> tuple[Principal, Policy] | None:
        """A POST Object form signed the dialect's own way (COS: ``q-signature``), checked with
        its policy: (signer, policy). None when the form is not signed that way, for the S3
        ways (SigV2, SigV4) or none. ``values``: lower-case field names, key and bucket in."""
        return None

    # -- shared behaviour -----------------------------------------------------------------
    def new_request_id(self) -> str:
        return _request_id()

    def base_headers(self, req: Request) -> dict[str, str]:
        return {
            self.h("request-id"): req.request_id,
            "Server": self.server,
            "Date": http_date(),
        }

    def xml(self, root: str, parts: list[str]) -> bytes:
        return xmldoc.doc(root, parts, self.xmlns)

    def render_error(self, req: Request, err: ShoalError) -> Response:
        status, code = self.error_code(err)
        headers = {"Content-Type": "application/xml"}
        if status == 304 or req.method == "HEAD":
            return Response(status, headers if status != 304 else {}, b"", head=True)
        parts = [xmldoc.E("Code", code), xmldoc.E("Message", err.message)]
        parts += self.error_fields(req, err)
        body = xmldoc.DECL.encode() + xmldoc.raw("Error", "".join(parts)).encode()
        return Response(status, headers, body)
