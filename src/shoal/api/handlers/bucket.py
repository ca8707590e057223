"""Bucket operations: ListBuckets, Create/Head/Delete, location, versioning, ACL."""

from __future__ import annotations

from dataclasses import replace

from ...core.errors import ShoalError
from .. import acl as acl_doc
from .. import xmldoc
from ..body import read_document
from ..context import Ctx
from ..headers import acl_from_headers
from ..response import Response
from ..xmldoc import E, iso8601, raw


async def list_buckets(ctx: Ctx) -> Response:
    p = ctx.req.principal
    buckets = await ctx.core.buckets.list(p.user_id)
    items = "".join(
        raw("Bucket", E("Name", b.name) + E("CreationDate", iso8601(b.created)))
        for b in buckets
    )
    owner = raw("Owner", E("ID", p.user_id) + E("DisplayName", p.display_name))
    return Response.xml(ctx.d.xml("ListAllMyBucketsResult", [owner, raw("Buckets", items)]))


async def create_bucket(ctx: Ctx) -> Response:
    region = ctx.config.region
    body = await read_document(ctx.req)
    if body.strip():
        root = xmldoc.parse(body)
        constraint = xmldoc.text(root, "LocationConstraint")
        if constraint:
            region = constraint
    acl = acl_from_headers(ctx.req, ctx.d)
    await ctx.core.buckets.create(ctx.bucket, ctx.owner, region, acl)
    return Response.empty(200, {"Location": f"/{ctx.bucket}"})


async def head_bucket(ctx: Ctx) -> Response:
    bucket = await ctx.core.buckets.get(ctx.bucket)
    return Response.empty(200, {ctx.d.h("bucket-region"): bucket.region})


async def delete_bucket(ctx: Ctx) -> Response:
    await ctx.core.buckets.get(ctx.bucket)
    await ctx.core.buckets.delete(ctx.bucket)
    return Response.empty(204)


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
    name = ctx.req.principal.display_name if bucket.owner == ctx.owner else bucket.owner
    return Response.xml(acl_doc.render(bucket.acl, bucket.owner, name, ctx.d))


async def put_bucket_acl(ctx: Ctx) -> Response:
    bucket = await ctx.core.buckets.get(ctx.bucket)
    new = acl_from_headers(ctx.req, ctx.d)
    body = await read_document(ctx.req)
    if body.strip():
        if new is not None:
            raise ShoalError("UnexpectedContent", "This request does not support content")
        new = acl_doc.parse(body)
    if new is None:
        raise ShoalError("MalformedACLError", "The XML you provided was not well-formed or did "
                         "not validate against our published schema")
    await ctx.core.buckets.update(replace(bucket, acl=new))
    return Response.empty(200)
