"""Authorization: may this principal perform this endpoint's action here?"""

from __future__ import annotations

import asyncio

from ..core.auth import acl_allows
from ..core.buckets import effective_acl
from ..core.errors import ShoalError
from .context import Ctx
from .endpoints import Action

# Permission each action needs on the bucket (or the object, for object reads/ACP).
_BUCKET_PERM = {
    Action.BUCKET_READ: "READ",
    Action.BUCKET_READ_ACP: "READ_ACP",
    Action.BUCKET_WRITE_ACP: "WRITE_ACP",
    Action.OBJECT_WRITE: "WRITE",
}
_OBJECT_PERM = {
    Action.OBJECT_READ: "READ",
    Action.OBJECT_READ_ACP: "READ_ACP",
    Action.OBJECT_WRITE_ACP: "WRITE_ACP",
}


async def authorize(ctx: Ctx) -> None:
    """Raise AccessDenied unless the ACLs allow the request. Missing buckets and keys are left
    to the handler so the client sees NoSuchBucket / NoSuchKey as S3 gives them."""
    who = ctx.req.principal
    await _check_expected_owner(ctx)
    if who.admin:
        return
    action = ctx.endpoint.action
    if action in (Action.FORM_SIGNED, Action.PREFLIGHT):
        return  # POST Object checks the form's own signature; preflights are public
    if action is Action.LIST_BUCKETS:
        if who.anonymous:
            raise ShoalError("AccessDenied")
        return
    if action is Action.BUCKET_OWNER and ctx.req.method == "PUT" and ctx.req.key is None:
        if who.anonymous:
            raise ShoalError("AccessDenied")
        return  # CreateBucket: anyone authenticated
    meta = ctx.core.meta
    bucket = await asyncio.to_thread(meta.get_bucket, ctx.bucket)
    if bucket is None:
        return
    if not who.anonymous and bucket.owner == who.user_id:
        return
    bucket_acl = effective_acl(bucket, bucket.acl)
    if action in _OBJECT_PERM:
        record = await asyncio.to_thread(meta.get_object, ctx.bucket, ctx.key)
        if record is None:
            if acl_allows(bucket_acl, bucket.owner, who, "READ"):
                return  # let the handler answer NoSuchKey
        elif acl_allows(effective_acl(bucket, record.meta.acl), record.owner, who,
                        _OBJECT_PERM[action]):
            return
        raise ShoalError("AccessDenied")
    perm = _BUCKET_PERM.get(action)
    if perm is not None and acl_allows(bucket_acl, bucket.owner, who, perm):
        return
    raise ShoalError("AccessDenied")


async def _check_expected_owner(ctx: Ctx) -> None:
    """``x-amz-expected-bucket-owner``: the request fails with AccessDenied when the bucket
    belongs to someone else (the check is skipped when the bucket does not exist)."""
    expected = ctx.req.headers.get(ctx.d.h("expected-bucket-owner"))
    if expected is None or not ctx.req.bucket:
        return
    bucket = await asyncio.to_thread(ctx.core.meta.get_bucket, ctx.req.bucket)
    if bucket is not None and bucket.owner != expected:
        raise ShoalError("AccessDenied")
