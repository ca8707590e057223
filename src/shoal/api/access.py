"""Authorization: may this principal perform this endpoint's action here?

Root (the server's configured credentials) may do anything. Everyone else gets what the ACLs
give: a bucket's owner every bucket operation, other callers (accounts or anonymous) the
bucket's grants; on an object its owner everything, others the object's grants (for a COS
``default`` object, its bucket's). Anything else is AccessDenied.
"""

from __future__ import annotations

import asyncio

from ..core.auth import Principal, acl_allows, inherits
from ..core.buckets import effective_acl
from ..core.errors import ShoalError
from ..core.model import Bucket, ObjectRecord
from .context import Ctx
from .endpoints import Action, Endpoint

# Permission each action needs on the bucket.
_BUCKET_PERM = {
    Action.BUCKET_READ: "READ",
    Action.BUCKET_READ_ACP: "READ_ACP",
    Action.BUCKET_WRITE_ACP: "WRITE_ACP",
    Action.OBJECT_WRITE: "WRITE",
}
# Permission each action needs on the object.
_OBJECT_PERM = {
    Action.OBJECT_READ: "READ",
    Action.OBJECT_READ_ACP: "READ_ACP",
    Action.OBJECT_WRITE_ACP: "WRITE_ACP",
}
# An object's tags: no ACL permission covers them (READ is the data, as in S3), so only the
# object's owner and FULL_CONTROL grantees (for a COS default object, the bucket's) may read or
# change them; a bucket writer may not retag others' objects.
_TAGGING = {Endpoint.GetObjectTagging, Endpoint.PutObjectTagging, Endpoint.DeleteObjectTagging}
_COPIES = {Endpoint.CopyObject, Endpoint.UploadPartCopy}


async def authorize(ctx: Ctx) -> None:
    """Raise AccessDenied unless the ACLs allow the request. Missing buckets and keys are left
    to the handler so the client sees NoSuchBucket / NoSuchKey as S3 gives them (a missing key
    only to callers who may list the bucket)."""
    who = ctx.req.principal
    await _check_expected_owner(ctx)
    if who.admin:
        return
    action = ctx.endpoint.action
    if action in (Action.FORM_SIGNED, Action.PREFLIGHT):
        return  # POST Object checks the form's own signature; preflights are public
    if action is Action.LIST_BUCKETS or ctx.endpoint is Endpoint.CreateBucket:
        if who.anonymous:
            raise ShoalError("AccessDenied")
        return  # anyone authenticated; ListBuckets shows the caller's own
    bucket = await ctx.core.buckets.lookup(ctx.bucket)
    if bucket is None:
        return
    if ctx.endpoint in _TAGGING:
        await _check_object(ctx, bucket, ctx.key, "FULL_CONTROL")
    elif action in _OBJECT_PERM:
        await _check_object(ctx, bucket, ctx.key, _OBJECT_PERM[action])
    elif not bucket_allows(bucket, who, _BUCKET_PERM.get(action)):
        raise ShoalError("AccessDenied")
    if ctx.endpoint in _COPIES:
        await _check_copy_source(ctx)


def bucket_allows(bucket: Bucket, who: Principal, perm: str | None) -> bool:
    """The bucket's owner may do anything to it; others what its ACL grants (``perm`` None:
    an owner-only operation)."""
    if not who.anonymous and who.user_id == bucket.owner:
        return True
    return perm is not None and acl_allows(effective_acl(bucket, bucket.acl), bucket.owner,
                                           who, perm)


def object_allows(bucket: Bucket, record: ObjectRecord, who: Principal, perm: str) -> bool:
    """The object's owner may do anything to it; others what its ACL grants, or for a COS
    ``default`` object what the bucket's ACL grants on the bucket."""
    if not who.anonymous and who.user_id == record.owner:
        return True
    acl = record.meta.acl
    if inherits(acl):
        return bucket_allows(bucket, who, perm)
    return acl_allows(effective_acl(bucket, acl), record.owner, who, perm, bucket.owner)


async def _check_object(ctx: Ctx, bucket: Bucket, key: str, perm: str) -> None:
    who = ctx.req.principal
    record = await asyncio.to_thread(ctx.core.meta.get_object, bucket.name, key,
                                     with_inline=False)
    if record is None:
        if bucket_allows(bucket, who, "READ"):
            return  # the handler answers NoSuchKey
    elif object_allows(bucket, record, who, perm):
        return
    raise ShoalError("AccessDenied")


async def _check_copy_source(ctx: Ctx) -> None:
    """A copy also reads its source: the caller needs READ on the source object."""
    header = ctx.req.headers.get(ctx.d.h("copy-source"))
    if header is None:
        return
    src_bucket, src_key, _ = ctx.d.copy_source(header)
    bucket = await ctx.core.buckets.lookup(src_bucket)
    if bucket is not None:
        await _check_object(ctx, bucket, src_key, "READ")


async def _check_expected_owner(ctx: Ctx) -> None:
    """``x-amz-expected-bucket-owner``: the request fails with AccessDenied when the bucket
    belongs to someone else (the check is skipped when the bucket does not exist)."""
    expected = ctx.req.headers.get(ctx.d.h("expected-bucket-owner"))
    if expected is None or not ctx.req.bucket:
        return
    bucket = await ctx.core.buckets.lookup(ctx.req.bucket)
    if bucket is not None and bucket.owner != expected:
        raise ShoalError("AccessDenied")
