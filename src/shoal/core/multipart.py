"""Multipart uploads: initiate, upload part (and copy), list, complete without copying, abort."""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from .crypto import Kek, read_object
from .errors import RetryConflict, ShoalError
from .hashing import composite_checksum, crc_combine, multipart_etag
from .ingest import Expect, Ingested, ingest
from .model import ByteRange, ObjectMeta, ObjectRecord, Part, PartRef, Segment, Upload
from .objects import ObjectService
from .ports import BlobStore, MetaStore

MAX_PART_NUMBER = 10000
MAX_PART_SIZE = 5 * 1024**3
LIST_BATCH = 1000
FULL_OBJECT_ALGOS = ("crc32", "crc32c", "crc64nvme")


@dataclass(frozen=True, slots=True)
class CompletePart:
    number: int
    etag: str  # as sent, quotes stripped
    checksums: dict[str, str]


@dataclass(frozen=True, slots=True)
class CompleteClaims:
    """What a Complete request asserts about the whole object (all optional)."""

    checksums: dict[str, str] = field(default_factory=dict)  # algo -> base64 value
    checksum_type: str | None = None
    object_size: int | None = None
    if_match: str | None = None  # conditional write: the object at the key has this ETag
    if_none_match: str | None = None  # "*": there is no object at the key yet
    forbid_overwrite: bool = False  # COS x-cos-forbid-overwrite: no object at the key yet


@dataclass(slots=True)
class UploadListing:
    uploads: list[Upload]
    prefixes: list[str]
    truncated: bool
    next_key_marker: str
    next_upload_id_marker: str


def new_upload_id(initiated_ns: int) -> str:
    """Unguessable, URL-safe, and sorting like the initiation time: 16 hex digits of epoch
    nanoseconds, then 128 random bits. Listings order one key's uploads by (initiated, id) and
    page with ``upload-id-marker`` by id, so the two orders must agree."""
    return f"{initiated_ns:016x}{secrets.token_hex(16)}"


def check_part_number(value: str | int | None) -> int:
    try:
        n = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        n = 0
    if not 1 <= n <= MAX_PART_NUMBER:
        raise ShoalError(
            "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive",
            ArgumentName="partNumber", ArgumentValue=str(value),
        )
    return n


class MultipartService:
    def __init__(self, meta: MetaStore, blobs: BlobStore, objects: ObjectService) -> None:
        self.meta = meta
        self.blobs = blobs
        self.objects = objects

    async def initiate(
        self, bucket: str, key: str, meta: ObjectMeta, owner: str,
        checksum_algorithm: str | None = None, checksum_type: str | None = None,
    ) -> Upload:
        await self.objects.require_bucket(bucket)
        now_ns = time.time_ns()
        upload = Upload(
            upload_id=new_upload_id(now_ns), bucket=bucket, key=key, initiated=now_ns / 1e9,
            meta=meta, owner=owner, checksum_algorithm=checksum_algorithm,
            checksum_type=checksum_type,
        )
        await asyncio.to_thread(self.meta.create_upload, upload)
        return upload

    async def get(self, bucket: str, key: str, upload_id: str) -> Upload:
        upload = await asyncio.to_thread(self.meta.get_upload, upload_id)
        if upload is None or upload.bucket != bucket or upload.key != key:
            await self.objects.require_bucket(bucket)
            raise ShoalError("NoSuchUpload", UploadId=upload_id)
        return upload

    async def upload_part(
        self, upload: Upload, number: int, body: AsyncIterator[bytes], expect: Expect
    ) -> Part:
        if upload.checksum_algorithm:
            expect.want.add(upload.checksum_algorithm.lower())
        expect.max_size = MAX_PART_SIZE
        if expect.size is not None and expect.size > MAX_PART_SIZE:
            raise ShoalError("EntityTooLarge", ProposedSize=str(expect.size),
                             MaxSizeAllowed=str(MAX_PART_SIZE))
        got, _ = await ingest(self.blobs, body, expect)
        return await self._record_part(upload, number, got)

    async def upload_part_copy(
        self, upload: Upload, number: int, src: ObjectRecord, rng: ByteRange | None,
        src_kek: Kek | None = None, kek: Kek | None = None,
    ) -> Part:
        """Copy ``rng`` of ``src`` into a part: unsealed with ``src_kek`` (when the source is
        encrypted), sealed with ``kek`` (when the upload is)."""
        if (rng.length if rng is not None else src.size) > MAX_PART_SIZE:
            raise ShoalError("InvalidRequest", "The specified copy source is larger than the "
                             f"maximum allowable size for a copy source: {MAX_PART_SIZE}")
        want = {upload.checksum_algorithm.lower()} if upload.checksum_algorithm else set()
        if src_kek is None and kek is None:
            got = await self.objects.copy_bytes(src, rng, want)
        else:
            body = read_object(self.meta, self.blobs, src, rng, src_kek)
            seal = kek.seal if kek is not None else None
            got, _ = await ingest(self.blobs, body, Expect(want=want, seal=seal))
        return await self._record_part(upload, number, got)

    async def _record_part(self, upload: Upload, number: int, got: Ingested) -> Part:
        part = Part(
            upload_id=upload.upload_id, number=number, size=got.size, etag=got.etag,
            last_modified=time.time(), blob=got.blob, checksums=got.checksums,
            crc64ecma=got.crc64ecma,
        )
        try:
            freed = await asyncio.to_thread(self.meta.put_part, part)
        except BaseException:
            await self.objects.free([got.blob])
            raise
        await self.objects.free(freed)
        return part

    async def list_parts(self, upload: Upload, marker: int, max_parts: int) -> tuple[list[Part], bool]:
        parts = await asyncio.to_thread(self.meta.list_parts, upload.upload_id, marker, max_parts + 1)
        return parts[:max_parts], len(parts) > max_parts

    async def complete(
        self, upload: Upload, wanted: list[CompletePart], min_part_size: int, consecutive: bool,
        claims: CompleteClaims | None = None,
    ) -> ObjectRecord:
        for _ in range(5):
            try:
                return await self._complete_once(upload, wanted, min_part_size, consecutive,
                                                 claims or CompleteClaims())
            except RetryConflict:
                continue
            except ShoalError as err:
                if err.code != "NoSuchUpload":
                    raise
                # Completed by a concurrent request meanwhile: answer as a repeat would.
                record = await self.completed(upload.bucket, upload.key, upload.upload_id)
                check_repeat(record, wanted, claims)
                return record
        raise ShoalError("InternalError", "The upload changed while completing; retry.")

    async def completed(self, bucket: str, key: str, upload_id: str) -> ObjectRecord:
        """The object a gone upload made, while it is still the one at the key; else
        NoSuchUpload. A repeated Complete (a client retrying after a lost response) answers
        with it, once ``check_repeat`` accepts the request."""
        record = await asyncio.to_thread(self.meta.get_object, bucket, key, with_inline=False)
        if record is None or not upload_id or record.upload_id != upload_id:
            await self.objects.require_bucket(bucket)
            raise ShoalError("NoSuchUpload", UploadId=upload_id)
        return record

    async def _complete_once(
        self, upload: Upload, wanted: list[CompletePart], min_part_size: int, consecutive: bool,
        claims: CompleteClaims,
    ) -> ObjectRecord:
        numbers = [w.number for w in wanted]
        stored = {p.number: p for p in await asyncio.to_thread(
            self.meta.get_parts, upload.upload_id, numbers)}
        try:
            parts = validate_parts(wanted, stored, min_part_size, consecutive)
        except ShoalError as err:
            # Parts vanish when the upload was aborted (or completed) meanwhile: say so.
            if err.code == "InvalidPart" and await asyncio.to_thread(
                    self.meta.get_upload, upload.upload_id) is None:
                raise ShoalError("NoSuchUpload", UploadId=upload.upload_id) from None
            raise
        record = assemble(upload, parts)
        check_claims(upload, record, claims)
        if claims.if_match is not None or claims.if_none_match is not None \
                or claims.forbid_overwrite:
            current = await asyncio.to_thread(self.meta.get_object, upload.bucket, upload.key,
                                              with_inline=False)
            check_write_conditions(claims, upload.key, current)
        used = {p.number: p.blob for p in parts}
        freed = await asyncio.to_thread(self.meta.complete_upload, upload.upload_id, record, used)
        await self.objects.free(freed)
        return record

    async def abort(self, upload: Upload) -> None:
        freed = await asyncio.to_thread(self.meta.abort_upload, upload.upload_id)
        if freed is None:
            raise ShoalError("NoSuchUpload", UploadId=upload.upload_id)
        await self.objects.free(freed)

    async def list_uploads(
        self, bucket: str, prefix: str, delimiter: str, key_marker: str, upload_id_marker: str,
        max_uploads: int,
    ) -> UploadListing:
        await self.objects.require_bucket(bucket)
        out = UploadListing([], [], False, "", "")
        if max_uploads <= 0:
            return out
        kmark, umark = key_marker, upload_id_marker if key_marker else ""
        count = 0
        # With a delimiter many uploads may roll up into one prefix: read in bigger batches.
        limit = max(max_uploads + 1, LIST_BATCH) if delimiter else max_uploads + 1
        while True:
            batch = await asyncio.to_thread(
                self.meta.list_uploads, bucket, prefix, kmark, umark, limit)
            if not batch:
                return out
            for up in batch:
                cp = _common_prefix(up.key, prefix, delimiter)
                if cp is not None and (out.prefixes and out.prefixes[-1] == cp or cp <= key_marker):
                    kmark, umark = up.key, up.upload_id
                    continue
                if count == max_uploads:
                    out.truncated = True
                    return out
                count += 1
                if cp is not None:
                    out.prefixes.append(cp)
                    out.next_key_marker, out.next_upload_id_marker = cp, ""
                else:
                    out.uploads.append(up)
                    out.next_key_marker, out.next_upload_id_marker = up.key, up.upload_id
                kmark, umark = up.key, up.upload_id
            if len(batch) < limit:
                return out


def _common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    i = key.find(delimiter, len(prefix))
    return None if i < 0 else key[: i + len(delimiter)]


def validate_parts(
    wanted: list[CompletePart], stored: dict[int, Part], min_part_size: int, consecutive: bool,
) -> list[Part]:
    if not wanted:
        raise ShoalError("MalformedXML")
    numbers = [w.number for w in wanted]
    if any(a >= b for a, b in zip(numbers, numbers[1:], strict=False)):
        raise ShoalError("InvalidPartOrder")
    if consecutive:
        for expected, n in enumerate(numbers, start=1):
            if n != expected:
                raise ShoalError("InvalidPart", PartNumber=str(n))
    parts: list[Part] = []
    for w in wanted:
        p = stored.get(w.number)
        if p is None or p.etag != w.etag.strip('"').strip().lower():
            raise ShoalError("InvalidPart", UploadId=(p.upload_id if p else ""),
                             PartNumber=str(w.number), ETag=w.etag)
        for algo, value in w.checksums.items():
            if p.checksums.get(algo) not in (None, value):
                raise ShoalError("InvalidPart", PartNumber=str(w.number))
        parts.append(p)
    for p in parts[:-1]:
        if p.size < min_part_size:
            raise ShoalError("EntityTooSmall", ProposedSize=str(p.size),
                             MinSizeAllowed=str(min_part_size), PartNumber=str(p.number))
    return parts


def check_repeat(record: ObjectRecord, wanted: list[CompletePart],
                 claims: CompleteClaims | None) -> None:
    """A repeated Complete must list the parts the completed object was made of, and its
    whole-object claims must hold for that object."""
    made = [(p.number, p.etag) for p in record.parts]
    if [(w.number, w.etag.strip('"').strip().lower()) for w in wanted] != made:
        raise ShoalError("InvalidPart", UploadId=record.upload_id or "")
    if claims is not None:
        algo = next(iter(record.checksums), None)
        was = Upload(record.upload_id or "", record.bucket, record.key, 0.0, record.meta,
                     record.owner, algo.upper() if algo else None, record.checksum_type)
        check_claims(was, record, claims)


def check_claims(upload: Upload, record: ObjectRecord, claims: CompleteClaims) -> None:
    """Complete's whole-object checksum, checksum type and size must match what was built."""
    mode = record.checksum_type or upload.checksum_type
    if claims.checksum_type is not None and claims.checksum_type != mode:
        raise ShoalError("InvalidRequest", f"The upload was created using the {mode or 'null'} "
                         "checksum mode. The complete request must use the same checksum mode.")
    if claims.object_size is not None and claims.object_size != record.size:
        raise ShoalError("InvalidRequest", "The provided 'x-amz-mp-object-size' header value "
                         f"{claims.object_size} does not match the object size {record.size}.")
    for algo, value in claims.checksums.items():
        ours = record.checksums.get(algo)
        if ours is None:
            used = (upload.checksum_algorithm or "null").lower()
            raise ShoalError("InvalidRequest", f"The upload was created using a {used} "
                             "checksum. The complete request must use the same checksum "
                             "algorithm.")
        if value.strip().split("-")[0] != ours.split("-")[0]:
            raise ShoalError("BadDigest", f"The {algo.upper()} you specified did not match the "
                             "calculated checksum.")


def check_write_conditions(claims: CompleteClaims, key: str,
                           current: ObjectRecord | None) -> None:
    """S3 conditional writes on Complete: ``If-None-Match`` (``*`` or ETags) and ``If-Match``;
    COS ``x-cos-forbid-overwrite``."""
    if claims.forbid_overwrite and current is not None:
        raise ShoalError("FileAlreadyExists")
    if claims.if_none_match is not None and current is not None:
        refused = {t.strip().strip('"') for t in claims.if_none_match.split(",")}
        if "*" in refused or current.etag in refused:
            raise ShoalError("PreconditionFailed", Condition="If-None-Match")
    if claims.if_match is not None:
        if current is None:
            raise ShoalError("NoSuchKey", Key=key)
        wanted = {t.strip().strip('"') for t in claims.if_match.split(",")}
        if "*" not in wanted and current.etag not in wanted:
            raise ShoalError("PreconditionFailed", Condition="If-Match")


def assemble(upload: Upload, parts: list[Part]) -> ObjectRecord:
    """The completed object: the parts' blobs become its segments; nothing is read or copied."""
    size = sum(p.size for p in parts)
    etag = multipart_etag(bytes.fromhex(p.etag) for p in parts)
    crc = parts[0].crc64ecma or 0
    for p in parts[1:]:
        crc = crc_combine("crc64ecma", crc, p.crc64ecma or 0, p.size)
    checksums: dict[str, str] = {}
    ctype: str | None = None
    algo = (upload.checksum_algorithm or "").lower()
    if algo and all(algo in p.checksums for p in parts):
        if (upload.checksum_type or "").upper() == "FULL_OBJECT" and algo in FULL_OBJECT_ALGOS:
            value = _int(parts[0].checksums[algo])
            for p in parts[1:]:
                value = crc_combine(algo, value, _int(p.checksums[algo]), p.size)
            width = 8 if algo == "crc64nvme" else 4
            checksums[algo] = base64.b64encode(value.to_bytes(width, "big")).decode()
            ctype = "FULL_OBJECT"
        else:
            digests = [base64.b64decode(p.checksums[algo]) for p in parts]
            checksums[algo] = composite_checksum(algo, digests)
            ctype = "COMPOSITE"
    return ObjectRecord(
        bucket=upload.bucket, key=upload.key, size=size, etag=etag, last_modified=time.time(),
        meta=upload.meta, segments=[Segment(p.blob, 0, p.size) for p in parts],
        owner=upload.owner, checksums=checksums, checksum_type=ctype, crc64ecma=crc,
        parts=[PartRef(p.number, p.size, p.etag, p.checksums.get(algo)) for p in parts],
        upload_id=upload.upload_id,
    )


def _int(b64: str) -> int:
    return int.from_bytes(base64.b64decode(b64), "big")
