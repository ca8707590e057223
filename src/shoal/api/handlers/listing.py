"""ListObjects (v1), ListObjectsV2 and ListObjectVersions."""

from __future__ import annotations

import base64
import binascii
import string
from collections.abc import Sequence

from ...core.errors import ShoalError
from ...core.listing import list_page
from ...core.model import ListPage, ObjectSummary
from ..context import Ctx
from ..headers import encode_key
from ..response import Response
from ..xmldoc import E, boolean, esc_all, iso8601_all, raw

MAX_KEYS = 1000
# What encode_key(key, True) leaves as it is: ASCII letters, digits and "/-_.~".
_URL_KEPT = (string.ascii_letters + string.digits + "/-_.~").encode()


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


def _url_encoded(keys: tuple[str, ...]) -> Sequence[str]:
    """``encode_key(k, True)`` of each key; the keys themselves when all their characters are
    ones that encoding keeps (one check for the page)."""
    joined = "".join(keys)
    if joined.isascii() and not joined.encode().translate(None, _URL_KEPT):
        return keys
    return [encode_key(k, True) for k in keys]


def render_objects(objects: list[ObjectSummary], url: bool, names: dict[str, str] | None,
                   versions: bool = False) -> list[str]:
    """One ``<Contents>`` per object (``<Version>`` with ``versions``): Key, LastModified, ETag,
    Size, Owner (unless ``names`` is None) and StorageClass, each as ``E()`` renders it, one
    f-string a row. Keys and ETags are escaped a page at a time; the quotes around an ETag are
    always ``&quot;`` (escaping is per character); sizes are ints.
    """
    if not objects:
        return []
    keys, sizes, etags, stamps, classes, owners = zip(*objects, strict=True)
    if url:
        keys = _url_encoded(keys)
    keys, etags = esc_all(keys), esc_all(etags)
    times = iso8601_all(stamps)
    tag = "Version" if versions else "Contents"
    head = f"<{tag}><Key>"
    mid = "</Key><VersionId>null</VersionId><IsLatest>true</IsLatest>" if versions else "</Key>"
    ends = list(zip(classes, owners, strict=True))
    tails = {(c, o): (_owner(names, o) if names is not None else "")
             + E("StorageClass", c) + f"</{tag}>" for c, o in set(ends)}
    return [f"{head}{k}{mid}<LastModified>{t}</LastModified><ETag>&quot;{e}&quot;</ETag>"
            f"<Size>{z}</Size>{tails[end]}"
            for k, t, e, z, end in zip(keys, times, etags, sizes, ends, strict=True)]


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
    parts += render_objects(page.objects, url, names)
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
    parts += render_objects(page.objects, url, names)
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
    parts += render_objects(page.objects, url, names, versions=True)
    parts += _prefixes(page, url)
    return Response.xml(ctx.d.xml("ListVersionsResult", parts))
