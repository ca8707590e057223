"""COS error documents and ids: code/status mapping, request id and trace id shapes.

COS error body (dialects.md section 5):
``<Error><Code/><Message/><Resource/><RequestId/><TraceId/>[<ServerTime/>]</Error>``.
"""

from __future__ import annotations

import base64
import secrets
import time

from ...api.xmldoc import E
from ...core.errors import ShoalError

# Neutral (S3-spelled) code -> (HTTP status, COS code), where COS differs.
CODES: dict[str, tuple[int, str]] = {
    "InvalidStorageClass": (400, "NotSupportedStorageClass"),
    "BucketAlreadyOwnedByYou": (409, "BucketAlreadyExists"),
    "KeyTooLongError": (400, "KeyTooLong"),
    "InvalidTag": (400, "InvalidArgument"),
    "ExpiredToken": (403, "ExpiredToken"),
}
# Extra fields of a ShoalError that COS error documents carry (others are S3-only).
EXTRA_FIELDS = ("ServerTime", "StringToSign", "FormatString")


def cos_code(err: ShoalError) -> tuple[int, str]:
    """(status, code) as COS spells them."""
    return CODES.get(err.code, (err.status, err.code))


def request_id(now: float | None = None) -> str:
    """Real COS shape: base64 of ``<hex unix ts>_<hex>_<hex>_<hex>`` (36 chars, no padding)."""
    ts = int(time.time() if now is None else now) & 0xFFFFFFFF
    text = f"{ts:08x}_{secrets.token_hex(4)}_{secrets.token_hex(2)}_{secrets.token_hex(2)}"
    return base64.b64encode(text.encode()).decode()


def trace_id() -> str:
    """An opaque base64 trace id, like the ``x-cos-trace-id`` of real COS errors."""
    return base64.b64encode(secrets.token_hex(48).encode()).decode()


def error_parts(err: ShoalError, resource: str, req_id: str, trace: str) -> list[str]:
    """The elements after Code and Message."""
    parts = [E("Resource", resource), E("RequestId", req_id), E("TraceId", trace)]
    parts += [E(name, err.fields[name]) for name in EXTRA_FIELDS if name in err.fields]
    return parts
