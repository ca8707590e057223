"""The Amazon S3 (and Ncloud) dialect: x-amz- headers, SigV4/SigV2, path and virtual hosts."""

from __future__ import annotations

import time
from dataclasses import replace
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

from ...api.body import counted, declared_length
from ...api.dialect import Dialect
from ...api.request import Request
from ...api.xmldoc import E
from ...core.auth import Keyring, Principal
from ...core.errors import ShoalError
from ...core.numbers import is_decimal
from . import sigv2, sigv4
from .chunked import AwsChunkedReader, ChunkSigning

S3_CLASSES = frozenset({
    "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
    "GLACIER", "GLACIER_IR", "DEEP_ARCHIVE", "OUTPOSTS", "SNOW", "EXPRESS_ONEZONE",
})
S3_CANNED = frozenset({
    "private", "public-read", "public-read-write", "authenticated-read", "aws-exec-read",
    "bucket-owner-read", "bucket-owner-full-control", "log-delivery-write",
})
STREAMING = {
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD": (True, False),
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER": (True, True),
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER": (False, True),
}


class S3Dialect(Dialect):
    name = "s3"
    prefix = "x-amz-"
    xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"
    server = "AmazonS3"
    storage_classes = S3_CLASSES
    default_content_type = "binary/octet-stream"
    kms_algorithm = "aws:kms"
    kms_key_header = "x-amz-server-side-encryption-aws-kms-key-id"
    group_uri_base = "http://acs.amazonaws.com/groups/global/"
    canned_acls = bucket_canned_acls = object_canned_acls = S3_CANNED

    def __init__(self, domains: list[str], min_part_size: int) -> None:
        self.domains = [d.lower().strip(".") for d in domains]
        self.min_part_size = min_part_size

    def matches(self, req: Request) -> bool:
        return True  # the default dialect

    # -- addressing -----------------------------------------------------------------------
    def address(self, req: Request) -> tuple[str | None, str | None]:
        host = req.host.rsplit(":", 1)[0].lower() if "]" not in req.host else req.host.lower()
        path = req.path
        for domain in self.domains:
            if host.endswith("." + domain):
                bucket = host[: -len(domain) - 1]
                return bucket, (path[1:] or None)
        if path in ("", "/"):
            return None, None
        bucket, _, key = path[1:].partition("/")
        return bucket, (key or None)

    # -- authentication -------------------------------------------------------------------
    async def authenticate(self, req: Request, keys: Keyring) -> None:
        auth = req.headers.get("authorization", "").strip()
        now = time.time()
        payload = req.headers.get("x-amz-content-sha256")
        length = declared_length(req)
        signing: ChunkSigning | None = None
        if auth.startswith("AWS4-HMAC-SHA256"):
            params = sigv4.parse_auth_header(auth)
            params = replace(params, amz_date=self._amz_date(req))
            secret, req.principal = await self._lookup(keys, params.access_key)
            sigv4.check_time(params, now)
            if payload is None:
                payload = self._implied_payload_hash(req)
            sigv4.verify(params, secret, req.method, req.raw_path, req.query, req.headers, payload)
            signing = ChunkSigning(
                signing_key=sigv4.signing_key(secret, params.date, params.region, params.service),
                amz_date=params.amz_date or "",
                scope=f"{params.date}/{params.region}/{params.service}/aws4_request",
                seed_signature=params.signature,
            )
        elif "X-Amz-Algorithm" in req.args or "X-Amz-Credential" in req.args:
            params = sigv4.parse_presigned_query(req.query)
            secret, req.principal = await self._lookup(keys, params.access_key)
            sigv4.check_time(params, now)
            payload = req.args.get("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
            sigv4.verify(params, secret, req.method, req.raw_path, req.query, req.headers, payload)
        elif auth.startswith("AWS ") or ("AWSAccessKeyId" in req.args and "Signature" in req.args):
            params2 = sigv2.parse_auth_header(auth) if auth.startswith("AWS ") \
                else sigv2.parse_presigned_query(req.query)
            secret, req.principal = await self._lookup(keys, params2.access_key)
            sigv2.check_time(params2, req.headers, now)
            sigv2.verify(params2, secret, req.method, req.raw_path, req.query, req.headers,
                         bucket=self._v2_bucket(req))
        elif auth:
            raise ShoalError("InvalidArgument", "Unsupported Authorization Type",
                             ArgumentName="Authorization", ArgumentValue=auth[:64])
        self._setup_body(req, payload, length, signing)

    def _setup_body(self, req: Request, payload: str | None, length: int | None,
                    signing: ChunkSigning | None) -> None:
        body = counted(req.raw_stream(), length)
        if payload in STREAMING:
            signed, trailer = STREAMING[payload]
            decoded = req.headers.get("x-amz-decoded-content-length")
            if decoded is None or not is_decimal(decoded):
                raise ShoalError("MissingContentLength")
            reader = AwsChunkedReader(body, signing=signing if signed else None,
                                      expect_trailer=trailer, decoded_length=int(decoded))
            req.state["decoded_length"] = int(decoded)
            req.state["trailers"] = lambda: reader.trailers
            req.body = reader.__aiter__()
            return
        if payload and payload != "UNSIGNED-PAYLOAD":
            if len(payload) != 64:
                raise ShoalError("InvalidArgument", "x-amz-content-sha256 must be "
                                 "UNSIGNED-PAYLOAD, STREAMING-... or a hex SHA-256 digest",
                                 ArgumentName="x-amz-content-sha256", ArgumentValue=payload)
            req.state["payload_sha256"] = payload
        if req.method == "PUT" and length is None and \
                "chunked" not in req.headers.get("transfer-encoding", ""):
            raise ShoalError("MissingContentLength")
        req.state["decoded_length"] = length
        req.body = body

    @staticmethod
    def _implied_payload_hash(req: Request) -> str:
        """Without ``x-amz-content-sha256`` (plain SigV4, as the Ncloud seed request is sent)
        the signed payload hash can only be known up front when there is no body."""
        if req.declares_body:
            raise ShoalError("InvalidRequest", "Missing required header for this request: "
                             "x-amz-content-sha256")
        return sigv4.EMPTY_SHA256

    @staticmethod
    async def _lookup(keys: Keyring, access_key: str) -> tuple[str, Principal]:
        found = await keys.lookup_async(access_key)
        if found is None:
            raise ShoalError("InvalidAccessKeyId", AWSAccessKeyId=access_key)
        return found

    @staticmethod
    def _amz_date(req: Request) -> str:
        value = req.headers.get("x-amz-date")
        if value:
            return value
        date = req.headers.get("date")
        if date:
            try:
                return parsedate_to_datetime(date).strftime("%Y%m%dT%H%M%SZ")
            except (TypeError, ValueError):
                pass
        raise ShoalError("AccessDenied", "AWS authentication requires a valid Date or "
                         "x-amz-date header")

    def _v2_bucket(self, req: Request) -> str | None:
        """The bucket as SigV2 signs it: only virtual-host buckets are prepended."""
        host = req.host.rsplit(":", 1)[0].lower()
        for domain in self.domains:
            if host.endswith("." + domain):
                return host[: -len(domain) - 1]
        return None

    # -- rendering ------------------------------------------------------------------------
    def base_headers(self, req: Request) -> dict[str, str]:
        h = super().base_headers(req)
        h["x-amz-id-2"] = req.request_id
        return h

    def error_fields(self, req: Request, err: ShoalError) -> list[str]:
        parts = [E(k, v) for k, v in err.fields.items()]
        parts.append(E("Resource", req.raw_path))
        parts.append(E("RequestId", req.request_id))
        parts.append(E("HostId", req.request_id))
        return parts

    def location(self, req: Request, bucket: str, key: str) -> str:
        host = req.host or "localhost"
        if any(host.rsplit(":", 1)[0].lower().endswith("." + d) for d in self.domains):
            return f"{req.scheme}://{host}/{quote(key)}"
        return f"{req.scheme}://{host}/{bucket}/{quote(key)}"

    def copy_source(self, value: str) -> tuple[str, str, str | None]:
        version = None
        if "?versionId=" in value:
            value, version = value.split("?versionId=", 1)
        src = unquote(value)
        if src.startswith("/"):
            src = src[1:]
        bucket, _, key = src.partition("/")
        if not bucket or not key:
            raise ShoalError("InvalidArgument", "Invalid copy source object key",
                             ArgumentName="x-amz-copy-source", ArgumentValue=value)
        return bucket, key, version
