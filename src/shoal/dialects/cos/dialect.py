"""The Tencent Cloud COS XML dialect: x-cos- headers, q-sign-algorithm=sha1, virtual hosts.

Wire facts: dialects.md sections 1-3, 5-9. Everything else (routing, handlers, the core) is
shared with S3; the differences are the class attributes and the methods below.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import ClassVar
from urllib.parse import quote

from ...api.body import counted, declared_length
from ...api.dialect import Dialect
from ...api.pacing import paced
from ...api.postpolicy import Policy
from ...api.request import Request
from ...api.response import Response
from ...core.auth import Keyring, Principal
from ...core.errors import ShoalError
from ...core.numbers import is_decimal
from . import errors, hosts, post_signature
from .signature import UNKNOWN_KEY, CosAuth, parse_auth_header, parse_auth_query, verify

COS_CLASSES = frozenset({
    "STANDARD", "STANDARD_IA", "ARCHIVE", "DEEP_ARCHIVE", "INTELLIGENT_TIERING",
    "MAZ_STANDARD", "MAZ_STANDARD_IA", "MAZ_INTELLIGENT_TIERING", "MAZ_ARCHIVE",
})
# Bucket: private, public-read, public-read-write; object: default (inherit), private, public-read.
COS_BUCKET_CANNED = frozenset({"private", "public-read", "public-read-write"})
COS_OBJECT_CANNED = frozenset({"default", "private", "public-read"})
COS_CANNED = COS_BUCKET_CANNED | COS_OBJECT_CANNED
# Query parameters that mark an S3-signed (presigned) request.
S3_QUERY_AUTH = ("X-Amz-Algorithm", "X-Amz-Credential", "AWSAccessKeyId")
TRAFFIC_LIMIT = (819200, 838860800)  # x-cos-traffic-limit, bit/s


class CosDialect(Dialect):
    name = "cos"
    prefix = "x-cos-"
    xmlns = None
    server = "tencent-cos"
    storage_classes = COS_CLASSES
    default_content_type = "application/octet-stream"
    kms_algorithm = "cos/kms"
    kms_key_header = "x-cos-server-side-encryption-cos-kms-key-id"
    group_uri_base = "http://cam.qcloud.com/groups/global/"
    canned_acls = COS_CANNED
    bucket_canned_acls = COS_BUCKET_CANNED
    object_canned_acls = COS_OBJECT_CANNED
    # An object written without an ACL follows its bucket's ("default"), not private.
    default_object_acl: ClassVar[dict[str, str]] = {"canned": "default"}
    # Grantee ids are CAM uins (ids of accounts elsewhere too): taken as given, not checked.
    check_grantee_ids = False
    # Creating an existing bucket is BucketAlreadyExists, even for its owner.
    repeat_create_succeeds = False
    max_key_bytes = 850
    consecutive_parts = True
    crc64_header = "x-cos-hash-crc64ecma"
    forbid_overwrite_header = "x-cos-forbid-overwrite"
    emit_standard_storage_class = False
    # COS refuses to delete a bucket that holds unfinished uploads (BucketNotEmpty).
    delete_bucket_aborts_uploads = False
    lifecycle_dates_any_offset = True

    def __init__(self, domains: Sequence[str], min_part_size: int) -> None:
        self.domains = [d.lower().strip(".") for d in domains if d.strip(".")]
        self.min_part_size = min_part_size

    # -- detection and addressing ---------------------------------------------------------
    def matches(self, req: Request) -> bool:
        """COS signature in header or query; unsigned requests by their Host (section 1)."""
        auth = req.headers.get("authorization", "").strip()
        if auth.startswith("q-sign-algorithm=") or "q-sign-algorithm" in req.args:
            return True
        if auth or any(name in req.args for name in S3_QUERY_AUTH):
            return False
        return hosts.is_cos_host(req.host, self.domains)

    def address(self, req: Request) -> tuple[str | None, str | None]:
        """Bucket from the Host's first label; without one, ``/bucket/key`` (path style)."""
        path = req.path
        bucket = hosts.bucket_from_host(req.host, self.domains)
        if bucket is not None:
            return bucket, (path[1:] or None)
        if path in ("", "/"):
            return None, None
        bucket, _, key = path[1:].partition("/")
        return bucket, (key or None)

    # -- authentication -------------------------------------------------------------------
    async def authenticate(self, req: Request, keys: Keyring) -> None:
        auth = self._auth(req)
        if auth is not None:
            found = await keys.lookup_async(auth.access_key)
            if found is None:
                raise ShoalError("InvalidAccessKeyId", UNKNOWN_KEY)
            secret, principal = found
            verify(auth, secret, req.method, req.path, req.query, req.headers, time.time(),
                   hosts.host_candidates(req.host))
            req.principal = principal
        self._check_headers(req)
        self._setup_body(req)

    @staticmethod
    def _auth(req: Request) -> CosAuth | None:
        """The signature fields: a non-empty Authorization header, else the query, else None."""
        header = req.headers.get("authorization", "").strip()
        if header:
            return parse_auth_header(header)
        return parse_auth_query(req.query)

    def _check_headers(self, req: Request) -> None:
        limit = req.headers.get(self.h("traffic-limit"))
        if limit is None:
            return
        lo, hi = TRAFFIC_LIMIT
        if not is_decimal(limit.strip()) or not lo <= int(limit) <= hi:
            raise ShoalError("InvalidArgument", f"x-cos-traffic-limit must be between {lo} and "
                             f"{hi} bit/s", ArgumentName=self.h("traffic-limit"),
                             ArgumentValue=limit)
        req.state["traffic_limit"] = int(limit)

    @staticmethod
    def _setup_body(req: Request) -> None:
        """Plain body: Content-Length counted; digests are checked by the core (expect_for)."""
        length = declared_length(req)
        if req.method == "PUT" and length is None and \
                "chunked" not in req.headers.get("transfer-encoding", "").lower():
            raise ShoalError("MissingContentLength")
        req.state["decoded_length"] = length
        req.body = counted(req.raw_stream(), length)
        limit = req.state.get("traffic_limit")
        if limit is not None and req.method in ("PUT", "POST"):
            req.body = paced(req.body, limit)

    # -- rendering ------------------------------------------------------------------------
    def new_request_id(self) -> str:
        return errors.request_id()

    def error_code(self, err: ShoalError) -> tuple[int, str]:
        return errors.cos_code(err)

    def render_error(self, req: Request, err: ShoalError) -> Response:
        trace = req.state.setdefault("trace_id", errors.trace_id())
        resp = super().render_error(req, err)
        if resp.status != 304:
            resp.headers["x-cos-trace-id"] = trace
        return resp

    def error_fields(self, req: Request, err: ShoalError) -> list[str]:
        trace = req.state.setdefault("trace_id", errors.trace_id())
        resource = hosts.hostname(req.host) + req.raw_path
        return errors.error_parts(err, resource, req.request_id, trace)

    def location(self, req: Request, bucket: str, key: str) -> str:
        host = req.host or "localhost"
        path = quote(key, safe="/-_.~")
        if hosts.bucket_from_host(host, self.domains) == bucket:
            return f"{req.scheme}://{host}/{path}"
        return f"{req.scheme}://{host}/{bucket}/{path}"

    def copy_source(self, value: str) -> tuple[str, str, str | None]:
        return hosts.parse_copy_source(value, self.domains)

    async def post_form_auth(
        self, values: Mapping[str, str], keys: Keyring | None, now: float
    ) -> tuple[Principal, Policy] | None:
        return await post_signature.authenticate(values, keys, now)
