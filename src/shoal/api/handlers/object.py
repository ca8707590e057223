"""Object operations: Put, Get, Head, Delete, Copy, DeleteObjects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from xml.etree.ElementTree import Element

from ...core.conditions import WriteConditions, parse_range
from ...core.crypto import read_object
from ...core.errors import ShoalError
from ...core.ingest import CHECKSUM_ALGOS, Expect
from ...core.model import ByteRange, ObjectRecord
from ...core.numbers import is_decimal
from ...core.objects import check_conditions
from ...core.reader import BlobGone, BlobStream
from .. import xmldoc
from ..body import expect_for, read_document
from ..context import Ctx
from ..headers import (
    conditions,
    forbids_overwrite,
    object_headers,
    object_meta,
    parse_http_date,
    response_overrides,
    sse_response_headers,
    write_conditions,
)
from ..pacing import paced
from ..response import Response
from ..sse import key_md5, read_kek, same_kek, sse_c_key, write_kek
from ..xmldoc import E, iso8601, raw
from .bucket_config import apply_bucket_settings, expiration_header

MAX_DELETE = 1000


def _write_headers(ctx: Ctx, record: ObjectRecord) -> dict[str, str]:
    h = {"ETag": f'"{record.etag}"'}
    h.update(sse_response_headers(record.meta.sse, ctx.d, key_md5(ctx)))
    for algo, value in record.checksums.items():
        h[ctx.d.h(f"checksum-{algo}")] = value
    if ctx.d.crc64_header and record.crc64ecma is not None:
        h[ctx.d.crc64_header] = str(record.crc64ecma)
    return h


async def put_object(ctx: Ctx) -> Response:
    req = ctx.req
    meta = object_meta(req, ctx.d)
    expect = expect_for(req, ctx.d.prefix)
    expect.max_size = ctx.config.max_put_size
    if expect.size is not None and expect.size > ctx.config.max_put_size:
        raise ShoalError("EntityTooLarge", ProposedSize=str(expect.size),
                         MaxSizeAllowed=str(ctx.config.max_put_size))
    await apply_bucket_settings(ctx, meta, ctx.bucket)
    kek = await write_kek(ctx, meta)
    expect.seal = kek.seal if kek is not None else None
    assert req.body is not None
    record = await ctx.core.objects.put(ctx.bucket, ctx.key, meta, req.body, expect, ctx.owner,
                                        write_conditions(req, ctx.d))
    headers = _write_headers(ctx, record)
    headers.update(await expiration_header(ctx, record))
    return Response.empty(200, headers)


async def _get_or_head(ctx: Ctx, head: bool) -> Response:
    for _ in range(READ_ATTEMPTS):
        try:
            return await _get_or_head_once(ctx, head)
        except BlobGone:
            continue  # replaced or deleted between the lookup and the open: look again
    raise ShoalError("SlowDown", "The object is being replaced too often; retry.")


READ_ATTEMPTS = 5


async def _get_or_head_once(ctx: Ctx, head: bool) -> Response:
    req = ctx.req
    if ctx.d.h("server-side-encryption") in req.headers:
        raise ShoalError("InvalidArgument", f"{ctx.d.h('server-side-encryption')} header is "
                         "not supported for this operation.",
                         ArgumentName=ctx.d.h("server-side-encryption"))
    if "partNumber" in req.args and "range" in req.headers:
        raise ShoalError("InvalidRequest", "Cannot specify both Range header and partNumber "
                         "query parameter")
    data: bytes | None = None  # a small object's bytes, read with its record
    if head:
        record = await ctx.core.objects.head(ctx.bucket, ctx.key)
    else:
        record, data = await ctx.core.objects.head_with_body(ctx.bucket, ctx.key)
    kek = await read_kek(ctx, record.meta.sse)
    try:
        check_conditions(conditions(req), record)
    except ShoalError as err:
        if err.code == "NotModified":
            return Response(304, {"ETag": f'"{record.etag}"',
                                  "Last-Modified": object_headers(record, ctx.d, req)[
                                      "Last-Modified"]}, b"", head=True)
        raise
    headers = object_headers(record, ctx.d, req)
    headers.update(sse_response_headers(record.meta.sse, ctx.d, key_md5(ctx)))
    headers.update(await expiration_header(ctx, record))
    rng, status = _select(ctx, record, headers)
    length = rng.length if rng is not None else record.size
    headers["Content-Length"] = str(length)
    if req.method == "GET":
        headers.update(response_overrides(req))
    if head or length == 0:
        return Response(status, headers, b"", length=length, head=True)
    body: bytes | AsyncIterator[bytes]
    if data is not None:
        body = data if rng is None else data[rng.first:rng.last + 1]
    else:
        body = ctx.core.objects.read(record, rng) if kek is None else \
            read_object(ctx.core.meta, ctx.core.blobs, record, rng, kek)
        if isinstance(body, BlobStream):
            await body.prime()
    limit = req.state.get("traffic_limit")
    if limit is not None:  # COS x-cos-traffic-limit
        return Response(status, headers, paced(body, limit), length=length, stream=True)
    return Response(status, headers, body, length=length)


def _select(
    ctx: Ctx, record: ObjectRecord, headers: dict[str, str]
) -> tuple[ByteRange | None, int]:
    """The bytes a GET/HEAD asks for (``?partNumber`` or Range) and the status to answer with.
    A part or range replaces the whole-object checksum headers: they do not describe it."""
    req = ctx.req
    part_number = req.args.get("partNumber")
    if part_number is not None:
        rng = _part_range(record, part_number)
        if record.parts:
            headers[ctx.d.h("mp-parts-count")] = str(len(record.parts))
    elif "range" in req.headers:
        rng = parse_range(req.headers["range"], record.size)
    else:
        return None, 200
    if rng is None:
        return None, 200
    if rng.length == 0:  # an empty part: nothing to send, and no byte range to name
        return rng, 200
    headers["Content-Range"] = f"bytes {rng.first}-{rng.last}/{record.size}"
    for name in [n for n in headers if n.startswith(ctx.d.h("checksum-"))]:
        del headers[name]
    if part_number is not None:
        headers.update(_part_checksum(ctx, record, int(part_number)))
    return rng, 206


def _part_checksum(ctx: Ctx, record: ObjectRecord, number: int) -> dict[str, str]:
    """The checksum the client sent for one part of a multipart object, when it sent one."""
    algo = next((a for a in record.checksums if a in CHECKSUM_ALGOS), None)
    part = record.parts[number - 1]
    if algo is None or not part.checksum:
        return {}
    return {ctx.d.h(f"checksum-{algo}"): part.checksum,
            ctx.d.h("checksum-type"): record.checksum_type or "COMPOSITE"}


def _part_range(record: ObjectRecord, value: str) -> ByteRange | None:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1 or n > 10000:
        raise ShoalError("InvalidArgument", "Part number must be an integer between 1 and "
                         "10000, inclusive", ArgumentName="partNumber", ArgumentValue=value)
    if not record.parts:
        if n != 1:
            raise ShoalError("InvalidPartNumber", "The requested partnumber is not "
                             "satisfiable", PartNumberRequested=value)
        return None
    if n > len(record.parts):
        raise ShoalError("InvalidPartNumber", "The requested partnumber is not satisfiable",
                         PartNumberRequested=value, ActualPartCount=str(len(record.parts)))
    first = sum(p.size for p in record.parts[: n - 1])
    size = record.parts[n - 1].size
    return ByteRange(first, first + size - 1)  # an empty part is an empty range


def check_sse_c_read(ctx: Ctx, record: ObjectRecord, copy_source: bool = False) -> None:
    """An SSE-C object can only be read with its key; other objects must not be sent one."""
    sse_c_key(ctx, record.meta.sse, copy_source)


async def get_object(ctx: Ctx) -> Response:
    return await _get_or_head(ctx, head=False)


async def head_object(ctx: Ctx) -> Response:
    return await _get_or_head(ctx, head=True)


async def delete_object(ctx: Ctx) -> Response:
    await ctx.core.objects.delete(ctx.bucket, ctx.key,
                                  write_conditions(ctx.req, ctx.d, delete=True))
    return Response.empty(204)


async def copy_object(ctx: Ctx) -> Response:
    req, d = ctx.req, ctx.d
    src_bucket, src_key, version = d.copy_source(req.headers[d.h("copy-source")])
    if version not in (None, "", "null"):
        raise ShoalError("NoSuchVersion", "The specified version does not exist.",
                         Key=src_key, VersionId=version)
    same = src_bucket == ctx.bucket and src_key == ctx.key
    # A copy reads the source's bytes: a small source's come with its record. A copy onto
    # itself rewrites only the metadata (one that changes the encryption reads the bytes
    # through read_object, which fetches them).
    src = await ctx.core.objects.head(src_bucket, src_key, with_inline=not same)
    check_conditions(conditions(req, d.h("copy-source-if-")), src, copy_source=True)
    src_kek = await read_kek(ctx, src.meta.sse, copy_source=True)
    if src.size > ctx.config.max_put_size:
        raise ShoalError("InvalidRequest", "The specified copy source is larger than the "
                         "maximum allowable size for a copy source: 5368709120")
    directive = req.headers.get(d.h("metadata-directive"), "COPY").upper()
    if directive not in ("COPY", "REPLACE", "REPLACED"):
        raise ShoalError("InvalidArgument", "Unknown metadata directive.",
                         ArgumentName=d.h("metadata-directive"), ArgumentValue=directive)
    new_meta = object_meta(req, d)
    if directive == "COPY":
        meta = src.meta.__class__.from_json(src.meta.to_json())
        meta.storage_class = new_meta.storage_class if d.h("storage-class") in req.headers \
            else src.meta.storage_class
        meta.sse = new_meta.sse
        meta.acl = new_meta.acl
    else:
        meta = new_meta
    tag_directive = req.headers.get(d.h("tagging-directive"), "COPY").upper()
    if tag_directive == "REPLACE":
        meta.tags = new_meta.tags
    elif directive != "COPY":
        meta.tags = list(src.meta.tags)
    if same and directive == "COPY" and meta.storage_class == src.meta.storage_class \
            and not meta.sse and not req.headers.get(d.h("website-redirect-location")):
        raise ShoalError("InvalidRequest", "This copy request is illegal because it is trying "
                         "to copy an object to itself without changing the object's metadata, "
                         "storage class, website redirect location or encryption attributes.")
    await apply_bucket_settings(ctx, meta, ctx.bucket)
    kek = await write_kek(ctx, meta)
    when = WriteConditions(forbid_overwrite=forbids_overwrite(req, d))
    if (src_kek is None and kek is None) or (same and same_kek(src.meta.sse, meta.sse)):
        # Unencrypted, or onto itself under the same key: what the core's copy does is right.
        record = await ctx.core.objects.copy(src, None, ctx.bucket, ctx.key, meta, ctx.owner,
                                             when=when)
    else:
        expect = Expect(want={a for a in src.checksums if "-" not in a},
                        seal=kek.seal if kek is not None else None)
        body = read_object(ctx.core.meta, ctx.core.blobs, src, None, src_kek)
        record = await ctx.core.objects.put(ctx.bucket, ctx.key, meta, body, expect, ctx.owner,
                                            when)
    doc = d.xml("CopyObjectResult", [E("LastModified", iso8601(record.last_modified)),
                                     E("ETag", f'"{record.etag}"')])
    headers = sse_response_headers(meta.sse, d, key_md5(ctx))
    if d.crc64_header and record.crc64ecma is not None:
        headers[d.crc64_header] = str(record.crc64ecma)
    return Response.xml(doc, headers=headers)


async def delete_objects(ctx: Ctx) -> Response:
    body = await read_document(ctx.req, require_md5=True)
    root = xmldoc.parse(body)
    if root.tag != "Delete":
        raise ShoalError("MalformedXML")
    quiet = (xmldoc.text(root, "Quiet") or "").strip().lower() == "true"
    objects = root.findall("Object")
    if not objects or len(objects) > MAX_DELETE:
        raise ShoalError("MalformedXML")
    await ctx.core.buckets.get(ctx.bucket)
    parts: list[str] = []
    for obj in objects:
        key = xmldoc.text(obj, "Key")
        if key is None:
            raise ShoalError("MalformedXML")
        try:
            await ctx.core.objects.delete(ctx.bucket, key, _entry_conditions(obj))
        except ShoalError as err:
            parts.append(raw("Error", E("Key", key) + E("Code", err.code) +
                             E("Message", err.message)))
            continue
        if not quiet:
            version = xmldoc.text(obj, "VersionId")
            parts.append(raw("Deleted", E("Key", key) + E("VersionId", version)))
    return Response.xml(ctx.d.xml("DeleteResult", parts))


def _entry_conditions(obj: Element) -> WriteConditions:
    """Per-object preconditions of a DeleteObjects entry (ETag, LastModifiedTime, Size)."""
    cond = WriteConditions(if_match=xmldoc.text(obj, "ETag"))
    when = xmldoc.text(obj, "LastModifiedTime")
    if when is not None:
        cond.match_last_modified = _timestamp(when.strip())
    size = xmldoc.text(obj, "Size")
    if size is not None:
        if not is_decimal(size.strip()):
            raise ShoalError("MalformedXML")
        cond.match_size = int(size)
    return cond


def _timestamp(value: str) -> float:
    """An RFC 822 date (what SDKs send) or an ISO 8601 one, as epoch seconds."""
    ts = parse_http_date(value)
    if ts is not None:
        return ts
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ShoalError("MalformedXML") from exc
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
