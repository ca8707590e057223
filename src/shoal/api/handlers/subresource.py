"""Object sub-resources: tagging and ACL."""

from __future__ import annotations

from ...core.buckets import check_acl_allowed
from ...core.errors import ShoalError
from .. import acl as acl_doc
from .. import xmldoc
from ..body import read_document
from ..context import Ctx
from ..headers import acl_from_headers, check_tags
from ..response import Response
from ..xmldoc import E, raw


async def get_object_tagging(ctx: Ctx) -> Response:
    record = await ctx.core.objects.head(ctx.bucket, ctx.key)
    # Tags are a set keyed by name: list them sorted by key, whatever order they were sent in.
    tags = "".join(raw("Tag", E("Key", k) + E("Value", v))
                   for k, v in sorted(record.meta.tags))
    return Response.xml(ctx.d.xml("Tagging", [raw("TagSet", tags)]))


def parse_tagging(body: bytes) -> list[tuple[str, str]]:
    root = xmldoc.parse(body)
    tagset = root.find("TagSet")
    if root.tag != "Tagging" or tagset is None:
        raise ShoalError("MalformedXML")
    tags: list[tuple[str, str]] = []
    for tag in tagset.findall("Tag"):
        key, value = xmldoc.text(tag, "Key"), xmldoc.text(tag, "Value")
        if key is None or value is None:
            raise ShoalError("MalformedXML")
        tags.append((key, value))
    return check_tags(tags)


async def put_object_tagging(ctx: Ctx) -> Response:
    tags = parse_tagging(await read_document(ctx.req))
    await ctx.core.objects.update_meta(ctx.bucket, ctx.key, tags=tags)
    return Response.empty(200)


async def delete_object_tagging(ctx: Ctx) -> Response:
    await ctx.core.objects.update_meta(ctx.bucket, ctx.key, tags=[])
    return Response.empty(204)


async def get_object_acl(ctx: Ctx) -> Response:
    record = await ctx.core.objects.head(ctx.bucket, ctx.key)
    bucket = await ctx.core.buckets.get(ctx.bucket)
    owner = record.owner or ctx.owner
    name = ctx.req.principal.display_name if owner == ctx.owner else owner
    return Response.xml(acl_doc.render(record.meta.acl, owner, name, ctx.d, bucket.owner))


async def put_object_acl(ctx: Ctx) -> Response:
    new = acl_from_headers(ctx.req, ctx.d)
    body = await read_document(ctx.req)
    if body.strip():
        if new is not None:
            raise ShoalError("UnexpectedContent", "This request does not support content")
        new = acl_doc.parse(body)
    if new is None:
        raise ShoalError("MalformedACLError", "The XML you provided was not well-formed or did "
                         "not validate against our published schema")
    check_acl_allowed(await ctx.core.buckets.get(ctx.bucket), new)
    await ctx.core.objects.update_meta(ctx.bucket, ctx.key, acl=new)
    return Response.empty(200)
