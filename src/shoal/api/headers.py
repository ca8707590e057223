"""Request headers -> core values (metadata, ACL, tags, SSE, conditions) and back."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from email.utils import formatdate, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, quote

from ..core.conditions import Conditions, WriteConditions
from ..core.errors import ShoalError
from ..core.model import ObjectMeta, ObjectRecord
from ..core.numbers import is_decimal
from .acl import grantee_id
from .dialect import Dialect
from .request import Request

MAX_USER_META = 2048
MAX_TAGS = 10
STANDARD_HEADERS = (
    ("content_type", "content-type", "Content-Type"),
    ("cache_control", "cache-control", "Cache-Control"),
    ("content_disposition", "content-disposition", "Content-Disposition"),
    ("content_encoding", "content-encoding", "Content-Encoding"),
    ("content_language", "content-language", "Content-Language"),
    ("expires", "expires", "Expires"),
)
GRANTS = ("read", "write", "read-acp", "write-acp", "full-control")


def http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


def parse_http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def object_meta(req: Request, d: Dialect) -> ObjectMeta:
    """Everything a PUT / Initiate / Copy-with-REPLACE stores about the future object."""
    meta = ObjectMeta()
    hdr = req.headers
    for attr, name, _ in STANDARD_HEADERS:
        value = hdr.get(name)
        if value is not None:
            setattr(meta, attr, value)
    if meta.content_encoding:
        meta.content_encoding = strip_aws_chunked(meta.content_encoding)
    meta.user = user_metadata(req, d)
    meta.storage_class = storage_class(req, d)
    meta.tags = tags_from_header(hdr.get(d.h("tagging")))
    meta.acl = object_acl(req, d)
    meta.sse = sse_from_headers(req, d)
    meta.website_redirect = hdr.get(d.h("website-redirect-location"))
    return meta


def strip_aws_chunked(value: str) -> str | None:
    """Content-Encoding without the transfer coding ``aws-chunked`` (kept verbatim otherwise)."""
    codings = [e.strip() for e in value.split(",")]
    if "aws-chunked" not in codings:
        return value
    return ", ".join(c for c in codings if c and c != "aws-chunked") or None


def user_metadata(req: Request, d: Dialect) -> dict[str, str]:
    pre = d.h("meta-")
    user = {k[len(pre):]: v for k, v in req.headers.items() if k.startswith(pre)}
    if sum(len(k.encode()) + len(v.encode()) for k, v in user.items()) > MAX_USER_META:
        raise ShoalError("MetadataTooLarge", Size=str(sum(len(k) + len(v) for k, v in
                                                         user.items())), MaxSizeAllowed="2048")
    return user


def storage_class(req: Request, d: Dialect) -> str:
    value = req.headers.get(d.h("storage-class"))
    if value is None or value == "":
        return "STANDARD"
    if value.upper() not in d.storage_classes:
        raise ShoalError("InvalidStorageClass", StorageClassRequested=value)
    return value.upper()


def check_tags(tags: list[tuple[str, str]]) -> list[tuple[str, str]]:
    if len(tags) > MAX_TAGS:
        raise ShoalError("InvalidTag", "Object tags cannot be greater than 10")
    seen: set[str] = set()
    for k, v in tags:
        if not k or len(k) > 128:
            raise ShoalError("InvalidTag", "The TagKey you have provided is invalid", TagKey=k)
        if len(v) > 256:
            raise ShoalError("InvalidTag", "The TagValue you have provided is too long",
                             TagKey=k)
        if k in seen:
            raise ShoalError("InvalidTag", "Cannot provide multiple Tags with the same key",
                             TagKey=k)
        seen.add(k)
    return tags


def tags_from_header(value: str | None) -> list[tuple[str, str]]:
    if not value:
        return []
    try:
        # A bare "name" (no "=") is a tag with an empty value.
        pairs = parse_qsl(value, keep_blank_values=True, errors="strict")
    except ValueError as exc:
        raise ShoalError("InvalidArgument", "The header 'x-amz-tagging' shall be encoded as "
                         "UTF-8 then URLEncoded URL query parameters without tag name "
                         "duplicates.") from exc
    return check_tags(pairs)


_GRANTEE_KINDS = {"id": "id", "uin": "id", "uri": "uri", "emailaddress": "email"}


def parse_grantees(value: str) -> list[dict[str, str]]:
    """A grant header's ``kind="value"`` list. Kinds: ``id`` (COS spellings of ids too, see
    ``acl.grantee_id``), COS ``uin`` (an id), ``uri`` (a group) and ``emailAddress``."""
    out: list[dict[str, str]] = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        kind, sep, val = item.partition("=")
        field = _GRANTEE_KINDS.get(kind.strip().lower())
        val = val.strip().strip('"').strip()
        if field == "id":
            val = grantee_id(val)
        if not sep or field is None or not val:
            raise ShoalError("InvalidArgument", "Invalid grant header value",
                             ArgumentValue=item)
        out.append({field: val})
    return out


def acl_from_headers(req: Request, d: Dialect, *, bucket: bool = False
                     ) -> dict[str, Any] | None:
    """The ACL a request's ``{x}-acl`` or ``{x}-grant-*`` headers set (None: neither)."""
    canned = req.headers.get(d.h("acl"))
    grants: list[dict[str, str]] = []
    for g in GRANTS:
        value = req.headers.get(d.h(f"grant-{g}"))
        if value:
            perm = g.upper().replace("-", "_")
            grants += [dict(x, permission=perm) for x in parse_grantees(value)]
    if canned is not None and grants:
        raise ShoalError("InvalidRequest", "Specifying both Canned ACLs and Header Grants is "
                         "not allowed")
    if canned is not None:
        allowed = d.bucket_canned_acls if bucket else d.object_canned_acls
        if canned not in allowed:
            raise ShoalError("InvalidArgument", ArgumentName=d.h("acl"), ArgumentValue=canned)
        return {"canned": canned}
    if grants:
        return {"grants": grants}
    return None


def object_acl(req: Request, d: Dialect) -> dict[str, Any] | None:
    """A new object's ACL: the request's, else the dialect's default (COS: inherit the
    bucket's, ``default``; S3: none, i.e. private)."""
    acl = acl_from_headers(req, d)
    if acl is None:
        return dict(d.default_object_acl) if d.default_object_acl else None
    return acl


def sse_from_headers(req: Request, d: Dialect, copy_source: bool = False) -> dict[str, Any] | None:
    """SSE request headers, validated. The SSE-C key itself is never kept."""
    hdr = req.headers
    pre = d.h("copy-source-server-side-encryption") if copy_source else \
        d.h("server-side-encryption")
    algo = None if copy_source else hdr.get(pre)
    c_algo = hdr.get(pre + "-customer-algorithm")
    c_key = hdr.get(pre + "-customer-key")
    c_md5 = hdr.get(pre + "-customer-key-md5")
    if algo is None and not copy_source and hdr.get(d.kms_key_header):
        raise ShoalError("InvalidArgument", "Server Side Encryption with KMS managed key "
                         f"requires HTTP header {pre} : {d.kms_algorithm}",
                         ArgumentName=d.kms_key_header)
    if algo is not None:
        if algo not in ("AES256", d.kms_algorithm, "aws:kms:dsse"):
            raise ShoalError("InvalidArgument", "The encryption method specified is not "
                             "supported", ArgumentName=pre, ArgumentValue=algo)
        out: dict[str, Any] = {"algorithm": algo}
        if algo != "AES256":
            key_id = hdr.get(d.kms_key_header)
            if key_id:
                out["kms_key_id"] = key_id
            ctx = hdr.get(pre + "-context")
            if ctx:
                try:
                    json.loads(base64.b64decode(ctx, validate=True))
                except (binascii.Error, ValueError) as exc:
                    raise ShoalError("InvalidArgument", "The encryption context is not valid",
                                     ArgumentName=pre + "-context") from exc
                out["context"] = ctx
            if hdr.get(pre + "-bucket-key-enabled", "").lower() == "true":
                out["bucket_key_enabled"] = True
        elif hdr.get(d.kms_key_header):
            raise ShoalError("InvalidArgument", "Server Side Encryption with KMS managed key "
                             "requires HTTP header x-amz-server-side-encryption : aws:kms")
        if c_algo or c_key:
            raise ShoalError("InvalidArgument", "Server Side Encryption with Customer provided "
                             "key is incompatible with the encryption method specified")
        return out
    if c_algo is None and c_key is None and c_md5 is None:
        return None
    if c_algo != "AES256":
        if c_algo is None:
            raise ShoalError("InvalidArgument", "Requests specifying Server Side Encryption "
                             "with Customer provided keys must provide a valid encryption "
                             "algorithm.", ArgumentName=pre + "-customer-algorithm")
        raise ShoalError("InvalidEncryptionAlgorithmError", "The encryption request you "
                         "specified is not valid. Supported value: AES256.",
                         ArgumentName=pre + "-customer-algorithm", ArgumentValue=c_algo)
    try:
        key = base64.b64decode(c_key or "", validate=True)
    except binascii.Error:
        key = b""
    if len(key) != 32:
        raise ShoalError("InvalidArgument", "The secret key was invalid for the specified "
                         "algorithm.", ArgumentName=pre + "-customer-key")
    digest = base64.b64encode(hashlib.md5(key).digest()).decode()
    if c_md5 is None:
        raise ShoalError("InvalidArgument", "Requests specifying Server Side Encryption with "
                         "Customer provided keys must provide the client calculated MD5 of the "
                         "secret key.", ArgumentName=pre + "-customer-key-MD5")
    if c_md5 != digest:
        raise ShoalError("InvalidArgument", "The calculated MD5 hash of the key did not match "
                         "the hash that was provided.", ArgumentName=pre + "-customer-key-MD5")
    return {"algorithm": "SSE-C", "customer_algorithm": "AES256", "customer_key_md5": digest}


def sse_customer_key(req: Request, d: Dialect, copy_source: bool = False) -> bytes | None:
    """The SSE-C key the request carries (``{x}-copy-source-...`` with copy_source), after the
    checks of ``sse_from_headers``; None when it carries none. Never store it."""
    sse = sse_from_headers(req, d, copy_source=copy_source)
    if not sse or sse.get("algorithm") != "SSE-C":
        return None
    pre = d.h("copy-source-server-side-encryption") if copy_source else \
        d.h("server-side-encryption")
    return base64.b64decode(req.headers[pre + "-customer-key"])


KMS_ALGORITHMS = ("aws:kms", "cos/kms")


def sse_response_headers(sse: dict[str, Any] | None, d: Dialect,
                         key_md5: str | None = None) -> dict[str, str]:
    """The SSE headers describing an object (or upload); ``key_md5`` is the MD5 of the SSE-C
    key the request brought (objects keep no trace of it that could be echoed)."""
    if not sse:
        return {}
    algo = sse.get("algorithm")
    if algo == "SSE-C":
        out = {d.h("server-side-encryption-customer-algorithm"): sse["customer_algorithm"]}
        md5 = key_md5 or sse.get("customer_key_md5")
        if md5:
            out[d.h("server-side-encryption-customer-key-MD5")] = md5
        return out
    out = {d.h("server-side-encryption"): d.kms_algorithm if algo in KMS_ALGORITHMS
           else str(algo)}
    if sse.get("kms_key_id"):
        out[d.kms_key_header] = sse["kms_key_id"]
    if sse.get("context"):
        out[d.h("server-side-encryption-context")] = sse["context"]
    if sse.get("bucket_key_enabled"):
        out[d.h("server-side-encryption-bucket-key-enabled")] = "true"
    return out


def conditions(req: Request, prefix: str = "if-") -> Conditions:
    """If-* headers (or x-amz-copy-source-if-* with prefix=d.h("copy-source-if-"))."""
    hdr = req.headers
    return Conditions(
        if_match=hdr.get(prefix + "match"),
        if_none_match=hdr.get(prefix + "none-match"),
        if_modified_since=parse_http_date(hdr.get(prefix + "modified-since")),
        if_unmodified_since=parse_http_date(hdr.get(prefix + "unmodified-since")),
    )


def write_conditions(req: Request, d: Dialect, *, delete: bool = False) -> WriteConditions:
    """If-Match / If-None-Match of a write; for deletes also the match-time/size headers."""
    hdr = req.headers
    cond = WriteConditions(if_match=hdr.get("if-match"),
                           if_none_match=None if delete else hdr.get("if-none-match"),
                           forbid_overwrite=not delete and forbids_overwrite(req, d))
    if delete:
        when = hdr.get(d.h("if-match-last-modified-time"))
        if when is not None:
            cond.match_last_modified = parse_http_date(when)
            if cond.match_last_modified is None:
                raise ShoalError("InvalidArgument", "Invalid date",
                                 ArgumentName=d.h("if-match-last-modified-time"),
                                 ArgumentValue=when)
        size = hdr.get(d.h("if-match-size"))
        if size is not None:
            cond.match_size = parse_size(size, d.h("if-match-size"))
    return cond


def forbids_overwrite(req: Request, d: Dialect) -> bool:
    """COS ``x-cos-forbid-overwrite: true``: the write must not replace an existing object
    (buckets here are never versioned, where COS ignores it)."""
    name = d.forbid_overwrite_header
    return name is not None and req.headers.get(name, "").strip().lower() == "true"


def parse_size(value: str, name: str) -> int:
    if not is_decimal(value.strip()):
        raise ShoalError("InvalidArgument", f"Invalid {name}", ArgumentName=name,
                         ArgumentValue=value)
    return int(value)


def object_headers(record: ObjectRecord, d: Dialect, req: Request) -> dict[str, str]:
    """Headers describing a stored object (GET/HEAD)."""
    meta = record.meta
    h: dict[str, str] = {
        "Content-Type": meta.content_type or d.default_content_type,
        "ETag": f'"{record.etag}"',
        "Last-Modified": http_date(record.last_modified),
        "Accept-Ranges": "bytes",
    }
    for attr, _, wire in STANDARD_HEADERS[1:]:
        value = getattr(meta, attr)
        if value is not None:
            h[wire] = value
    for k, v in meta.user.items():
        h[d.h("meta-") + k] = v
    if meta.storage_class != "STANDARD" or d.emit_standard_storage_class:
        h[d.h("storage-class")] = meta.storage_class
    if meta.tags:
        h[d.h("tagging-count")] = str(len(meta.tags))
    if meta.website_redirect:
        h[d.h("website-redirect-location")] = meta.website_redirect
    h.update(sse_response_headers(meta.sse, d))
    if req.headers.get(d.h("checksum-mode"), "").upper() == "ENABLED" and record.checksums:
        for algo, value in record.checksums.items():
            h[d.h(f"checksum-{algo}")] = value
        if record.checksum_type:
            h[d.h("checksum-type")] = record.checksum_type
    if d.crc64_header and record.crc64ecma is not None:
        h[d.crc64_header] = str(record.crc64ecma)
    return h


def response_overrides(req: Request) -> dict[str, str]:
    names = {
        "response-content-type": "Content-Type",
        "response-content-language": "Content-Language",
        "response-expires": "Expires",
        "response-cache-control": "Cache-Control",
        "response-content-disposition": "Content-Disposition",
        "response-content-encoding": "Content-Encoding",
    }
    return {wire: req.args[q] for q, wire in names.items() if q in req.args}


def encode_key(value: str, url: bool) -> str:
    """encoding-type=url: percent-encode like S3 (space as %20, '/' kept)."""
    return quote(value, safe="/-_.~") if url else value
