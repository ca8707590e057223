"""Object sub-resources: tagging and ACL."""

from __future__ import annotations

from ...core.auth import expand_acl, inherits
from ...core.buckets import check_acl_allowed
from ...core.errors import ShoalError
from .. import acl as acl_doc
from .. import xmldoc
from ..body import read_document
from ..context import Ctx
from ..headers import check_tags
from ..response import Response
from ..xmldoc import E, raw
from .bucket import read_acl


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
    owner = record.owner or bucket.owner
    acl = record.meta.acl
    if not inherits(acl):
        return Response.xml(await acl_doc.document(ctx, acl, owner, bucket.owner))
    # COS "default": the bucket's grants apply; say so with the ACL header.
    grants = expand_acl(bucket.acl, bucket.owner)
    if owner != bucket.owner:
        grants.append({"id": owner, "permission": "FULL_CONTROL"})
    names = await ctx.display_names({owner} | {g["id"] for g in grants if g.get("id")})
    return Response.xml(acl_doc.render_grants(grants, owner, names, ctx.d),
                        headers={ctx.d.h("acl"): "default"})


async def put_object_acl(ctx: Ctx) -> Response:
    await ctx.core.objects.head(ctx.bucket, ctx.key)
    new = await read_acl(ctx, bucket=False)
    check_acl_allowed(await ctx.core.buckets.get(ctx.bucket), new)
    await ctx.core.objects.update_meta(ctx.bucket, ctx.key, acl=new)
    return Response.empty(200)
