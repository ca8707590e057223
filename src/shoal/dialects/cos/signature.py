"""COS XML request signature (``q-sign-algorithm=sha1``): parsing, signing, verification.

Pure functions, no HTTP server code. Algorithm and verification rules: dialects.md section 3.

    KeyTime       = "<start>;<end>"
    SignKey       = hex HMAC-SHA1(SecretKey, KeyTime)
    HttpString    = lower(method) \\n decoded path \\n HttpParameters \\n HttpHeaders \\n
    StringToSign  = "sha1" \\n KeyTime \\n hex SHA1(HttpString) \\n
    Signature     = hex HMAC-SHA1(SignKey, StringToSign)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from shoal.core.errors import ShoalError

ALGORITHM = "sha1"
# Accepted clock skew on the start of the signing window (the SDK starts at now - 60).
START_SKEW = 900
FIELDS = (
    "q-sign-algorithm",
    "q-ak",
    "q-sign-time",
    "q-key-time",
    "q-header-list",
    "q-url-param-list",
    "q-signature",
)
# Message of InvalidAccessKeyId for an unknown q-ak.
UNKNOWN_KEY = "The access key Id format you provided is invalid, please check your access key Id."
_TIME_RE = re.compile(r"([0-9]{1,20});([0-9]{1,20})")
_SAFE = "-_.~"


@dataclass(frozen=True)
class CosAuth:
    """The seven ``q-*`` fields of one request, from the header or the query."""

    algorithm: str
    access_key: str
    sign_time: tuple[int, int]
    key_time: str
    header_list: list[str]
    url_param_list: list[str]
    signature: str
    presigned: bool


def _utf8(s: str) -> bytes:
    """UTF-8 bytes; raw bytes kept by ``surrogateescape`` decoding come back unchanged."""
    return s.encode("utf-8", "surrogateescape")


def encode(s: str) -> str:
    """Percent-encode every UTF-8 byte except ``A-Za-z0-9-_.~`` (upper-case hex)."""
    return quote(_utf8(s), safe=_SAFE)


def _canon_name(name: str) -> str:
    return encode(name).lower()


def _parse_time(value: str) -> tuple[int, int]:
    """``"start;end"`` -> (start, end); anything else is AccessDenied."""
    m = _TIME_RE.fullmatch(value.strip())
    if m is None:
        raise ShoalError("AccessDenied", "Invalid q-sign-time or q-key-time")
    return int(m.group(1)), int(m.group(2))


def _split_list(value: str) -> list[str]:
    """``"a;b"`` -> ["a", "b"]; empty string -> []."""
    return [item.strip().lower() for item in value.split(";") if item.strip()]


def _build(fields: Mapping[str, str], presigned: bool) -> CosAuth:
    """Validate the collected fields and build a CosAuth."""
    missing = [name for name in FIELDS if name not in fields]
    if missing:
        raise ShoalError("AccessDenied", f"Authorization field {missing[0]} is missing")
    algorithm = fields["q-sign-algorithm"]
    if algorithm != ALGORITHM:
        raise ShoalError("AccessDenied", "q-sign-algorithm must be sha1")
    _parse_time(fields["q-key-time"])
    return CosAuth(
        algorithm=algorithm,
        access_key=fields["q-ak"],
        sign_time=_parse_time(fields["q-sign-time"]),
        key_time=fields["q-key-time"],
        header_list=_split_list(fields["q-header-list"]),
        url_param_list=_split_list(fields["q-url-param-list"]),
        signature=fields["q-signature"],
        presigned=presigned,
    )


def _first_fields(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The first value of every ``q-*`` signature field among ``pairs``."""
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in FIELDS and key not in fields:
            fields[key] = value
    return fields


def parse_auth_header(value: str) -> CosAuth:
    """Parse an ``Authorization: q-sign-algorithm=sha1&q-ak=...`` header value."""
    pairs = []
    for item in value.strip().split("&"):
        key, _, val = item.partition("=")
        pairs.append((key.strip(), val.strip()))
    return _build(_first_fields(pairs), presigned=False)


def parse_auth_query(query: Sequence[tuple[str, str]]) -> CosAuth | None:
    """Signature fields of a presigned URL (decoded query); None without ``q-sign-algorithm``."""
    fields = _first_fields(query)
    if "q-sign-algorithm" not in fields:
        return None
    return _build(fields, presigned=True)


def _canonical(pairs: Mapping[str, str], names: Sequence[str]) -> str:
    """``k1=v1&k2=v2`` over ``names`` sorted; ``pairs`` maps canonical name -> raw value."""
    return "&".join(f"{name}={encode(pairs.get(name, ''))}" for name in sorted(names))


def _first_by_name(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Canonical name -> first raw value."""
    out: dict[str, str] = {}
    for key, value in items:
        out.setdefault(_canon_name(key), value)
    return out


def _format(method: str, path: str, params: str, headers: str) -> str:
    return f"{method.lower()}\n{path}\n{params}\n{headers}\n"


def http_string(
    method: str,
    decoded_path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    auth: CosAuth,
) -> str:
    """The HttpString (FormatString) over the params and headers that ``auth`` lists."""
    params = _canonical(_first_by_name(query), auth.url_param_list)
    signed = _canonical(_first_by_name(headers.items()), auth.header_list)
    return _format(method, decoded_path, params, signed)


def sign_key(secret: str, key_time: str) -> str:
    """Hex HMAC-SHA1(SecretKey, KeyTime)."""
    return hmac.new(_utf8(secret), _utf8(key_time), hashlib.sha1).hexdigest()


def string_to_sign(key_time: str, http_str: str) -> str:
    """``sha1\\n<KeyTime>\\n<hex SHA1(HttpString)>\\n``."""
    digest = hashlib.sha1(_utf8(http_str)).hexdigest()
    return f"{ALGORITHM}\n{key_time}\n{digest}\n"


def sign(secret: str, key_time: str, http_string: str) -> str:
    """Hex signature of ``http_string`` with ``secret`` over ``key_time``."""
    key = sign_key(secret, key_time)
    return hmac.new(
        _utf8(key), _utf8(string_to_sign(key_time, http_string)), hashlib.sha1
    ).hexdigest()


def _iso8601(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


def _check_window(start: int, end: int, now: float) -> None:
    if now > end:
        raise ShoalError("AccessDenied", "Request has expired", ServerTime=_iso8601(now))
    if start > now + START_SKEW:
        raise ShoalError("AccessDenied", "Request is not valid yet", ServerTime=_iso8601(now))


def check_time(auth: CosAuth, now: float) -> None:
    """Reject expired or not-yet-valid signatures.

    Both q-sign-time and q-key-time must hold: only q-key-time is covered by the signature, so
    checking q-sign-time alone would let a holder of a presigned URL extend its lifetime.
    """
    key_start, key_end = _parse_time(auth.key_time)
    _check_window(max(auth.sign_time[0], key_start), min(auth.sign_time[1], key_end), now)


def check_key_time(key_time: str, now: float) -> None:
    """The window of a lone KeyTime (POST Object forms carry no q-sign-time)."""
    _check_window(*_parse_time(key_time), now)


def _host_variants(
    headers: Mapping[str, str], auth: CosAuth, hosts: Sequence[str]
) -> list[Mapping[str, str]]:
    """``headers`` once per distinct host candidate (once if ``host`` is not signed)."""
    if "host" not in auth.header_list or not hosts:
        return [headers]
    base = {k: v for k, v in headers.items() if k.lower() != "host"}
    return [{**base, "host": host} for host in dict.fromkeys(hosts)]


def verify(
    auth: CosAuth,
    secret: str,
    method: str,
    decoded_path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    now: float,
    host_candidates: Sequence[str],
) -> None:
    """Check time window then signature; raise ShoalError (AccessDenied/SignatureDoesNotMatch)."""
    check_time(auth, now)
    given = _utf8(auth.signature.lower())
    texts = [
        http_string(method, decoded_path, query, variant, auth)
        for variant in _host_variants(headers, auth, host_candidates)
    ]
    for text in texts:
        if hmac.compare_digest(_utf8(sign(secret, auth.key_time, text)), given):
            return
    raise ShoalError(
        "SignatureDoesNotMatch",
        StringToSign=string_to_sign(auth.key_time, texts[0]),
        FormatString=texts[0],
    )


def make_authorization(
    secret_id: str,
    secret_key: str,
    method: str,
    path: str,
    query: Sequence[tuple[str, str]] | Mapping[str, str],
    headers: Mapping[str, str],
    start: int,
    end: int,
) -> str:
    """Client side: the Authorization value signing every given param and header.

    ``path`` is the decoded path (``/key``); ``query`` values are decoded.
    """
    items = query.items() if isinstance(query, Mapping) else query
    params = _first_by_name(items)
    signed = _first_by_name(headers.items())
    key_time = f"{start};{end}"
    text = _format(method, path, _canonical(params, list(params)), _canonical(signed, list(signed)))
    return (
        f"q-sign-algorithm={ALGORITHM}&q-ak={secret_id}&q-sign-time={key_time}"
        f"&q-key-time={key_time}&q-header-list={';'.join(sorted(signed))}"
        f"&q-url-param-list={';'.join(sorted(params))}"
        f"&q-signature={sign(secret_key, key_time, text)}"
    )
