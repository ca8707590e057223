"""Multipart upload operations, shared by both dialects."""

from __future__ import annotations

from typing import Any

from ...core.crypto import Kek
from ...core.errors import ShoalError
from ...core.ingest import CHECKSUM_ALGOS
from ...core.model import ByteRange, Upload
from ...core.multipart import (
    FULL_OBJECT_ALGOS,
    CompleteClaims,
    CompletePart,
    check_part_number,
    check_repeat,
)
from ...core.numbers import is_decimal
from ...core.objects import check_conditions
from .. import xmldoc
from ..body import expect_for, read_document
from ..context import Ctx
from ..headers import (
    conditions,
    encode_key,
    forbids_overwrite,
    object_meta,
    sse_response_headers,
)
from ..response import Response
from ..sse import customer_key, key_md5, keys, read_kek, stored_kek, write_kek
from ..xmldoc import E, boolean, iso8601, raw
from .bucket_config import apply_bucket_settings

MAX_LIST = 1000


def _checksum_mode(ctx: Ctx) -> tuple[str | None, str | None]:
    """(algorithm, type) asked for at Initiate, validated; the type defaults as S3's does."""
    hdr, d = ctx.req.headers, ctx.d
    algo = hdr.get(d.h("checksum-algorithm"))
    ctype = hdr.get(d.h("checksum-type"))
    if algo is None:
        if ctype is not None:
            raise ShoalError("InvalidRequest", f"The {d.h('checksum-type')} header can only be "
                             f"used with the {d.h('checksum-algorithm')} header.")
        return None, None
    algo, ctype = algo.upper(), (ctype or "").upper() or None
    if algo.lower() not in CHECKSUM_ALGOS:
        raise ShoalError("InvalidRequest", "Checksum algorithm provided is unsupported.")
    if ctype is None:
        ctype = "FULL_OBJECT" if algo == "CRC64NVME" else "COMPOSITE"
    if ctype not in ("COMPOSITE", "FULL_OBJECT"):
        raise ShoalError("InvalidRequest", "Checksum type provided is unsupported.")
    if (ctype == "FULL_OBJECT" and algo.lower() not in FULL_OBJECT_ALGOS) or \
            (ctype == "COMPOSITE" and algo == "CRC64NVME"):
        raise ShoalError("InvalidRequest", f"The {ctype} checksum type cannot be used with "
                         f"the {algo.lower()} checksum algorithm.")
    return algo, ctype


async def create_multipart_upload(ctx: Ctx) -> Response:
    d = ctx.d
    meta = object_meta(ctx.req, d)
    algo, ctype = _checksum_mode(ctx)
    await apply_bucket_settings(ctx, meta, ctx.bucket)
    await write_kek(ctx, meta)  # resolves the KMS key, keeps the SSE-C key's check
    upload = await ctx.core.multipart.initiate(ctx.bucket, ctx.key, meta, ctx.owner, algo, ctype)
    doc = d.xml("InitiateMultipartUploadResult", [
        E("Bucket", ctx.bucket), E("Key", ctx.key), E("UploadId", upload.upload_id)])
    headers = sse_response_headers(meta.sse, d, key_md5(ctx))
    if algo and ctype:
        headers[d.h("checksum-algorithm")] = algo
        headers[d.h("checksum-type")] = ctype
    return Response.xml(doc, headers=headers)


async def _upload(ctx: Ctx) -> Upload:
    upload_id = ctx.req.args.get("uploadId", "")
    return await ctx.core.multipart.get(ctx.bucket, ctx.key, upload_id)


async def _part_kek(ctx: Ctx, upload: Upload) -> Kek | None:
    """The key sealing this upload's parts. Parts of an SSE-C upload must carry the key given at
    Initiate; the SSE-S3/KMS headers a part may carry are ignored (the upload's apply)."""
    sse = upload.meta.sse or {}
    given = customer_key(ctx)
    if sse.get("algorithm") == "SSE-C":
        if given is None or not keys(ctx).key_matches(given, sse):
            raise ShoalError("InvalidRequest", "The multipart upload initiate requested "
                             "encryption. Subsequent part requests must include the "
                             "appropriate encryption parameters.")
    elif given is not None:
        raise ShoalError("InvalidRequest", "The multipart upload initiate did not request "
                         "customer-provided encryption.")
    return await stored_kek(ctx, upload.meta.sse, given)


def _complete_key_md5(ctx: Ctx, sse: dict[str, Any] | None) -> str | None:
    """Complete needs no SSE-C key (as in S3 and COS), but one it is given must be the
    upload's; its MD5 is then echoed (the upload keeps no MD5 of its own)."""
    key = customer_key(ctx)
    if key is None:
        return None
    sse = sse or {}
    if sse.get("algorithm") != "SSE-C" or not keys(ctx).key_matches(key, sse):
        raise ShoalError("InvalidRequest", "The provided encryption parameters did not match "
                         "the ones used originally.")
    return key_md5(ctx)


def _part_headers(ctx: Ctx, upload: Upload, etag: str, checksums: dict[str, str],
                  crc64: int | None) -> dict[str, str]:
    h = {"ETag": f'"{etag}"'}
    h.update(sse_response_headers(upload.meta.sse, ctx.d, key_md5(ctx)))
    for algo, value in checksums.items():
        h[ctx.d.h(f"checksum-{algo}")] = value
    if ctx.d.crc64_header and crc64 is not None:
        h[ctx.d.crc64_header] = str(crc64)
    return h


async def upload_part(ctx: Ctx) -> Response:
    req = ctx.req
    number = check_part_number(req.args.get("partNumber"))
    upload = await _upload(ctx)
    kek = await _part_kek(ctx, upload)
    expect = expect_for(req, ctx.d.prefix)
    expect.seal = kek.seal if kek is not None else None
    assert req.body is not None
    part = await ctx.core.multipart.upload_part(upload, number, req.body, expect)
    return Response.empty(200, _part_headers(ctx, upload, part.etag, part.checksums,
                                             part.crc64ecma))


def _copy_range(name: str, value: str | None, size: int) -> ByteRange | None:
    """``{x}-copy-source-range: bytes=first-last`` (inclusive); None copies everything."""
    if value is None:
        return None
    first_s, sep, last_s = value.strip().removeprefix("bytes=").partition("-")
    if not value.strip().startswith("bytes=") or not sep or not is_decimal(first_s) \
            or not is_decimal(last_s) or int(last_s) < int(first_s):
        raise ShoalError("InvalidArgument", f"The {name} value must be of the form "
                         "bytes=first-last where first and last are the zero-based offsets of "
                         "the first and last bytes to copy", ArgumentName=name,
                         ArgumentValue=value)
    if int(last_s) >= size:
        raise ShoalError("InvalidRange", ActualObjectSize=str(size), RangeRequested=value)
    return ByteRange(int(first_s), int(last_s))


async def upload_part_copy(ctx: Ctx) -> Response:
    req, d = ctx.req, ctx.d
    number = check_part_number(req.args.get("partNumber"))
    upload = await _upload(ctx)
    kek = await _part_kek(ctx, upload)
    src_bucket, src_key, version = d.copy_source(req.headers[d.h("copy-source")])
    if version not in (None, "", "null"):
        raise ShoalError("NoSuchVersion", "The specified version does not exist.",
                         Key=src_key, VersionId=version)
    src = await ctx.core.objects.head(src_bucket, src_key, with_inline=True)  # bytes to copy
    check_conditions(conditions(req, d.h("copy-source-if-")), src, copy_source=True)
    src_kek = await read_kek(ctx, src.meta.sse, copy_source=True)
    name = d.h("copy-source-range")
    rng = _copy_range(name, req.headers.get(name), src.size)
    part = await ctx.core.multipart.upload_part_copy(upload, number, src, rng, src_kek, kek)
    items = [E("LastModified", iso8601(part.last_modified)), E("ETag", f'"{part.etag}"')]
    items += [E(f"Checksum{algo.upper()}", value) for algo, value in part.checksums.items()]
    doc = d.xml("CopyPartResult", items)
    headers = sse_response_headers(upload.meta.sse, d, key_md5(ctx))
    if d.crc64_header and part.crc64ecma is not None:
        headers[d.crc64_header] = str(part.crc64ecma)
    return Response.xml(doc, headers=headers)


def _parse_complete(body: bytes) -> list[CompletePart]:
    root = xmldoc.parse(body)
    if root.tag != "CompleteMultipartUpload":
        raise ShoalError("MalformedXML")
    parts: list[CompletePart] = []
    for el in root.findall("Part"):
        num, etag = xmldoc.text(el, "PartNumber"), xmldoc.text(el, "ETag")
        if num is None or etag is None or not is_decimal(num.strip()):
            raise ShoalError("MalformedXML")
        sums = {a: v for a in CHECKSUM_ALGOS
                if (v := xmldoc.text(el, f"Checksum{a.upper()}")) is not None}
        n = int(num)
        if not 1 <= n <= 10000:
            raise ShoalError("InvalidArgument", "Part number must be an integer between 1 and "
                             "10000, inclusive", ArgumentName="partNumber", ArgumentValue=num)
        parts.append(CompletePart(n, etag.strip(), sums))
    if not parts or len(parts) > 10000:
        raise ShoalError("MalformedXML")
    return parts


def _object_claims(ctx: Ctx) -> CompleteClaims:
    """What Complete's headers claim about the whole object. Its ``{x}-checksum-<algo>``
    headers describe the object, not the XML body, so they are taken out of the request
    before the body is read (and checked against the assembled object instead)."""
    hdr, d = ctx.req.headers, ctx.d
    sums = {a: v for a in CHECKSUM_ALGOS if (v := hdr.pop(d.h(f"checksum-{a}"), None))}
    size = hdr.get(d.h("mp-object-size"))
    if size is not None and not is_decimal(size.strip()):
        raise ShoalError("InvalidArgument", f"{d.h('mp-object-size')} must be a non-negative "
                         "integer", ArgumentName=d.h("mp-object-size"), ArgumentValue=size)
    ctype = hdr.get(d.h("checksum-type"))
    return CompleteClaims(sums, ctype.upper() if ctype else None,
                          int(size) if size is not None else None,
                          if_match=hdr.get("if-match"), if_none_match=hdr.get("if-none-match"),
                          forbid_overwrite=forbids_overwrite(ctx.req, d))


async def complete_multipart_upload(ctx: Ctx) -> Response:
    d = ctx.d
    mp = ctx.core.multipart
    claims = _object_claims(ctx)
    try:
        upload = await _upload(ctx)
    except ShoalError as err:
        if err.code != "NoSuchUpload":
            raise
        # Gone: perhaps completed already, and this is a retry of that Complete.
        record = await mp.completed(ctx.bucket, ctx.key, ctx.req.args.get("uploadId", ""))
        given_md5 = _complete_key_md5(ctx, record.meta.sse)
        check_repeat(record, _parse_complete(await read_document(ctx.req)), claims)
    else:
        given_md5 = _complete_key_md5(ctx, upload.meta.sse)
        wanted = _parse_complete(await read_document(ctx.req))
        record = await mp.complete(upload, wanted, d.min_part_size, d.consecutive_parts, claims)
    parts = [E("Location", d.location(ctx.req, ctx.bucket, ctx.key)), E("Bucket", ctx.bucket),
             E("Key", ctx.key), E("ETag", f'"{record.etag}"')]
    for algo, value in record.checksums.items():
        parts.append(E(f"Checksum{algo.upper()}", value))
    if record.checksum_type:
        parts.append(E("ChecksumType", record.checksum_type))
    headers = sse_response_headers(record.meta.sse, d, given_md5)
    if d.crc64_header and record.crc64ecma is not None:
        headers[d.crc64_header] = str(record.crc64ecma)
    return Response.xml(d.xml("CompleteMultipartUploadResult", parts), headers=headers)


async def abort_multipart_upload(ctx: Ctx) -> Response:
    upload = await _upload(ctx)
    await ctx.core.multipart.abort(upload)
    return Response.empty(204)


async def list_parts(ctx: Ctx) -> Response:
    upload = await _upload(ctx)
    url = ctx.req.args.get("encoding-type") == "url"
    marker = ctx.int_arg("part-number-marker", 0, 0)
    max_parts = ctx.int_arg("max-parts", MAX_LIST, 0, MAX_LIST)
    parts, truncated = await ctx.core.multipart.list_parts(upload, marker, max_parts)
    items = [E("Bucket", ctx.bucket), E("Key", encode_key(ctx.key, url)),
             E("UploadId", upload.upload_id)]
    if url:
        items.append(E("EncodingType", "url"))
    who = await ctx.owner_xml(upload.owner)
    items += [raw("Initiator", who), raw("Owner", who),
              E("StorageClass", upload.meta.storage_class), E("PartNumberMarker", marker),
              E("NextPartNumberMarker", parts[-1].number if parts else 0),
              E("MaxParts", max_parts), E("IsTruncated", boolean(truncated))]
    if upload.checksum_algorithm:
        items.append(E("ChecksumAlgorithm", upload.checksum_algorithm))
    for p in parts:
        inner = (E("PartNumber", p.number) + E("LastModified", iso8601(p.last_modified))
                 + E("ETag", f'"{p.etag}"') + E("Size", p.size))
        for algo, value in p.checksums.items():
            inner += E(f"Checksum{algo.upper()}", value)
        items.append(raw("Part", inner))
    return Response.xml(ctx.d.xml("ListPartsResult", items))


async def list_multipart_uploads(ctx: Ctx) -> Response:
    args = ctx.req.args
    url = args.get("encoding-type") == "url"
    prefix, delimiter = args.get("prefix", ""), args.get("delimiter", "")
    key_marker, id_marker = args.get("key-marker", ""), args.get("upload-id-marker", "")
    max_uploads = ctx.int_arg("max-uploads", MAX_LIST, 0, MAX_LIST)
    res = await ctx.core.multipart.list_uploads(ctx.bucket, prefix, delimiter, key_marker,
                                                id_marker, max_uploads)
    items = [E("Bucket", ctx.bucket)]
    if url:
        items.append(E("EncodingType", "url"))
    items += [E("KeyMarker", encode_key(key_marker, url)), E("UploadIdMarker", id_marker),
              E("NextKeyMarker", encode_key(res.next_key_marker, url)),
              E("NextUploadIdMarker", res.next_upload_id_marker)]
    if delimiter:
        items.append(E("Delimiter", encode_key(delimiter, url)))
    items += [E("Prefix", encode_key(prefix, url)), E("MaxUploads", max_uploads),
              E("IsTruncated", boolean(res.truncated))]
    owners = {o: await ctx.owner_xml(o) for o in {up.owner for up in res.uploads}}
    for up in res.uploads:
        items.append(raw("Upload", E("Key", encode_key(up.key, url))
                         + E("UploadId", up.upload_id)
                         + raw("Initiator", owners[up.owner])
                         + raw("Owner", owners[up.owner])
                         + E("StorageClass", up.meta.storage_class)
                         + E("Initiated", iso8601(up.initiated))))
    items += [raw("CommonPrefixes", E("Prefix", encode_key(p, url))) for p in res.prefixes]
    return Response.xml(ctx.d.xml("ListMultipartUploadsResult", items))
