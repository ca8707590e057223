"""AWS Signature Version 2 (HMAC-SHA1) for old S3 clients (s3cmd, boto2, HmacV1Auth).

Header form ``Authorization: AWS <AK>:<base64 sig>``; query form ``AWSAccessKeyId``,
``Expires``, ``Signature``. Inputs follow :mod:`shoal.dialects.s3.sigv4`: raw wire path,
decoded query pairs, lower-case header mapping. For virtual-host requests the caller passes
the bucket so the resource becomes ``/<bucket><raw path>``.

Clients disagree on a few details (which sub-resources are signed, whether the path is
signed encoded or decoded, the Date line when ``x-amz-date`` is sent), so :func:`verify`
accepts any of a small set of readings; all of them name the same object and need the
secret, so this widens compatibility without widening what a signature authorises.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from shoal.core.errors import ShoalError
from shoal.dialects.s3.sigv4 import http_date_to_amz_date, parse_amz_date

MAX_SKEW_SECONDS = 15 * 60

# Sub-resources AWS documents for the CanonicalizedResource (and botocore's HmacV1Auth list).
SUBRESOURCES: frozenset[str] = frozenset(
    {
        "accelerate",
        "acl",
        "analytics",
        "cors",
        "defaultObjectAcl",
        "delete",
        "inventory",
        "lifecycle",
        "location",
        "logging",
        "metrics",
        "notification",
        "object-lock",
        "partNumber",
        "policy",
        "replication",
        "requestPayment",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
        "restore",
        "select",
        "select-type",
        "storageClass",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
    }
)
# Signed by some other clients/servers (minio, s3cmd); tried as a second reading.
EXTRA_SUBRESOURCES: frozenset[str] = frozenset(
    {"encryption", "legal-hold", "retention", "ownershipControls", "publicAccessBlock"}
)
_QUERY_AUTH = ("AWSAccessKeyId", "Expires", "Signature")


@dataclass(frozen=True)
class SigV2Params:
    """What a SigV2 ``Authorization`` header or presigned query carries."""

    access_key: str
    signature: str
    presigned: bool
    expires: int | None


# --------------------------------------------------------------------------- parsing


def parse_auth_header(value: str) -> SigV2Params:
    """Parse ``AWS <AccessKeyId>:<Signature>``."""
    scheme, _, rest = value.strip().partition(" ")
    access_key, sep, signature = rest.strip().rpartition(":")
    if scheme != "AWS" or not sep or not access_key or not signature:
        raise ShoalError(
            "AuthorizationHeaderMalformed",
            "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
        )
    return SigV2Params(access_key=access_key, signature=signature, presigned=False, expires=None)


def parse_presigned_query(query: list[tuple[str, str]]) -> SigV2Params:
    """Parse ``AWSAccessKeyId`` / ``Expires`` / ``Signature`` (values already decoded)."""
    fields: dict[str, str] = {}
    for name, value in query:
        if name in _QUERY_AUTH:
            if name in fields:
                raise ShoalError("AuthorizationQueryParametersError", f"{name} is repeated")
            fields[name] = value
    if any(not fields.get(name) for name in _QUERY_AUTH):
        raise ShoalError(
            "AuthorizationQueryParametersError",
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId "
            "parameters",
        )
    expires = fields["Expires"].strip()
    if not expires.isascii() or not expires.isdigit():
        raise ShoalError("AuthorizationQueryParametersError", "Invalid Expires parameter")
    return SigV2Params(
        access_key=fields["AWSAccessKeyId"],
        signature=fields["Signature"],
        presigned=True,
        expires=int(expires),
    )


# --------------------------------------------------------------------------- time


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _request_seconds(headers: Mapping[str, str]) -> tuple[str, float] | None:
    for name in ("x-amz-date", "date"):
        value = headers.get(name)
        if value is None:
            continue
        amz = http_date_to_amz_date(value)
        seconds = parse_amz_date(amz) if amz else None
        return None if seconds is None else (value, seconds)
    return None


def check_time(params: SigV2Params, headers: Mapping[str, str], now: float) -> None:
    """Query form: ``Expires`` passed -> AccessDenied; header form: Date skew > 15 min."""
    if params.presigned:
        expires = params.expires or 0
        if now > expires:
            raise ShoalError(
                "AccessDenied",
                "Request has expired",
                Expires=_iso(expires),
                ServerTime=_iso(now),
            )
        return
    found = _request_seconds(headers)
    if found is None:
        raise ShoalError(
            "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"
        )
    value, seconds = found
    if abs(now - seconds) > MAX_SKEW_SECONDS:
        raise ShoalError(
            "RequestTimeTooSkewed",
            RequestTime=value,
            ServerTime=_iso(now),
            MaxAllowedSkewMilliseconds=str(MAX_SKEW_SECONDS * 1000),
        )


# --------------------------------------------------------------------------- canonical form


def _resource(
    path: str,
    query: Sequence[tuple[str, str]],
    bucket: str | None,
    subresources: frozenset[str],
    blank_equals: bool,
) -> str:
    path = path or "/"
    if bucket:
        path = f"/{bucket}{path}"
    picked = sorted(
        ((name, value) for name, value in query if name in subresources), key=lambda p: p[0]
    )
    if not picked:
        return path
    parts = (f"{n}={v}" if v or blank_equals else n for n, v in picked)
    return path + "?" + "&".join(parts)


def canonical_resource(
    raw_path: str, query: Sequence[tuple[str, str]], *, bucket: str | None = None
) -> str:
    """``/bucket/key`` as on the wire plus the signed sub-resources, sorted by name."""
    return _resource(raw_path, query, bucket, SUBRESOURCES, False)


def amz_headers(headers: Mapping[str, str]) -> str:
    """CanonicalizedAmzHeaders: ``name:value\\n`` for every ``x-amz-*``, sorted."""
    lines = sorted(
        f"{name}:{value.strip()}\n" for name, value in headers.items() if name.startswith("x-amz-")
    )
    return "".join(lines)


def string_to_sign(
    method: str,
    headers: Mapping[str, str],
    resource: str,
    *,
    date: str,
) -> str:
    """``METHOD\\nContent-MD5\\nContent-Type\\n<date>\\n<amz headers><resource>``."""
    return "\n".join(
        (
            method.upper(),
            headers.get("content-md5", "").strip(),
            headers.get("content-type", "").strip(),
            date,
            amz_headers(headers) + resource,
        )
    )


def sign(secret: str, string_to_sign: str) -> str:
    """Base64 HMAC-SHA1."""
    digest = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(digest.digest()).decode("ascii")


# --------------------------------------------------------------------------- verification


def _effective_headers(
    params: SigV2Params, query: Sequence[tuple[str, str]], headers: Mapping[str, str]
) -> Mapping[str, str]:
    """Presigned URLs carry signed ``x-amz-*``/Content-Type/Content-MD5 in the query."""
    if not params.presigned:
        return headers
    merged = dict(headers)
    for name, value in query:
        lower = name.lower()
        if (lower.startswith("x-amz-") or lower in ("content-type", "content-md5")) and (
            lower not in merged
        ):
            merged[lower] = value
    return merged


def _date_lines(params: SigV2Params, headers: Mapping[str, str]) -> list[str]:
    if params.presigned:
        return [str(params.expires)]
    date = headers.get("date", "").strip()
    if "x-amz-date" in headers:
        return ["", date] if date else [""]
    return [date]


def _paths(raw_path: str) -> list[str]:
    # Never the decoded path: "/b/a%252F" decoded equals the wire form of key "a/".
    path = raw_path or "/"
    encoded = quote(unquote_to_bytes(path), safe="/")
    paths = [path] if encoded == path else [path, encoded]
    if path.count("/") == 1 and len(path) > 1:
        paths.append(path + "/")  # botocore signs path-style "/bucket" as "/bucket/"
    return paths


def _subresource_sets(query: Sequence[tuple[str, str]]) -> list[frozenset[str]]:
    if any(name in EXTRA_SUBRESOURCES for name, _ in query):
        return [SUBRESOURCES, SUBRESOURCES | EXTRA_SUBRESOURCES]
    return [SUBRESOURCES]


def _blank_styles(query: Sequence[tuple[str, str]]) -> list[bool]:
    # "?uploads" vs "?uploads=": the decoded query no longer tells them apart.
    if any(not value and name in SUBRESOURCES | EXTRA_SUBRESOURCES for name, value in query):
        return [False, True]
    return [False]


def _candidates(
    params: SigV2Params,
    method: str,
    raw_path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    bucket: str | None,
) -> Iterator[str]:
    headers = _effective_headers(params, query, headers)
    seen: set[str] = set()
    for date, subs, blank, path in itertools.product(
        _date_lines(params, headers),
        _subresource_sets(query),
        _blank_styles(query),
        _paths(raw_path),
    ):
        resource = _resource(path, query, bucket, subs, blank)
        sts = string_to_sign(method, headers, resource, date=date)
        if sts not in seen:
            seen.add(sts)
            yield sts


def verify(
    params: SigV2Params,
    secret: str,
    method: str,
    raw_path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    *,
    bucket: str | None = None,
) -> None:
    """Recompute the signature; raise ``SignatureDoesNotMatch`` when no reading matches."""
    # Form decoding turns a raw '+' of base64 into a space; base64 never contains spaces.
    provided = params.signature.replace(" ", "+").strip().encode("utf-8", "replace")
    first: str | None = None
    for sts in _candidates(params, method, raw_path, query, headers, bucket):
        if hmac.compare_digest(sign(secret, sts).encode("ascii"), provided):
            return
        first = first if first is not None else sts
    assert first is not None
    raise ShoalError(
        "SignatureDoesNotMatch",
        AWSAccessKeyId=params.access_key,
        StringToSign=first,
        SignatureProvided=params.signature,
        StringToSignBytes=first.encode("utf-8").hex(" "),
    )
