"""AWS Signature Version 4 for S3: parsing, canonicalisation and verification.

Pure functions, no HTTP. The caller hands in the request as seen on the wire:

* ``raw_path``: the path exactly as received, still percent-encoded (``/bkt/a%20b``);
  non-ASCII characters in it are taken as UTF-8.
* ``query``: decoded ``(name, value)`` pairs in request order (form rules, blanks kept).
* ``headers``: lower-case name -> value (repeated headers already joined with ``,``).

Typical use::

    params = parse_auth_header(headers["authorization"])          # or parse_presigned_query
    if not params.presigned:
        params = dataclasses.replace(params, amz_date=header_amz_date(headers))
    check_time(params, time.time())
    verify(params, secret, method, raw_path, query, headers, headers["x-amz-content-sha256"])
"""

from __future__ import annotations

import calendar
import email.utils
import functools
import hashlib
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote_to_bytes

from shoal.core.errors import ShoalError

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
SERVICE = "s3"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW_SECONDS = 15 * 60
MAX_EXPIRES = 604800

_AMZ_DATE_RE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_DATE_RE = re.compile(r"[0-9]{8}")
# Components are comma separated; tolerate a missing comma before the next component name.
_SPLIT_RE = re.compile(r",|\s+(?=(?:Credential|SignedHeaders|Signature)=)")
_PRESIGN_FIELDS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)
_QUERY_AUTH_HELP = (
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
)


@dataclass(frozen=True)
class SigV4Params:
    """What a SigV4 ``Authorization`` header or presigned query carries."""

    access_key: str
    date: str
    region: str
    service: str
    signed_headers: list[str]
    signature: str
    amz_date: str | None
    presigned: bool
    expires: int | None

    @property
    def scope(self) -> str:
        """``<date>/<region>/<service>/aws4_request``."""
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"


# --------------------------------------------------------------------------- parsing


def _header_malformed(detail: str) -> ShoalError:
    return ShoalError(
        "AuthorizationHeaderMalformed", f"The authorization header is malformed; {detail}"
    )


def _query_error(detail: str) -> ShoalError:
    return ShoalError("AuthorizationQueryParametersError", detail)


def _split_credential(value: str) -> tuple[str, str, str, str] | None:
    """``AK/yyyymmdd/region/service/aws4_request`` -> (ak, date, region, service)."""
    parts = value.rsplit("/", 4)
    if len(parts) != 5 or not parts[0] or not parts[2]:
        return None
    access_key, date, region, service, terminator = parts
    if not _DATE_RE.fullmatch(date) or not service or not terminator:
        return None
    return access_key, date, region, service


def _credential_problem(value: str) -> str | None:
    """Why a well-shaped credential is still not acceptable, or None."""
    _, _, _, service, terminator = value.rsplit("/", 4)
    if terminator != TERMINATOR:
        return f"the Credential should be scoped with a valid terminator: '{TERMINATOR}'"
    if service != SERVICE:
        return f"the Credential should be scoped to correct service: '{SERVICE}'"
    return None


def _split_signed_headers(value: str) -> list[str] | None:
    names = [name.strip().lower() for name in value.split(";")]
    if not names or any(not name for name in names):
        return None
    return names


def _auth_fields(rest: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in _SPLIT_RE.split(rest):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep or name in fields:
            raise _header_malformed(f"incorrect component: {item!r}")
        fields[name] = value
    return fields


def parse_auth_header(value: str) -> SigV4Params:
    """Parse ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM and algorithm.startswith(ALGORITHM):
        algorithm, rest = ALGORITHM, algorithm[len(ALGORITHM) :] + " " + rest
    if algorithm != ALGORITHM:
        raise _header_malformed(f"the authorization mechanism must be '{ALGORITHM}'")
    fields = _auth_fields(rest)
    for name in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(name):
            raise _header_malformed(f"missing {name}")
    credential = _split_credential(fields["Credential"])
    if credential is None:
        raise _header_malformed(
            'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/'
            'aws4_request".'
        )
    problem = _credential_problem(fields["Credential"])
    if problem:
        raise _header_malformed(problem)
    signed = _split_signed_headers(fields["SignedHeaders"])
    if signed is None:
        raise _header_malformed("the SignedHeaders list is malformed")
    access_key, date, region, service = credential
    return SigV4Params(
        access_key=access_key,
        date=date,
        region=region,
        service=service,
        signed_headers=signed,
        signature=fields["Signature"],
        amz_date=None,
        presigned=False,
        expires=None,
    )


def _presign_fields(query: Sequence[tuple[str, str]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in query:
        if name in _PRESIGN_FIELDS:
            if name in fields:
                raise _query_error(f"{name} is given more than once.")
            fields[name] = value
    if any(not fields.get(name) for name in _PRESIGN_FIELDS):
        raise _query_error(_QUERY_AUTH_HELP)
    return fields


def _parse_expires(value: str) -> int:
    if not value.isascii() or not value.isdigit():
        raise _query_error("X-Amz-Expires should be a number")
    expires = int(value)
    if expires < 1:
        raise _query_error("X-Amz-Expires must be non-negative")
    if expires > MAX_EXPIRES:
        raise _query_error(
            f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES}"
        )
    return expires


def parse_presigned_query(query: list[tuple[str, str]]) -> SigV4Params:
    """Parse the ``X-Amz-*`` parameters of a presigned URL (values already decoded)."""
    fields = _presign_fields(query)
    if fields["X-Amz-Algorithm"] != ALGORITHM:
        raise _query_error(f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    credential = _split_credential(fields["X-Amz-Credential"])
    if credential is None:
        raise _query_error(
            "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; "
            'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
        )
    problem = _credential_problem(fields["X-Amz-Credential"])
    if problem:
        raise _query_error(f"Error parsing the X-Amz-Credential parameter; {problem}")
    amz_date = fields["X-Amz-Date"]
    if parse_amz_date(amz_date) is None:
        raise _query_error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    signed = _split_signed_headers(fields["X-Amz-SignedHeaders"])
    if signed is None:
        raise _query_error("X-Amz-SignedHeaders is malformed")
    access_key, date, region, service = credential
    return SigV4Params(
        access_key=access_key,
        date=date,
        region=region,
        service=service,
        signed_headers=signed,
        signature=fields["X-Amz-Signature"],
        amz_date=amz_date,
        presigned=True,
        expires=_parse_expires(fields["X-Amz-Expires"]),
    )


# --------------------------------------------------------------------------- time


def parse_amz_date(value: str) -> float | None:
    """``yyyymmddTHHMMSSZ`` -> Unix seconds, or None when malformed."""
    if not _AMZ_DATE_RE.fullmatch(value):
        return None
    try:
        parsed = datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    return parsed.timestamp()


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def http_date_to_amz_date(value: str) -> str | None:
    """RFC 1123 ``Date`` header (or an already ISO8601 basic one) -> ``yyyymmddTHHMMSSZ``."""
    value = value.strip()
    if parse_amz_date(value) is not None:
        return value
    try:
        parsed = email.utils.parsedate_to_datetime(value)
        seconds = parsed.timestamp() if parsed.tzinfo else calendar.timegm(parsed.timetuple())
        converted = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(seconds))
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None
    return converted if parse_amz_date(converted) is not None else None


def header_amz_date(headers: Mapping[str, str]) -> str:
    """The request time for header auth: ``x-amz-date``, else ``Date`` converted."""
    value = headers.get("x-amz-date")
    if value is not None:
        value = value.strip()
        if parse_amz_date(value) is not None:
            return value
    elif headers.get("date") is not None:
        converted = http_date_to_amz_date(headers["date"])
        if converted is not None:
            return converted
    raise ShoalError(
        "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"
    )


def _check_scope_date(params: SigV4Params, amz_date: str) -> None:
    if params.date == amz_date[:8]:
        return
    if params.presigned:
        raise _query_error(
            f'Invalid credential date "{params.date}". This date is not the same as '
            f'X-Amz-Date: "{amz_date[:8]}".'
        )
    raise _header_malformed("Invalid credential date. Date is not the same as X-Amz-Date.")


def _request_seconds(params: SigV4Params) -> tuple[str, float]:
    amz_date = params.amz_date or ""
    seconds = parse_amz_date(amz_date)
    if seconds is None:
        if params.presigned:
            raise _query_error(
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
            )
        raise ShoalError(
            "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"
        )
    return amz_date, seconds


def check_time(params: SigV4Params, now: float) -> None:
    """Reject skewed, expired or not-yet-valid requests and a scope date != request date."""
    amz_date, seconds = _request_seconds(params)
    _check_scope_date(params, amz_date)
    if not params.presigned:
        if abs(now - seconds) > MAX_SKEW_SECONDS:
            raise ShoalError(
                "RequestTimeTooSkewed",
                RequestTime=amz_date,
                ServerTime=_iso(now),
                MaxAllowedSkewMilliseconds=str(MAX_SKEW_SECONDS * 1000),
            )
        return
    if seconds - now > MAX_SKEW_SECONDS:
        raise ShoalError("AccessDenied", "Request is not valid yet")
    expires = params.expires or 0
    if now > seconds + expires:
        raise ShoalError(
            "AccessDenied",
            "Request has expired",
            **{
                "X-Amz-Expires": str(expires),
                "Expires": _iso(seconds + expires),
                "ServerTime": _iso(now),
            },
        )


# --------------------------------------------------------------------------- canonical form


def canonical_uri(raw_path: str) -> str:
    """Decode the wire path once and re-encode it with the AWS rule (``/`` kept)."""
    if not raw_path:
        return "/"
    return quote(unquote_to_bytes(raw_path), safe="/")


def _encode(value: str) -> str:
    return quote(value, safe="")


def canonical_query(query: Sequence[tuple[str, str]], *, exclude_signature: bool) -> str:
    """Sorted ``name=value`` pairs, each side AWS-encoded, joined with ``&``."""
    pairs = sorted(
        (_encode(name), _encode(value))
        for name, value in query
        if not (exclude_signature and name == "X-Amz-Signature")
    )
    return "&".join(f"{name}={value}" for name, value in pairs)


def canonical_header_value(value: str) -> str:
    """Trim and collapse inner whitespace runs to one space (botocore's Trimall)."""
    return " ".join(value.split())


def _canonical_headers(headers: Mapping[str, str], signed_headers: Sequence[str]) -> str:
    return "".join(
        f"{name}:{canonical_header_value(headers.get(name, ''))}\n" for name in signed_headers
    )


def _build_canonical_request(
    method: str,
    uri: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload_hash: str,
    presigned: bool,
) -> str:
    return "\n".join(
        (
            method.upper(),
            uri,
            canonical_query(query, exclude_signature=presigned),
            _canonical_headers(headers, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        )
    )


def canonical_request(
    method: str,
    raw_path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload_hash: str,
    *,
    presigned: bool,
) -> str:
    """The SigV4 canonical request (S3 flavour: no path normalisation, single encoding)."""
    return _build_canonical_request(
        method,
        canonical_uri(raw_path),
        query,
        headers,
        signed_headers,
        payload_hash,
        presigned,
    )


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    """``AWS4-HMAC-SHA256\\n<date>\\n<scope>\\n<hex sha256(canonical request)>``."""
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


@functools.lru_cache(maxsize=1024)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC chain over date, region, service and ``aws4_request``."""
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, TERMINATOR)


def sign(key: bytes, string_to_sign: str) -> str:
    """Hex HMAC-SHA256 of the string to sign."""
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- verification


def presigned_payload_hash(query: Sequence[tuple[str, str]]) -> str:
    """``X-Amz-Content-Sha256`` from the query when present, else ``UNSIGNED-PAYLOAD``."""
    for name, value in query:
        if name.lower() == "x-amz-content-sha256":
            return value
    return UNSIGNED_PAYLOAD


def signatures_equal(expected: str, provided: str) -> bool:
    """Constant-time comparison of two hex signatures (case-insensitive)."""
    return hmac.compare_digest(
        expected.encode("ascii"), provided.strip().lower().encode("utf-8", "replace")
    )


def _candidate_uris(raw_path: str) -> list[str]:
    """AWS-canonical URI first; the raw wire path too when a client signed it verbatim."""
    primary = canonical_uri(raw_path)
    raw = raw_path or "/"
    return [primary] if raw == primary else [primary, raw]


def _mismatch(params: SigV4Params, sts: str, creq: str) -> ShoalError:
    return ShoalError(
        "SignatureDoesNotMatch",
        AWSAccessKeyId=params.access_key,
        StringToSign=sts,
        SignatureProvided=params.signature,
        StringToSignBytes=sts.encode("utf-8").hex(" "),
        CanonicalRequest=creq,
        CanonicalRequestBytes=creq.encode("utf-8").hex(" "),
    )


def verify(
    params: SigV4Params,
    secret: str,
    method: str,
    raw_path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    payload_hash: str,
) -> None:
    """Recompute the signature; raise ``SignatureDoesNotMatch`` when it differs.

    ``payload_hash`` is the ``x-amz-content-sha256`` header value; presigned requests
    ignore it and use :func:`presigned_payload_hash` instead.
    """
    amz_date, _ = _request_seconds(params)
    _check_scope_date(params, amz_date)
    if params.presigned:
        payload_hash = presigned_payload_hash(query)
    key = signing_key(secret, params.date, params.region, params.service)
    first: tuple[str, str] | None = None
    for uri in _candidate_uris(raw_path):
        creq = _build_canonical_request(
            method, uri, query, headers, params.signed_headers, payload_hash, params.presigned
        )
        sts = string_to_sign(amz_date, params.scope, creq)
        if signatures_equal(sign(key, sts), params.signature):
            return
        first = first or (sts, creq)
    assert first is not None
    raise _mismatch(params, *first)
