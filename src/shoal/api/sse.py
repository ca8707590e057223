"""Server-side encryption of a request: which key seals what it writes, which key opens what it
reads, and the checks of SSE-C keys (right key, secure transport).

The stored ``sse`` of an object or upload (``ObjectMeta.sse``) is one of::

    {"algorithm": "AES256"}
    {"algorithm": "aws:kms" | "cos/kms" | "aws:kms:dsse", "kms_key_id": ..., "context": ...}
    {"algorithm": "SSE-C", "customer_algorithm": "AES256", "key_salt": ..., "key_hmac": ...}

The KMS key id is resolved when the object (or upload) is created, so ``default`` is stored
explicitly; an SSE-C object keeps a salted HMAC of its key, never the key or its MD5.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..core.crypto import Kek
from ..core.errors import ShoalError
from ..core.kms import KeyService
from ..core.model import ObjectMeta
from .context import Ctx
from .headers import sse_customer_key
from .request import Request

INSECURE = ("Requests specifying Server Side Encryption with Customer provided keys must be "
            "made over a secure connection.")


def keys(ctx: Ctx) -> KeyService:
    return KeyService.shared(ctx.core.meta, ctx.config.data_dir)  # type: ignore[arg-type]


def customer_key(ctx: Ctx, req: Request | None = None, copy_source: bool = False) -> bytes | None:
    """The validated SSE-C key of the request; refused over plain HTTP unless the server runs
    with ``--allow-insecure-ssec`` (the key would cross the network in the clear)."""
    req = req or ctx.req
    key = sse_customer_key(req, ctx.d, copy_source)
    if key is not None and req.scheme != "https" and not ctx.config.allow_insecure_ssec:
        raise ShoalError("InvalidRequest", INSECURE)
    return key


def key_md5(ctx: Ctx, copy_source: bool = False) -> str | None:
    """The SSE-C key MD5 header of the request (validated by ``customer_key`` first)."""
    pre = ctx.d.h("copy-source-server-side-encryption") if copy_source else \
        ctx.d.h("server-side-encryption")
    return ctx.req.headers.get(pre + "-customer-key-md5")


def is_kms(sse: dict[str, Any]) -> bool:
    return str(sse.get("algorithm", "")).startswith(("aws:kms", "cos/kms"))


async def write_kek(ctx: Ctx, meta: ObjectMeta, req: Request | None = None) -> Kek | None:
    """The key that seals an object (or upload) about to be created with ``meta.sse``, which
    is completed for storage here: KMS key id resolved, SSE-C key replaced by its check."""
    sse = meta.sse
    if not sse:
        return None
    svc = keys(ctx)
    if sse.get("algorithm") == "SSE-C":
        key = customer_key(ctx, req)
        assert key is not None  # sse_from_headers made it SSE-C: a valid key is there
        sse.pop("customer_key_md5", None)
        sse.update(svc.key_check(key))
        return svc.customer(key)
    if is_kms(sse):
        key_id, kek = await asyncio.to_thread(svc.kms, sse.get("kms_key_id"), sse.get("context"))
        sse["kms_key_id"] = key_id
        return kek
    return svc.sse_s3()


def sse_c_key(ctx: Ctx, sse: dict[str, Any] | None, copy_source: bool = False) -> bytes | None:
    """For a read of an object stored with ``sse``: its SSE-C key from the request (checked),
    None for other objects (which must not be sent one)."""
    key = customer_key(ctx, copy_source=copy_source)
    if (sse or {}).get("algorithm") != "SSE-C":
        if key is not None:
            raise ShoalError("InvalidRequest", "The encryption parameters are not applicable "
                             "to this object.")
        return None
    if key is None:
        raise ShoalError("InvalidRequest", "The object was stored using a form of Server Side "
                         "Encryption. The correct parameters must be provided to retrieve the "
                         "object.")
    if not keys(ctx).key_matches(key, sse or {}):
        raise ShoalError("AccessDenied", "Access Denied")
    return key


async def stored_kek(ctx: Ctx, sse: dict[str, Any] | None, customer: bytes | None) -> Kek | None:
    """The key that opens (or, for parts, seals) data stored with ``sse``; ``customer`` is the
    SSE-C key already checked with ``sse_c_key``."""
    if not sse:
        return None
    svc = keys(ctx)
    if sse.get("algorithm") == "SSE-C":
        assert customer is not None
        return svc.customer(customer)
    if is_kms(sse):
        kek = svc.kms_cached(sse.get("kms_key_id"), sse.get("context"))
        if kek is None:
            _, kek = await asyncio.to_thread(svc.kms, sse.get("kms_key_id"), sse.get("context"))
        return kek
    return svc.sse_s3()


async def read_kek(ctx: Ctx, sse: dict[str, Any] | None, copy_source: bool = False) -> Kek | None:
    """Check the request's SSE-C key against an object stored with ``sse``, then the key that
    opens its data (None when it is not encrypted)."""
    return await stored_kek(ctx, sse, sse_c_key(ctx, sse, copy_source))


def same_kek(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether data sealed for ``a`` is also sealed right for ``b`` (SSE-C never: its key is
    only known to match by checking it)."""
    if not a or not b:
        return not a and not b
    if is_kms(a) and is_kms(b):
        return (a.get("kms_key_id"), a.get("context")) == (b.get("kms_key_id"), b.get("context"))
    return a.get("algorithm") == b.get("algorithm") == "AES256"
