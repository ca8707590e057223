"""GetObjectAttributes (``GET /key?attributes``): ETag, checksums, parts, class and size."""

from __future__ import annotations

from ...core.errors import ShoalError
from ...core.model import ObjectRecord
from ...core.numbers import is_decimal
from ..context import Ctx
from ..headers import http_date
from ..response import Response
from ..xmldoc import E, boolean, raw
from .object import check_sse_c_read

ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")
MAX_PARTS = 1000
_ALGO_NAMES = {"crc32": "CRC32", "crc32c": "CRC32C", "crc64nvme": "CRC64NVME", "sha1": "SHA1",
               "sha256": "SHA256"}


def _requested(ctx: Ctx) -> set[str]:
    value = ctx.req.headers.get(ctx.d.h("object-attributes"), "")
    wanted = {a.strip() for a in value.split(",") if a.strip()}
    unknown = wanted - set(ATTRIBUTES)
    if not wanted or unknown:
        raise ShoalError("InvalidArgument", "Invalid attribute name specified.",
                         ArgumentName=ctx.d.h("object-attributes"), ArgumentValue=value)
    return wanted


def _int_header(ctx: Ctx, name: str, default: int, hi: int) -> int:
    value = ctx.req.headers.get(ctx.d.h(name))
    if value is None or value == "":
        return default
    if not is_decimal(value):
        raise ShoalError("InvalidArgument", f"Invalid {ctx.d.h(name)}",
                         ArgumentName=ctx.d.h(name), ArgumentValue=value)
    return min(int(value), hi)


def _checksum(record: ObjectRecord) -> str:
    inner = "".join(E(f"Checksum{_ALGO_NAMES[a]}", v) for a, v in record.checksums.items()
                    if a in _ALGO_NAMES)
    if not inner:
        return ""
    return raw("Checksum", inner + E("ChecksumType", record.checksum_type))


def _parts(ctx: Ctx, record: ObjectRecord) -> str:
    if not record.parts:
        return ""
    max_parts = _int_header(ctx, "max-parts", MAX_PARTS, MAX_PARTS)
    marker = _int_header(ctx, "part-number-marker", 0, 10000)
    after = [p for p in record.parts if p.number > marker]
    page = after[:max_parts]
    truncated = len(after) > len(page)
    algo = next((_ALGO_NAMES[a] for a in record.checksums if a in _ALGO_NAMES), None)
    items = "".join(
        raw("Part", (E(f"Checksum{algo}", p.checksum) if algo and p.checksum else "")
            + E("PartNumber", p.number) + E("Size", p.size))
        for p in page
    )
    inner = (E("PartsCount", len(record.parts)) + E("PartNumberMarker", marker)
             + E("NextPartNumberMarker", page[-1].number if truncated and page else None)
             + E("MaxParts", max_parts) + E("IsTruncated", boolean(truncated)) + items)
    return raw("ObjectParts", inner)


async def get_object_attributes(ctx: Ctx) -> Response:
    wanted = _requested(ctx)
    record = await ctx.core.objects.head(ctx.bucket, ctx.key)
    check_sse_c_read(ctx, record)
    parts: list[str] = []
    if "ETag" in wanted:
        parts.append(E("ETag", record.etag))
    if "Checksum" in wanted:
        parts.append(_checksum(record))
    if "ObjectParts" in wanted:
        parts.append(_parts(ctx, record))
    if "StorageClass" in wanted:
        parts.append(E("StorageClass", record.meta.storage_class))
    if "ObjectSize" in wanted:
        parts.append(E("ObjectSize", record.size))
    headers = {"Last-Modified": http_date(record.last_modified)}
    return Response.xml(ctx.d.xml("GetObjectAttributesResponse", parts), headers=headers)
