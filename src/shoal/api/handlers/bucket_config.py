"""Bucket configuration sub-resources kept in the bucket's config: tagging, default
encryption, the public access block and lifecycle (``?tagging``, ``?encryption``,
``?publicAccessBlock``, ``?lifecycle``), and what they do to objects written into the bucket."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from ...core import lifecycle as rules
from ...core.buckets import check_acl_allowed, default_sse
from ...core.errors import ShoalError
from ...core.model import ObjectMeta, ObjectRecord
from .. import lifecycle, xmldoc
from ..body import read_document
from ..context import Ctx
from ..headers import http_date
from ..response import Response
from ..xmldoc import E, raw

MAX_BUCKET_TAGS = 50


# -- tagging -----------------------------------------------------------------------------------


async def get_bucket_tagging(ctx: Ctx) -> Response:
    bucket = await ctx.core.buckets.get(ctx.bucket)
    tags = bucket.config.get("tags")
    if not tags:
        raise ShoalError("NoSuchTagSet", BucketName=ctx.bucket)
    inner = "".join(raw("Tag", E("Key", k) + E("Value", v)) for k, v in tags)
    return Response.xml(ctx.d.xml("Tagging", [raw("TagSet", inner)]))


async def put_bucket_tagging(ctx: Ctx) -> Response:
    tags = _parse_bucket_tags(await read_document(ctx.req))
    await ctx.core.buckets.set_config(ctx.bucket, "tags", tags or None)
    return Response.empty(204)


async def delete_bucket_tagging(ctx: Ctx) -> Response:
    await ctx.core.buckets.set_config(ctx.bucket, "tags", None)
    return Response.empty(204)


def _parse_bucket_tags(body: bytes) -> list[list[str]]:
    root = xmldoc.parse(body)
    tagset = root.find("TagSet")
    if root.tag != "Tagging" or tagset is None:
        raise ShoalError("MalformedXML")
    tags: list[list[str]] = []
    for tag in tagset.findall("Tag"):
        key, value = xmldoc.text(tag, "Key"), xmldoc.text(tag, "Value")
        if key is None or value is None:
            raise ShoalError("MalformedXML")
        if not key or len(key) > 128 or len(value) > 256:
            raise ShoalError("InvalidTag", "The TagKey or TagValue you have provided is "
                             "invalid", TagKey=key)
        if any(k == key for k, _ in tags):
            raise ShoalError("InvalidTag", "Cannot provide multiple Tags with the same key",
                             TagKey=key)
        tags.append([key, value])
    if len(tags) > MAX_BUCKET_TAGS:
        raise ShoalError("InvalidTag", f"Bucket tags cannot be more than {MAX_BUCKET_TAGS}")
    return tags


# -- default encryption ------------------------------------------------------------------------


async def get_bucket_encryption(ctx: Ctx) -> Response:
    bucket = await ctx.core.buckets.get(ctx.bucket)
    enc = bucket.config.get("encryption")
    if not enc:
        raise ShoalError("ServerSideEncryptionConfigurationNotFoundError",
                             "The server side encryption configuration was not found",
                             BucketName=ctx.bucket)
    default = E("SSEAlgorithm", enc["algorithm"]) + E("KMSMasterKeyID", enc.get("kms_key_id"))
    rule = raw("ApplyServerSideEncryptionByDefault", default)
    rule += E("BucketKeyEnabled", xmldoc.boolean(bool(enc.get("bucket_key_enabled"))))
    return Response.xml(ctx.d.xml("ServerSideEncryptionConfiguration", [raw("Rule", rule)]))


async def put_bucket_encryption(ctx: Ctx) -> Response:
    enc = _parse_encryption(ctx, await read_document(ctx.req))
    await ctx.core.buckets.set_config(ctx.bucket, "encryption", enc)
    return Response.empty(200)


async def delete_bucket_encryption(ctx: Ctx) -> Response:
    await ctx.core.buckets.set_config(ctx.bucket, "encryption", None)
    return Response.empty(204)


def _parse_encryption(ctx: Ctx, body: bytes) -> dict[str, Any]:
    """ServerSideEncryptionConfiguration -> the ``sse`` value new objects get by default."""
    root = xmldoc.parse(body)
    rules = root.findall("Rule")
    if root.tag != "ServerSideEncryptionConfiguration" or len(rules) != 1:
        raise ShoalError("MalformedXML")
    default = rules[0].find("ApplyServerSideEncryptionByDefault")
    if default is None:
        raise ShoalError("MalformedXML")
    algo = xmldoc.text(default, "SSEAlgorithm") or ""
    if algo not in ("AES256", ctx.d.kms_algorithm, "aws:kms:dsse"):
        raise ShoalError("MalformedXML", "The XML you provided was not well-formed or did not "
                         "validate against our published schema (SSEAlgorithm).")
    enc: dict[str, Any] = {"algorithm": algo}
    key_id = xmldoc.text(default, "KMSMasterKeyID")
    if key_id:
        if algo == "AES256":
            raise ShoalError("InvalidArgument", "a KMSMasterKeyID is not applicable if the "
                             "default sse algorithm is not aws:kms",
                             ArgumentName="ApplyServerSideEncryptionByDefault")
        enc["kms_key_id"] = key_id
    if (xmldoc.text(rules[0], "BucketKeyEnabled") or "").strip().lower() == "true":
        enc["bucket_key_enabled"] = True
    return enc


# -- public access block ----------------------------------------------------------------------

_PAB_FIELDS = (("BlockPublicAcls", "block_public_acls"), ("IgnorePublicAcls", "ignore_public_acls"),
               ("BlockPublicPolicy", "block_public_policy"),
               ("RestrictPublicBuckets", "restrict_public_buckets"))


async def get_public_access_block(ctx: Ctx) -> Response:
    bucket = await ctx.core.buckets.get(ctx.bucket)
    pab = bucket.config.get("public_access_block")
    if pab is None:
        raise ShoalError("NoSuchPublicAccessBlockConfiguration", "The public access block "
                             "configuration was not found", BucketName=ctx.bucket)
    parts = [E(wire, xmldoc.boolean(bool(pab.get(name)))) for wire, name in _PAB_FIELDS]
    return Response.xml(ctx.d.xml("PublicAccessBlockConfiguration", parts))


async def put_public_access_block(ctx: Ctx) -> Response:
    root = xmldoc.parse(await read_document(ctx.req))
    if root.tag != "PublicAccessBlockConfiguration":
        raise ShoalError("MalformedXML")
    pab: dict[str, bool] = {}
    for wire, name in _PAB_FIELDS:
        value = (xmldoc.text(root, wire) or "false").strip().lower()
        if value not in ("true", "false"):
            raise ShoalError("MalformedXML")
        pab[name] = value == "true"
    await ctx.core.buckets.set_config(ctx.bucket, "public_access_block", pab)
    return Response.empty(200)


async def delete_public_access_block(ctx: Ctx) -> Response:
    await ctx.core.buckets.set_config(ctx.bucket, "public_access_block", None)
    return Response.empty(204)


# -- lifecycle ---------------------------------------------------------------------------------


async def get_bucket_lifecycle(ctx: Ctx) -> Response:
    bucket = await ctx.core.buckets.get(ctx.bucket)
    stored = rules.from_config(bucket.config.get("lifecycle"))
    if not stored:
        raise ShoalError("NoSuchLifecycleConfiguration", "The lifecycle configuration does not "
                         "exist", BucketName=ctx.bucket)
    return Response.xml(ctx.d.xml("LifecycleConfiguration", lifecycle.render(stored)))


async def put_bucket_lifecycle(ctx: Ctx) -> Response:
    parsed = lifecycle.parse(await read_document(ctx.req), ctx.d.lifecycle_dates_any_offset)
    await ctx.core.buckets.set_config(ctx.bucket, "lifecycle", rules.to_config(parsed))
    return Response.empty(200)


async def delete_bucket_lifecycle(ctx: Ctx) -> Response:
    await ctx.core.buckets.set_config(ctx.bucket, "lifecycle", None)
    return Response.empty(204)


async def expiration_header(ctx: Ctx, record: ObjectRecord) -> dict[str, str]:
    """``x-amz-expiration`` for an object an enabled Expiration rule of its bucket applies to
    (the earliest one): when it expires and by which rule."""
    bucket = await ctx.core.buckets.lookup(record.bucket)
    config = bucket.config.get("lifecycle") if bucket is not None else None
    if not config:
        return {}
    due = rules.object_expiry(rules.from_config(config), record.key, record.size,
                              record.meta.tags, record.last_modified, ctx.config.lifecycle_day)
    if due is None:
        return {}
    value = f'expiry-date="{http_date(due[0])}", rule-id="{quote(due[1], safe=" -_.~")}"'
    return {ctx.d.h("expiration"): value}


# -- what a bucket's settings do to a new object -----------------------------------------------


async def apply_bucket_settings(ctx: Ctx, meta: ObjectMeta, bucket_name: str) -> None:
    """For an object (or upload) about to be written: refuse a public ACL the bucket blocks,
    and give it the bucket's default encryption when the request asks for none. The write
    must then be sealed with the key ``api.sse.write_kek`` returns for ``meta``."""
    bucket = await ctx.core.buckets.get(bucket_name)
    check_acl_allowed(bucket, meta.acl)
    if meta.sse is None:
        meta.sse = default_sse(bucket)
