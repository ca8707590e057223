"""ListObjects (v1), ListObjectsV2 and ListObjectVersions."""

from __future__ import annotations

import base64
import binascii

from ...core.errors import ShoalError
from ...core.listing import list_page
from ...core.model import ListPage, ObjectSummary
from ..context import Ctx
from ..headers import encode_key
from ..response import Response
from ..xmldoc import E, boolean, iso8601, raw

MAX_KEYS = 1000


def _params(ctx: Ctx) -> tuple[str, str, int, bool]:
    args = ctx.req.args
    enc = args.get("encoding-type")
    if enc not in (None, "", "url"):
        raise ShoalError("InvalidArgument", "Invalid Encoding Method specified in Request",
                         ArgumentName="encoding-type", ArgumentValue=enc)
    max_keys = ctx.int_arg("max-keys", MAX_KEYS, 0, MAX_KEYS)
    return args.get("prefix", ""), args.get("delimiter", ""), max_keys, enc == "url"


def _owner(names: dict[str, str], owner: str) -> str:
    return raw("Owner", E("ID", owner) + E("DisplayName", names.get(owner, owner)))


async def _owner_names(ctx: Ctx, page: ListPage) -> dict[str, str]:
    """Display names of the owners of a page's objects (usually one or two)."""
    return await ctx.display_names({o.owner for o in page.objects})


def _contents(o: ObjectSummary, url: bool, names: dict[str, str] | None) -> str:
    inner = (E("Key", encode_key(o.key, url)) + E("LastModified", iso8601(o.last_modified))
             + E("ETag", f'"{o.etag}"') + E("Size", o.size))
    if names is not None:
        inner += _owner(names, o.owner)
    return raw("Contents", inner + E("StorageClass", o.storage_class))


def _prefixes(page: ListPage, url: bool) -> list[str]:
    return [raw("CommonPrefixes", E("Prefix", encode_key(p, url))) for p in page.prefixes]


async def list_objects(ctx: Ctx) -> Response:
    prefix, delimiter, max_keys, url = _params(ctx)
    marker = ctx.req.args.get("marker", "")
    await ctx.core.buckets.get(ctx.bucket)
    page = await list_page(ctx.core.meta, ctx.bucket, prefix, delimiter, marker, max_keys)
    # ListObjects (v1) returns Prefix as given even with encoding-type=url (SDKs do not
    # decode it there, unlike in V2 and ListObjectVersions).
    parts = [E("Name", ctx.bucket), E("Prefix", prefix),
             E("Marker", encode_key(marker, url)), E("MaxKeys", max_keys)]
    if delimiter:
        parts.append(E("Delimiter", encode_key(delimiter, url)))
    if url:
        parts.append(E("EncodingType", "url"))
    parts.append(E("IsTruncated", boolean(page.truncated)))
    if page.truncated and page.next_marker is not None:
        parts.append(E("NextMarker", encode_key(page.next_marker, url)))
    names = await _owner_names(ctx, page)
    parts += [_contents(o, url, names) for o in page.objects]
    parts += _prefixes(page, url)
    return Response.xml(ctx.d.xml("ListBucketResult", parts))


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ShoalError("InvalidArgument", "The continuation token provided is incorrect",
                         ArgumentName="continuation-token") from exc


async def list_objects_v2(ctx: Ctx) -> Response:
    prefix, delimiter, max_keys, url = _params(ctx)
    args = ctx.req.args
    token = args.get("continuation-token")
    start_after = args.get("start-after", "")
    cursor = _decode_token(token) if token is not None else start_after
    fetch_owner = args.get("fetch-owner", "").lower() == "true"
    await ctx.core.buckets.get(ctx.bucket)
    page = await list_page(ctx.core.meta, ctx.bucket, prefix, delimiter, cursor, max_keys)
    parts = [E("Name", ctx.bucket), E("Prefix", encode_key(prefix, url)),
             E("MaxKeys", max_keys), E("KeyCount", len(page.objects) + len(page.prefixes))]
    if delimiter:
        parts.append(E("Delimiter", encode_key(delimiter, url)))
    if url:
        parts.append(E("EncodingType", "url"))
    parts.append(E("IsTruncated", boolean(page.truncated)))
    if token is not None:
        parts.append(E("ContinuationToken", token))
    if page.truncated and page.next_marker is not None:
        nxt = base64.urlsafe_b64encode(page.next_marker.encode()).decode()
        parts.append(E("NextContinuationToken", nxt))
    if "start-after" in args:
        parts.append(E("StartAfter", encode_key(start_after, url)))
    names = await _owner_names(ctx, page) if fetch_owner else None
    parts += [_contents(o, url, names) for o in page.objects]
    parts += _prefixes(page, url)
    return Response.xml(ctx.d.xml("ListBucketResult", parts))


async def list_object_versions(ctx: Ctx) -> Response:
    """Unversioned buckets: every object is its only version, with version id "null"."""
    prefix, delimiter, max_keys, url = _params(ctx)
    key_marker = ctx.req.args.get("key-marker", "")
    await ctx.core.buckets.get(ctx.bucket)
    page = await list_page(ctx.core.meta, ctx.bucket, prefix, delimiter, key_marker, max_keys)
    parts = [E("Name", ctx.bucket), E("Prefix", encode_key(prefix, url)),
             E("KeyMarker", encode_key(key_marker, url)), E("VersionIdMarker", ""),
             E("MaxKeys", max_keys)]
    if delimiter:
        parts.append(E("Delimiter", encode_key(delimiter, url)))
    if url:
        parts.append(E("EncodingType", "url"))
    parts.append(E("IsTruncated", boolean(page.truncated)))
    if page.truncated and page.next_marker is not None:
        parts.append(E("NextKeyMarker", encode_key(page.next_marker, url)))
        parts.append(E("NextVersionIdMarker", "null"))
    names = await _owner_names(ctx, page)
    for o in page.objects:
        parts.append(raw("Version", E("Key", encode_key(o.key, url)) + E("VersionId", "null")
                         + E("IsLatest", "true") + E("LastModified", iso8601(o.last_modified))
                         + E("ETag", f'"{o.etag}"') + E("Size", o.size)
                         + _owner(names, o.owner) + E("StorageClass", o.storage_class)))
    parts += _prefixes(page, url)
    return Response.xml(ctx.d.xml("ListVersionsResult", parts))
