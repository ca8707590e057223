"""Check a blob store against its metadata, and repair what can be repaired safely.

Works through the ``MetaStore``/``BlobStore`` ports only, so it runs against any store and
alongside a live server. Metadata is scanned parts first, then objects, then the blobs on disk:
a blob only ever moves from a part to an object, so it cannot slip between the two scans. Rows
and blobs that change during the scan are handled by re-reading a row before reporting a problem
with it, and by sparing unreferenced blobs younger than a grace period (a server commits a blob
just before the row that refers to it). No printing here: ``check`` returns a ``Report``.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from .crypto import plain_size
from .errors import ShoalError
from .kms import KeyService
from .model import ByteRange, ObjectRecord, Part, Segment, Upload, is_inline
from .ports import BlobStore, MetaStore
from .reader import Extent, extents

CHUNK = 1 << 20
PAGE = 1000
FAR_FUTURE = 1e18  # an "initiated before" bound that every upload meets
DECRYPT_FAILED = "cannot decrypt the data"
_HEX32 = re.compile(r"[0-9a-f]{32}")  # a blob id, or an MD5 in hex

# (phase, done, total or None, unit: "B" for bytes, "" for items)
Progress = Callable[[str, int, int | None, str], None]


class Kind(StrEnum):
    MISSING_BLOB = "missing-blob"  # a row refers to a blob that is not there
    SIZE_MISMATCH = "size-mismatch"  # blob shorter/longer than the row says
    HASH_MISMATCH = "hash-mismatch"  # blob bytes do not match the ETag
    SHARED_BLOB = "shared-blob"  # two rows own the same blob
    ORPHAN_BLOB = "orphan-blob"  # no row refers to the blob
    TEMP_FILE = "temp-file"  # an unfinished write left behind
    STALE_UPLOAD = "stale-upload"  # an incomplete multipart upload older than the limit


REPAIRABLE = frozenset({Kind.ORPHAN_BLOB, Kind.TEMP_FILE, Kind.STALE_UPLOAD})


@dataclass(frozen=True, slots=True)
class Owner:
    """The row a blob belongs to: an object (bucket, key) or a part (upload id, number)."""

    bucket: str
    key: str
    upload_id: str = ""
    number: int = 0

    def __str__(self) -> str:
        if self.upload_id:
            return f"upload {self.upload_id} part {self.number} ({self.bucket}/{self.key})"
        return f"object {self.bucket}/{self.key}"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    subject: str  # what the finding is about, for people
    detail: str
    blob: str | None = None  # blob id or temp file name
    owner: Owner | None = None  # the object or part concerned
    upload_id: str | None = None  # the upload concerned (parts and stale uploads)

    @property
    def repairable(self) -> bool:
        return self.kind in REPAIRABLE

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}: {self.detail}"


@dataclass(slots=True)
class FsckOptions:
    verify_data: bool = True  # read every byte and compare MD5s with the ETags
    grace: float = 3600.0  # spare unreferenced blobs and temp files younger than this
    stale_upload_age: float = 7 * 86400.0
    # Opens SSE-S3/KMS objects to verify their data; without it (and always for SSE-C, whose
    # keys the server never has) encrypted data is size-checked only.
    keys: KeyService | None = None


@dataclass(slots=True)
class Stats:
    buckets: int = 0
    objects: int = 0
    uploads: int = 0
    parts: int = 0
    blobs: int = 0
    temp_files: int = 0
    bytes_verified: int = 0
    spared_blobs: int = 0  # unreferenced but younger than the grace period
    spared_temp: int = 0
    unverified_encrypted: int = 0  # encrypted objects and parts whose data could not be read


@dataclass(slots=True)
class Report:
    findings: list[Finding] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)

    @property
    def clean(self) -> bool:
        return not self.findings

    def counts(self) -> Counter[Kind]:
        return Counter(f.kind for f in self.findings)


@dataclass(slots=True)
class RepairResult:
    removed_blobs: int = 0  # orphans, and the blobs of aborted uploads
    removed_temp: int = 0
    aborted_uploads: int = 0
    kept_blobs: int = 0  # would-be removals that a row referred to by the time of the repair
    unrepaired: list[Finding] = field(default_factory=list)


# -- enumeration through the ports ---------------------------------------------------------------
def iter_objects(meta: MetaStore, bucket: str) -> Iterator[ObjectRecord]:
    """Every object of ``bucket`` with its segments (listing pages, then one get each)."""
    after = ""
    while page := meta.list_objects(bucket, "", after, PAGE):
        for summary in page:
            record = meta.get_object(bucket, summary.key)
            if record is not None:  # deleted meanwhile
                yield record
        after = page[-1].key


def iter_temp(blobs: BlobStore) -> Iterator[tuple[str, float]]:
    """(name, mtime) of unfinished writes: the store's ``iter_temp()`` if it has one, else the
    blob-named files of its ``tmp_dir``; nothing for a store with neither."""
    custom = getattr(blobs, "iter_temp", None)
    if callable(custom):
        yield from custom()
        return
    tmp_dir = getattr(blobs, "tmp_dir", None)
    if not isinstance(tmp_dir, str) or not os.path.isdir(tmp_dir):
        return
    with os.scandir(tmp_dir) as it:
        entries = [e for e in it if _HEX32.fullmatch(e.name)]
    for entry in entries:
        try:
            yield entry.name, entry.stat(follow_symlinks=False).st_mtime
        except FileNotFoundError:
            continue


# -- the check -------------------------------------------------------------------------------
def check(
    meta: MetaStore, blobs: BlobStore, options: FsckOptions | None = None,
    progress: Progress | None = None, now: float | None = None,
) -> Report:
    """Compare every part, object, blob and temp file; returns the findings."""
    checker = _Checker(meta, blobs, options or FsckOptions(), progress, now or time.time())
    return checker.run()


class _Checker:
    def __init__(self, meta: MetaStore, blobs: BlobStore, options: FsckOptions,
                 progress: Progress | None, now: float) -> None:  # fmt: skip
        self.meta, self.blobs, self.opts, self.now = meta, blobs, options, now
        self.progress: Progress = progress or (lambda phase, done, total, unit: None)
        self.show_totals = progress is not None
        self._total: int | None = None  # of the objects phase, for the progress display
        self._object_bytes = 0  # verified so far in the objects phase
        self.report = Report()
        self.owners: dict[str, Owner] = {}  # blob -> first row seen owning it
        self.shared: dict[str, list[Owner]] = {}  # blob -> further owners

    def run(self) -> Report:
        buckets = [b.name for b in self.meta.list_buckets()]
        self.report.stats.buckets = len(buckets)
        self._scan_uploads()
        self._scan_objects(buckets)
        self._check_shared()
        self._scan_blobs()
        self._scan_temp()
        return self.report

    def _add(self, finding: Finding) -> None:
        self.report.findings.append(finding)

    # -- rows ----------------------------------------------------------------------------------
    def _scan_uploads(self) -> None:
        uploads = self.meta.uploads_older_than(FAR_FUTURE)
        stale_before = self.now - self.opts.stale_upload_age
        for i, upload in enumerate(uploads, 1):
            parts = self.meta.get_parts(upload.upload_id)
            self.report.stats.uploads += 1
            self.report.stats.parts += len(parts)
            if upload.initiated < stale_before:
                self._add(_stale(upload, len(parts), self.now))
            for part in parts:
                owner = Owner(upload.bucket, upload.key, upload.upload_id, part.number)
                self._check_row(owner, _as_record(upload, part))
            self.progress("uploads", i, len(uploads), "")

    def _scan_objects(self, buckets: list[str]) -> None:
        self._total = self._survey(buckets) if self.show_totals else None
        for bucket in buckets:
            for record in iter_objects(self.meta, bucket):
                self.report.stats.objects += 1
                self._check_row(Owner(record.bucket, record.key), record)
                if not self.opts.verify_data:
                    self.progress("objects", self.report.stats.objects, self._total, "")

    def _survey(self, buckets: list[str]) -> int:
        """Total objects (or bytes, when verifying) for a progress display."""
        total = 0
        for bucket in buckets:
            after = ""
            while page := self.meta.list_objects(bucket, "", after, PAGE):
                total += sum(s.size for s in page) if self.opts.verify_data else len(page)
                after = page[-1].key
        return total

    def _check_row(self, owner: Owner, record: ObjectRecord) -> None:
        """Check an object, or a part as a one-segment object; report only if the row is still
        the same when re-read (else a server changed it meanwhile, and the findings are moot)."""
        for blob in dict.fromkeys(s.blob for s in record.segments):
            first = self.owners.setdefault(blob, owner)
            if first != owner:
                self.shared.setdefault(blob, []).append(owner)
        found = self._findings(owner, record)
        if found and self._unchanged(owner, record):
            self.report.findings.extend(found)

    def _findings(self, owner: Owner, record: ObjectRecord) -> list[Finding]:
        def finding(kind: Kind, detail: str, blob: str | None = None) -> Finding:
            return Finding(kind, str(owner), detail, blob, owner, owner.upload_id or None)

        if any(is_inline(s.blob) for s in record.segments):
            return [finding(kind, problem) for kind, problem in self._inline_problems(record)]
        found: list[Finding] = []
        sizes = {b: self.blobs.size(b) for b in dict.fromkeys(s.blob for s in record.segments)}
        for blob, size in sizes.items():
            if size is None:
                found.append(finding(Kind.MISSING_BLOB, f"blob {blob} is missing", blob))
        if record.meta.sse:  # sealed blobs: compare plaintext sizes
            for blob, problem in _plain_sizes(sizes):
                found.append(finding(Kind.SIZE_MISMATCH, problem, blob))
        noun = "part" if owner.upload_id else "object"
        for problem, blob in _size_problems(record, sizes, noun):
            found.append(finding(Kind.SIZE_MISMATCH, problem, blob))
        if found or not self.opts.verify_data:
            return found
        targets = [(p.size, p.etag, f"part {p.number}") for p in record.parts] or [
            (record.size, record.etag, noun)]
        if not all(_HEX32.fullmatch(etag) for _, etag, _ in targets):
            return found  # an ETag that is not a plain MD5: nothing to compare with
        store = self._reader(record)
        if store is None:
            self.report.stats.unverified_encrypted += 1
            return found
        phase = "uploads" if owner.upload_id else "objects"
        got = self._digests(_pieces(record, [size for size, _, _ in targets]), phase, store)
        if isinstance(got, str):
            corrupt = got.startswith(DECRYPT_FAILED)  # sealed data that fails its tags
            return [finding(Kind.HASH_MISMATCH if corrupt else Kind.MISSING_BLOB, got)]
        for (_, etag, what), md5 in zip(targets, got, strict=True):
            if md5 != etag:
                blob = record.segments[0].blob if len(record.segments) == 1 else None
                found.append(finding(Kind.HASH_MISMATCH, f"{what} has MD5 {md5}, its ETag is "
                                     f"{etag}", blob))
        return found

    def _inline_problems(self, record: ObjectRecord) -> list[tuple[Kind, str]]:
        """An object whose bytes the metadata store keeps: they must be there, as long as the
        row says, and (with verify_data) hash to its ETag."""
        blob = record.segments[0].blob
        if record.inline is None:
            return [(Kind.MISSING_BLOB, f"inline body {blob} is missing")]
        if len(record.segments) != 1 or len(record.inline) != record.size:
            return [(Kind.SIZE_MISMATCH, f"inline body {blob} has {len(record.inline)} bytes, "
                     f"the object {record.size}")]
        if self.opts.verify_data:
            self.report.stats.bytes_verified += record.size
            md5 = hashlib.md5(record.inline).hexdigest()
            if _HEX32.fullmatch(record.etag) and md5 != record.etag:
                return [(Kind.HASH_MISMATCH, f"object has MD5 {md5}, its ETag is {record.etag}")]
        return []

    def _unchanged(self, owner: Owner, record: ObjectRecord) -> bool:
        if owner.upload_id:
            parts = self.meta.get_parts(owner.upload_id, [owner.number])
            return bool(parts) and parts[0].blob == record.segments[0].blob
        now = self.meta.get_object(record.bucket, record.key, with_inline=False)
        return now is not None and now.segments == record.segments and now.etag == record.etag

    def _reader(self, record: ObjectRecord) -> BlobStore | None:
        """The store that reads the row's data as plaintext; None when it cannot be opened."""
        sse = record.meta.sse
        if not sse:
            return self.blobs
        keys = self.opts.keys
        if keys is None or sse.get("algorithm") == "SSE-C":
            return None
        try:
            if str(sse.get("algorithm", "")).startswith(("aws:kms", "cos/kms")):
                return keys.kms(sse.get("kms_key_id"), sse.get("context"))[1].seal(self.blobs)
        except ShoalError:
            return None
        return keys.sse_s3().seal(self.blobs)

    def _md5(self, extents: list[Extent], phase: str, store: BlobStore) -> str:
        """Hex MD5 of the extents' bytes; raises OSError/EOFError when they cannot be read."""
        h = hashlib.md5(usedforsecurity=False)
        for ext in extents:
            with store.open(ext.blob) as f:
                f.seek(ext.offset)
                left = ext.length
                while left:
                    data = f.read(min(CHUNK, left))
                    if not data:
                        raise EOFError(f"blob {ext.blob} ends {left} bytes early")
                    h.update(data)
                    left -= len(data)
                    self.report.stats.bytes_verified += len(data)
                    if phase == "objects":
                        self._object_bytes += len(data)
                        self.progress(phase, self._object_bytes, self._total, "B")
        return h.hexdigest()

    def _digests(self, pieces: list[list[Extent]], phase: str,
                 store: BlobStore) -> list[str] | str:
        """MD5s of the pieces, or why they could not be read."""
        try:
            return [self._md5(piece, phase, store) for piece in pieces]
        except (OSError, EOFError) as exc:
            return f"cannot read the data: {exc}"
        except ShoalError as exc:  # a sealed blob that does not open or decrypt
            return f"{DECRYPT_FAILED}: {exc.message}"

    def _check_shared(self) -> None:
        for blob, others in self.shared.items():
            owners = [o for o in [self.owners[blob], *others] if self._still_owns(o, blob)]
            if len(owners) > 1:
                names = ", ".join(str(o) for o in owners)
                self._add(Finding(Kind.SHARED_BLOB, f"blob {blob}", f"owned by {names}", blob,
                                  owners[0], owners[0].upload_id or None))

    def _still_owns(self, owner: Owner, blob: str) -> bool:
        if owner.upload_id:
            parts = self.meta.get_parts(owner.upload_id, [owner.number])
            return bool(parts) and parts[0].blob == blob
        record = self.meta.get_object(owner.bucket, owner.key, with_inline=False)
        return record is not None and any(s.blob == blob for s in record.segments)

    # -- files ---------------------------------------------------------------------------------
    def _scan_blobs(self) -> None:
        young_after = self.now - self.opts.grace
        candidates: dict[str, float] = {}
        for i, (blob, mtime) in enumerate(self.blobs.iter_blobs(), 1):
            self.report.stats.blobs += 1
            if blob not in self.owners:
                if mtime >= young_after:
                    self.report.stats.spared_blobs += 1
                else:
                    candidates[blob] = mtime
            if i % PAGE == 0:
                self.progress("blobs", i, None, "")
        if candidates:  # a second look, for rows written while we scanned
            referenced = set(self.meta.referenced_blobs())
            for blob, mtime in candidates.items():
                size = self.blobs.size(blob)
                if blob in referenced or size is None:
                    continue
                self._add(Finding(Kind.ORPHAN_BLOB, f"blob {blob}", f"no object or part refers "
                                  f"to it ({size} bytes, {_age(self.now, mtime)} old)", blob))
        self.progress("blobs", self.report.stats.blobs, self.report.stats.blobs, "")

    def _scan_temp(self) -> None:
        young_after = self.now - self.opts.grace
        for name, mtime in iter_temp(self.blobs):
            self.report.stats.temp_files += 1
            if mtime >= young_after:
                self.report.stats.spared_temp += 1
                continue
            self._add(Finding(Kind.TEMP_FILE, f"tmp/{name}", f"unfinished write, "
                              f"{_age(self.now, mtime)} old", name))


def _size_problems(
    record: ObjectRecord, sizes: dict[str, int | None], noun: str
) -> list[tuple[str, str | None]]:
    """(problem, blob) for each way the row's sizes disagree with its blobs or itself."""
    out: list[tuple[str, str | None]] = []
    flagged: set[str] = set()
    for seg in record.segments:
        size = sizes[seg.blob]
        if size is not None and seg.offset + seg.length > size and seg.blob not in flagged:
            flagged.add(seg.blob)
            out.append((f"blob {seg.blob} has {size} bytes, a segment needs "
                        f"{seg.offset + seg.length}", seg.blob))
    if len(record.segments) == 1 and not record.parts:  # a single PUT: one blob, all of it
        blob = record.segments[0].blob
        size = sizes[blob]
        if size is not None and size != record.size and blob not in flagged:
            out.append((f"blob {blob} has {size} bytes, the {noun} {record.size}", blob))
    covered = sum(s.length for s in record.segments)
    if covered != record.size:
        out.append((f"segments cover {covered} bytes, the object has {record.size}", None))
    if record.parts and sum(p.size for p in record.parts) != record.size:
        out.append((f"parts add up to {sum(p.size for p in record.parts)} bytes, the object "
                    f"has {record.size}", None))
    return out


def _plain_sizes(sizes: dict[str, int | None]) -> list[tuple[str, str]]:
    """Turn the physical sizes of sealed blobs into plaintext sizes, in place; (blob, problem)
    for each size no sealed blob can have (it is then left out of the later checks)."""
    bad: list[tuple[str, str]] = []
    for blob, size in sizes.items():
        if size is None:
            continue
        try:
            sizes[blob] = plain_size(size)
        except ValueError:
            sizes[blob] = None
            bad.append((blob, f"blob {blob} has {size} bytes, not the size of a sealed blob"))
    return bad


def _as_record(upload: Upload, part: Part) -> ObjectRecord:
    """A part seen as a single-PUT object: one blob, all of it, with the part's MD5."""
    return ObjectRecord(upload.bucket, upload.key, part.size, part.etag, part.last_modified,
                        upload.meta, [Segment(part.blob, 0, part.size)])  # fmt: skip


def _pieces(record: ObjectRecord, sizes: list[int]) -> list[list[Extent]]:
    """The blob extents of consecutive pieces of the object, ``sizes`` bytes each."""
    out, pos = [], 0
    for size in sizes:
        out.append(extents(record, ByteRange(pos, pos + size - 1)) if size else [])
        pos += size
    return out


def _stale(upload: Upload, parts: int, now: float) -> Finding:
    where = f"{upload.bucket}/{upload.key}"
    return Finding(Kind.STALE_UPLOAD, f"upload {upload.upload_id} ({where})",
                   f"incomplete for {_age(now, upload.initiated)}, {parts} part(s)",
                   upload_id=upload.upload_id)


def _age(now: float, then: float) -> str:
    seconds = max(0, int(now - then))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


# -- repair ------------------------------------------------------------------------------------
def repair(
    meta: MetaStore, blobs: BlobStore, report: Report, options: FsckOptions | None = None,
    now: float | None = None,
) -> RepairResult:
    """Abort stale uploads, remove orphan blobs, their freed blobs and old temp files. A blob
    some row refers to at repair time is never removed. Findings about data (missing, short,
    corrupt) are returned unrepaired, except those of parts of an upload aborted here."""
    opts, result = options or FsckOptions(), RepairResult()
    aborted: set[str] = set()
    freed: list[str] = []
    for f in report.findings:
        if f.kind is Kind.STALE_UPLOAD and f.upload_id:
            blob_ids = meta.abort_upload(f.upload_id)
            result.aborted_uploads += blob_ids is not None
            freed += blob_ids or []
            aborted.add(f.upload_id)
    orphans = [f.blob for f in report.findings if f.kind is Kind.ORPHAN_BLOB and f.blob]
    if orphans or freed:
        referenced = set(meta.referenced_blobs())  # fresh: rows may have changed since
        gone = [b for b in dict.fromkeys(orphans + freed) if b not in referenced]
        blobs.delete(gone)
        result.removed_blobs = len(gone)
        result.kept_blobs = len(set(orphans + freed)) - len(gone)
    if any(f.kind is Kind.TEMP_FILE for f in report.findings):
        result.removed_temp = blobs.sweep_temp((now or time.time()) - opts.grace)
    result.unrepaired = [f for f in report.findings
                         if not f.repairable and not (f.upload_id and f.upload_id in aborted)]
    return result
