"""Authorization: may this principal perform this endpoint's action here?"""

from __future__ import annotations

import asyncio

from ..core.auth import acl_allows
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
    if who.admin:
        return
    action = ctx.endpoint.action
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
    if action in _OBJECT_PERM:
        record = await asyncio.to_thread(meta.get_object, ctx.bucket, ctx.key)
        if record is None:
            if acl_allows(bucket.acl, bucket.owner, who, "READ"):
                return  # let the handler answer NoSuchKey
        elif acl_allows(record.meta.acl, record.owner, who, _OBJECT_PERM[action]):
            return
        raise ShoalError("AccessDenied")
    perm = _BUCKET_PERM.get(action)
    if perm is not None and acl_allows(bucket.acl, bucket.owner, who, perm):
        return
    raise ShoalError("AccessDenied")
