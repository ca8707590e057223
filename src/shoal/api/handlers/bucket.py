"""Bucket operations: ListBuckets, Create/Head/Delete, location, versioning, ACL."""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import replace
from typing import Any

from ...core.buckets import check_acl_allowed
from ...core.errors import ShoalError
from .. import acl as acl_doc
from .. import xmldoc
from ..body import read_document
from ..context import Ctx
from ..headers import acl_from_headers
from ..response import Response
from ..xmldoc import E, iso8601, raw

MAX_BUCKETS = 10000


async def list_buckets(ctx: Ctx) -> Response:
    """ListBuckets, with the optional prefix / max-buckets / continuation-token paging."""
    p, args = ctx.req.principal, ctx.req.args
    prefix = args.get("prefix", "")
    region = args.get("bucket-region")
    limit = ctx.int_arg("max-buckets", MAX_BUCKETS, 1, MAX_BUCKETS)
    token = args.get("continuation-token")
    after = _decode_token(token) if token else ""
    buckets = [b for b in await ctx.core.buckets.list(p.user_id)
               if b.name.startswith(prefix) and b.name > after
               and (region is None or b.region == region)]
    page, more = buckets[:limit], len(buckets) > limit
    items = "".join(
        raw("Bucket", E("Name", b.name) + E("CreationDate", iso8601(b.created)))
        for b in page
    )
    owner = raw("Owner", E("ID", p.user_id) + E("DisplayName", p.display_name))
    parts = [owner, raw("Buckets", items)]
    if more:
        parts.append(E("ContinuationToken", _encode_token(page[-1].name)))
    if "prefix" in args:
        parts.append(E("Prefix", prefix))
    return Response.xml(ctx.d.xml("ListAllMyBucketsResult", parts))


def _encode_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ShoalError("InvalidArgument", "The continuation token provided is incorrect",
                         ArgumentName="continuation-token") from exc


async def create_bucket(ctx: Ctx) -> Response:
    region = ctx.config.region
    body = await read_document(ctx.req)
    if body.strip():
        root = xmldoc.parse(body)
        constraint = xmldoc.text(root, "LocationConstraint")
        if constraint:
            region = constraint
    acl = acl_from_headers(ctx.req, ctx.d, bucket=True)
    await acl_doc.check_grants(ctx, acl)
    await ctx.core.buckets.create(ctx.bucket, ctx.owner, region, acl,
                                  repeat_succeeds=ctx.d.repeat_create_succeeds)
    return Response.empty(200, {"Location": f"/{ctx.bucket}"})


async def head_bucket(ctx: Ctx) -> Response:
    bucket = await ctx.core.buckets.get(ctx.bucket)
    return Response.empty(200, {ctx.d.h("bucket-region"): bucket.region})


async def delete_bucket(ctx: Ctx) -> Response:
    await ctx.core.buckets.get(ctx.bucket)
    if ctx.d.delete_bucket_aborts_uploads:
        await _abort_uploads_if_empty(ctx)
    await ctx.core.buckets.delete(ctx.bucket)
    return Response.empty(204)


async def _abort_uploads_if_empty(ctx: Ctx) -> None:
    """S3 deletes a bucket that holds only unfinished multipart uploads, discarding them."""
    meta = ctx.core.meta
    if await asyncio.to_thread(meta.list_objects, ctx.bucket, "", "", 1):
        return  # not empty: leave the uploads alone, delete() answers BucketNotEmpty
    while True:
        uploads = await asyncio.to_thread(meta.list_uploads, ctx.bucket, "", "", "", 1000)
        if not uploads:
            return
        for upload in uploads:
            try:
                await ctx.core.multipart.abort(upload)
            except ShoalError as err:
                if err.code != "NoSuchUpload":
                    raise


async def get_bucket_location(ctx: Ctx) -> Response:
    bucket = await ctx.core.buckets.get(ctx.bucket)
    region = "" if bucket.region == "us-east-1" else bucket.region
    return Response.xml(xmldoc.DECL.encode() + (
        f'<LocationConstraint xmlns="{ctx.d.xmlns}">{xmldoc.esc(region)}</LocationConstraint>'
        if ctx.d.xmlns else f"<LocationConstraint>{xmldoc.esc(region)}</LocationConstraint>"
    ).encode())


async def get_bucket_versioning(ctx: Ctx) -> Response:
    await ctx.core.buckets.get(ctx.bucket)
    return Response.xml(ctx.d.xml("VersioningConfiguration", []))


async def get_bucket_acl(ctx: Ctx) -> Response:
    bucket = await ctx.core.buckets.get(ctx.bucket)
    return Response.xml(await acl_doc.document(ctx, bucket.acl, bucket.owner))


async def put_bucket_acl(ctx: Ctx) -> Response:
    bucket = await ctx.core.buckets.get(ctx.bucket)
    new = await read_acl(ctx, bucket=True)
    check_acl_allowed(bucket, new)
    await ctx.core.buckets.update(replace(bucket, acl=new))
    return Response.empty(200)


async def read_acl(ctx: Ctx, *, bucket: bool) -> dict[str, Any]:
    """The ACL a PutBucketAcl / PutObjectAcl sets: from the headers or the body (not both),
    with its grantees checked."""
    new = acl_from_headers(ctx.req, ctx.d, bucket=bucket)
    body = await read_document(ctx.req)
    if body.strip():
        if new is not None:
            raise ShoalError("UnexpectedContent", "This request does not support content")
        new = acl_doc.parse(body)
    if new is None:
        raise ShoalError("MalformedACLError", "The XML you provided was not well-formed or did "
                         "not validate against our published schema")
    await acl_doc.check_grants(ctx, new)
    return new
