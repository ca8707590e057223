"""``shoal.core.fsck`` against the in-memory stores: each finding kind, repair, live changes."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.cli import ProgressBar, fsck_summary, render_progress
from shoal.core.fsck import FsckOptions, Kind, Report, check, iter_temp, repair
from shoal.core.model import Bucket, ObjectMeta, ObjectRecord, Part, Segment, Upload
from shoal.core.multipart import assemble
from shoal.core.objects import ObjectService
from shoal.store.fs import FsBlobStore
from shoal.store.memory import MemoryBlobStore, MemoryMetaStore

BUCKET = "bkt"
LATER = 2 * 3600.0  # past the default one-hour grace period


class TempBlobStore(MemoryBlobStore):
    """The memory store plus the optional ``iter_temp()`` that fsck uses to list temp writes."""

    def iter_temp(self) -> Iterator[tuple[str, float]]:
        with self._lock:
            found = [(b, t.mtime) for b, t in self._temp.items()]
        yield from found


@pytest.fixture
def meta() -> MemoryMetaStore:
    store = MemoryMetaStore()
    store.create_bucket(Bucket(BUCKET, "owner", time.time()))
    return store


@pytest.fixture
def blobs() -> TempBlobStore:
    return TempBlobStore()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def blob(blobs: MemoryBlobStore, data: bytes) -> str:
    w = blobs.writer()
    w.write(data)
    return w.commit()


def overwrite(blobs: MemoryBlobStore, blob_id: str, data: bytes) -> None:
    """Replace a blob's bytes in place, as disk damage would."""
    with blobs._lock:
        blobs._blobs[blob_id] = (data, blobs._blobs[blob_id][1])


def put(meta: MemoryMetaStore, blobs: MemoryBlobStore, key: str, data: bytes) -> ObjectRecord:
    record = ObjectRecord(BUCKET, key, len(data), md5(data), time.time(), ObjectMeta(),
                          [Segment(blob(blobs, data), 0, len(data))])  # fmt: skip
    meta.put_object(record)
    return record


def start_upload(meta: MemoryMetaStore, key: str, age: float = 0.0) -> Upload:
    upload = Upload(f"up-{key}", BUCKET, key, time.time() - age, ObjectMeta())
    meta.create_upload(upload)
    return upload


def add_part(meta: MemoryMetaStore, blobs: MemoryBlobStore, upload: Upload, n: int,
             data: bytes) -> Part:  # fmt: skip
    part = Part(upload.upload_id, n, len(data), md5(data), time.time(), blob(blobs, data))
    meta.put_part(part)
    return part


def put_multipart(meta: MemoryMetaStore, blobs: MemoryBlobStore, key: str,
                  pieces: list[bytes]) -> ObjectRecord:  # fmt: skip
    upload = start_upload(meta, key)
    parts = [add_part(meta, blobs, upload, i, d) for i, d in enumerate(pieces, 1)]
    record = assemble(upload, parts)
    meta.complete_upload(upload.upload_id, record, {p.number: p.blob for p in parts})
    return record


def kinds(report: Report) -> list[Kind]:
    return [f.kind for f in report.findings]


# -- clean ---------------------------------------------------------------------------------------
def test_clean_store_with_every_kind_of_row(meta: MemoryMetaStore, blobs: TempBlobStore) -> None:
    put(meta, blobs, "single", b"hello world")
    put(meta, blobs, "empty", b"")
    put_multipart(meta, blobs, "multi", [b"a" * 1000, os.urandom(3000), b""])
    upload = start_upload(meta, "pending")
    add_part(meta, blobs, upload, 1, b"part one")
    report = check(meta, blobs, now=time.time() + LATER)
    assert report.clean, report.findings
    st = report.stats
    assert (st.buckets, st.objects, st.uploads, st.parts, st.blobs) == (1, 3, 1, 1, 6)
    assert st.bytes_verified == 11 + 4000 + 8


def test_no_verify_data_reads_nothing(meta: MemoryMetaStore, blobs: TempBlobStore) -> None:
    record = put(meta, blobs, "k", b"0123456789")
    overwrite(blobs, record.segments[0].blob, b"9876543210")  # same size, other bytes
    report = check(meta, blobs, FsckOptions(verify_data=False))
    assert report.clean and report.stats.bytes_verified == 0
    assert kinds(check(meta, blobs)) == [Kind.HASH_MISMATCH]


# -- each finding kind -----------------------------------------------------------------------
def test_missing_object_blob(meta: MemoryMetaStore, blobs: TempBlobStore) -> None:
    record = put(meta, blobs, "gone", b"data")
    blobs.delete([record.segments[0].blob])
    [finding] = check(meta, blobs).findings
    assert finding.kind is Kind.MISSING_BLOB and finding.blob == record.segments[0].blob
    assert finding.owner is not None and finding.owner.key == "gone"
    assert "object bkt/gone" in str(finding)


def test_missing_part_blob(meta: MemoryMetaStore, blobs: TempBlobStore) -> None:
    upload = start_upload(meta, "k")
    part = add_part(meta, blobs, upload, 3, b"xyz")
    blobs.delete([part.blob])
    [finding] = check(meta, blobs).findings
    assert finding.kind is Kind.MISSING_BLOB and finding.upload_id == upload.upload_id
    assert "part 3" in finding.subject


@pytest.mark.parametrize("stored", [b"short", b"much longer than the object"])
def test_single_put_size_mismatch(meta: MemoryMetaStore, blobs: TempBlobStore,
                                  stored: bytes) -> None:  # fmt: skip
    record = put(meta, blobs, "k", b"twelve bytes")
    overwrite(blobs, record.segments[0].blob, stored)
    [finding] = check(meta, blobs).findings
    assert finding.kind is Kind.SIZE_MISMATCH and finding.blob == record.segments[0].blob
    assert str(len(stored)) in finding.detail


def test_segment_beyond_end_of_multipart_blob(meta: MemoryMetaStore, blobs: TempBlobStore) -> None:
    record = put_multipart(meta, blobs, "k", [b"a" * 100, b"b" * 50])
    overwrite(blobs, record.segments[1].blob, b"b" * 49)
    [finding] = check(meta, blobs).findings
    assert finding.kind is Kind.SIZE_MISMATCH and "needs 50" in finding.detail


def test_part_size_mismatch(meta: MemoryMetaStore, blobs: TempBlobStore) -> None:
    part = add_part(meta, blobs, start_upload(meta, "k"), 1, b"abc")
    overwrite(blobs, part.blob, b"abcd")
    assert kinds(check(meta, blobs)) == [Kind.SIZE_MISMATCH]


def test_rows_that_disagree_with_themselves(meta: MemoryMetaStore, blobs: TempBlobStore) -> None:
    record = put(meta, blobs, "k", b"abcdef")
    record.size = 7  # segments cover 6 bytes
    meta.put_object(record)
    problems = [f.detail for f in check(meta, blobs).findings]
    assert any("segments cover 6 bytes" in p for p in problems)


def test_hash_mismatch_of_single_put(meta: MemoryMetaStore, blobs: TempBlobStore) -> None:
    record = put(meta, blobs, "k", b"good bytes")
    overwrite(blobs, record.segments[0].blob, b"evil bytes")
    [finding] = check(meta, blobs).findings
    assert finding.kind is Kind.HASH_MISMATCH and md5(b"evil bytes") in finding.detail


def test_hash_mismatch_names_the_multipart_part(meta: MemoryMetaStore, blobs: TempBlobStore) -> None:
    record = put_multipart(meta, blobs, "k", [b"a" * 10, b"b" * 10, b"c" * 10])
    overwrite(blobs, record.segments[1].blob, b"B" * 10)
    [finding] = check(meta, blobs).findings
    assert finding.kind is Kind.HASH_MISMATCH and finding.detail.startswith("part 2 ")


def test_hash_mismatch_of_part(meta: MemoryMetaStore, blobs: TempBlobStore) -> None:
    part = add_part(meta, blobs, start_upload(meta, "k"), 1, b"abc")
    overwrite(blobs, part.blob, b"abd")
    [finding] = check(meta, blobs).findings
    assert finding.kind is Kind.HASH_MISMATCH and part.etag in finding.detail


def test_orphan_blobs_are_spared_during_the_grace_period(
    meta: MemoryMetaStore, blobs: TempBlobStore
) -> None:
    orphan = blob(blobs, b"nobody's")
    young = check(meta, blobs)
    assert young.clean and young.stats.spared_blobs == 1
    assert kinds(check(meta, blobs, FsckOptions(grace=0), now=time.time() + 1)) == [
        Kind.ORPHAN_BLOB]
    [finding] = check(meta, blobs, now=time.time() + LATER).findings
    assert finding.kind is Kind.ORPHAN_BLOB and finding.blob == orphan
    assert "8 bytes" in finding.detail and "2 h old" in finding.detail


def test_temp_files(meta: MemoryMetaStore, blobs: TempBlobStore) -> None:
    writer = blobs.writer()
    writer.write(b"half")
    young = check(meta, blobs)
    assert young.clean and young.stats.spared_temp == 1
    [finding] = check(meta, blobs, now=time.time() + LATER).findings
    assert finding.kind is Kind.TEMP_FILE and finding.blob == writer.blob_id


def test_stale_upload(meta: MemoryMetaStore, blobs: TempBlobStore) -> None:
    old = start_upload(meta, "old", age=8 * 86400)
    add_part(meta, blobs, old, 1, b"p")
    start_upload(meta, "new", age=6 * 86400)
    [finding] = check(meta, blobs).findings
    assert finding.kind is Kind.STALE_UPLOAD and finding.upload_id == old.upload_id
    assert "8 d" in finding.detail and "1 part" in finding.detail
    assert len(check(meta, blobs, FsckOptions(stale_upload_age=0)).findings) == 2


def test_blob_owned_by_two_rows(meta: MemoryMetaStore, blobs: TempBlobStore) -> None:
    first = put(meta, blobs, "a", b"same")
    second = ObjectRecord(BUCKET, "b", 4, md5(b"same"), time.time(), ObjectMeta(),
                          list(first.segments))  # fmt: skip
    meta.put_object(second)
    [finding] = check(meta, blobs).findings
    assert finding.kind is Kind.SHARED_BLOB
    assert "bkt/a" in finding.detail and "bkt/b" in finding.detail


# -- repair --------------------------------------------------------------------------------------
def test_repair_removes_orphans_and_temp_files_only(
    meta: MemoryMetaStore, blobs: TempBlobStore
) -> None:
    kept = put(meta, blobs, "kept", b"keep me")
    orphan = blob(blobs, b"orphan")
    blobs.writer().write(b"unfinished")
    opts = FsckOptions(grace=0)
    report = check(meta, blobs, opts, now=time.time() + 1)
    assert sorted(kinds(report)) == [Kind.ORPHAN_BLOB, Kind.TEMP_FILE]
    result = repair(meta, blobs, report, opts, now=time.time() + 1)
    assert (result.removed_blobs, result.removed_temp, result.unrepaired) == (1, 1, [])
    assert blobs.size(orphan) is None and blobs.size(kept.segments[0].blob) == 7
    assert check(meta, blobs, opts, now=time.time() + 1).clean


def test_repair_reports_but_keeps_damaged_objects(
    meta: MemoryMetaStore, blobs: TempBlobStore
) -> None:
    missing = put(meta, blobs, "missing", b"lost")
    corrupt = put(meta, blobs, "corrupt", b"abcd")
    blobs.delete([missing.segments[0].blob])
    overwrite(blobs, corrupt.segments[0].blob, b"abce")
    report = check(meta, blobs)
    result = repair(meta, blobs, report)
    assert sorted(f.kind for f in result.unrepaired) == [Kind.HASH_MISMATCH, Kind.MISSING_BLOB]
    assert meta.get_object(BUCKET, "missing") is not None
    assert meta.get_object(BUCKET, "corrupt") is not None
    assert blobs.size(corrupt.segments[0].blob) == 4


def test_repair_aborts_stale_uploads_and_frees_their_blobs(
    meta: MemoryMetaStore, blobs: TempBlobStore
) -> None:
    stale = start_upload(meta, "stale", age=30 * 86400)
    part1 = add_part(meta, blobs, stale, 1, b"one")
    part2 = add_part(meta, blobs, stale, 2, b"two")
    overwrite(blobs, part2.blob, b"TWO")  # damage inside the stale upload goes with it
    fresh = start_upload(meta, "fresh")
    report = check(meta, blobs)
    assert sorted(kinds(report)) == [Kind.HASH_MISMATCH, Kind.STALE_UPLOAD]
    result = repair(meta, blobs, report)
    assert (result.aborted_uploads, result.removed_blobs, result.unrepaired) == (1, 2, [])
    assert meta.get_upload(stale.upload_id) is None
    assert meta.get_upload(fresh.upload_id) is not None
    assert blobs.size(part1.blob) is None and blobs.size(part2.blob) is None
    assert check(meta, blobs, now=time.time() + LATER).clean


def test_repair_never_deletes_a_blob_a_row_refers_to(
    meta: MemoryMetaStore, blobs: TempBlobStore
) -> None:
    orphan = blob(blobs, b"soon owned")
    stale = start_upload(meta, "stale", age=30 * 86400)
    part = add_part(meta, blobs, stale, 1, b"shared")
    report = check(meta, blobs, FsckOptions(grace=0), now=time.time() + 1)
    assert sorted(kinds(report)) == [Kind.ORPHAN_BLOB, Kind.STALE_UPLOAD]
    # Meanwhile a server commits rows that refer to both blobs.
    meta.put_object(ObjectRecord(BUCKET, "a", 10, md5(b"soon owned"), time.time(), ObjectMeta(),
                                 [Segment(orphan, 0, 10)]))  # fmt: skip
    meta.put_object(ObjectRecord(BUCKET, "b", 6, md5(b"shared"), time.time(), ObjectMeta(),
                                 [Segment(part.blob, 0, 6)]))  # fmt: skip
    result = repair(meta, blobs, report, FsckOptions(grace=0))
    assert (result.aborted_uploads, result.removed_blobs, result.kept_blobs) == (1, 0, 2)
    assert blobs.size(orphan) == 10 and blobs.size(part.blob) == 6


# -- a live server changing rows under the scan -------------------------------------------------
class DeletesOnRecheck(MemoryMetaStore):
    """Deletes an object (and frees its blob) right before fsck re-reads it."""

    def __init__(self, blobs: MemoryBlobStore) -> None:
        super().__init__()
        self.blobs, self.reads = blobs, 0

    def get_object(
        self, bucket: str, key: str, with_inline: bool = True
    ) -> ObjectRecord | None:
        self.reads += 1
        if self.reads == 2:
            freed = self.delete_object(bucket, key)
            self.blobs.delete(freed or [])
        return super().get_object(bucket, key, with_inline)


def test_rows_that_change_during_the_scan_are_not_reported(blobs: TempBlobStore) -> None:
    meta = DeletesOnRecheck(blobs)
    meta.create_bucket(Bucket(BUCKET, "owner", time.time()))
    record = put(meta, blobs, "k", b"data")
    overwrite(blobs, record.segments[0].blob, b"DATA")  # looks corrupt, then is deleted
    assert check(meta, blobs).clean


class CompletesDuringScan(MemoryMetaStore):
    """Completes an upload between fsck's scan of parts and its scan of objects."""

    upload: Upload | None = None

    def list_objects(self, bucket: str, prefix: str, start_after: str, limit: int) -> list:  # type: ignore[type-arg]
        if self.upload is not None:
            parts = self.get_parts(self.upload.upload_id)
            record = assemble(self.upload, parts)
            self.complete_upload(self.upload.upload_id, record, {p.number: p.blob for p in parts})
            self.upload = None
        return super().list_objects(bucket, prefix, start_after, limit)


def test_blob_moving_from_part_to_object_is_seen_once(blobs: TempBlobStore) -> None:
    meta = CompletesDuringScan()
    meta.create_bucket(Bucket(BUCKET, "owner", time.time()))
    meta.upload = start_upload(meta, "k")
    add_part(meta, blobs, meta.upload, 1, b"moving")
    report = check(meta, blobs, FsckOptions(grace=0), now=time.time() + 1)
    assert report.clean, report.findings
    assert (report.stats.parts, report.stats.objects) == (1, 1)


# -- temp files of the filesystem store, progress and summary ----------------------------------
def test_iter_temp_lists_the_filesystem_tmp_dir(tmp_path: Path) -> None:
    store = FsBlobStore(str(tmp_path))
    writer = store.writer()
    (tmp_path / "tmp" / "not-a-blob").write_bytes(b"x")
    assert [name for name, _ in iter_temp(store)] == [writer.blob_id]
    writer.abort()
    assert list(iter_temp(store)) == []


def test_progress_reports_each_phase(meta: MemoryMetaStore, blobs: TempBlobStore) -> None:
    put(meta, blobs, "a", b"x" * 300)
    put(meta, blobs, "b", b"y" * 700)
    add_part(meta, blobs, start_upload(meta, "u"), 1, b"z")
    seen: list[tuple[str, int, int | None, str]] = []
    check(meta, blobs, progress=lambda *event: seen.append(event))
    assert ("uploads", 1, 1, "") in seen
    assert seen[[e[0] for e in seen].index("blobs") - 1] == ("objects", 1000, 1000, "B")
    assert seen[-1] == ("blobs", 3, 3, "")
    seen.clear()
    check(meta, blobs, FsckOptions(verify_data=False), progress=lambda *e: seen.append(e))
    assert ("objects", 2, 2, "") in seen


def test_render_progress() -> None:
    line = render_progress("objects", 3 << 20, 4 << 20, "B", width=8)
    assert line == "objects  [######--]  75%  3.0 MiB / 4.0 MiB"
    assert render_progress("blobs", 1234, None, "") == "blobs    1234"
    assert "100%" in render_progress("objects", 0, 0, "")


def test_progress_bar_draws_one_line_and_clears_it() -> None:
    out = io.StringIO()
    bar = ProgressBar(out, interval=3600)
    bar("objects", 1, 10, "")
    bar("objects", 2, 10, "")  # throttled
    bar("objects", 10, 10, "")  # the end is always drawn
    bar.close()
    drawn = out.getvalue().split("\r\x1b[K")
    assert [d.split("]")[-1].strip() for d in drawn if d] == ["10%  1 / 10", "100%  10 / 10"]
    assert out.getvalue().endswith("\r\x1b[K")


def test_summary_lines(meta: MemoryMetaStore, blobs: TempBlobStore) -> None:
    blob(blobs, b"orphan")
    opts = FsckOptions(grace=0)
    report = check(meta, blobs, opts, now=time.time() + 1)
    lines = fsck_summary(report, None, opts)
    assert lines[0].startswith("checked 1 buckets, 0 objects, 0 uploads (0 parts), 1 blobs")
    assert lines[-1] == "found: 1 orphan-blob"
    result = repair(meta, blobs, report, opts)
    assert fsck_summary(report, result, opts)[-1].startswith("repaired: aborted 0 stale "
                                                             "uploads, removed 1 blobs")
    assert fsck_summary(check(meta, blobs), None, opts)[-1] == "clean: no problems found"


# -- a race fsck finds in the core -------------------------------------------------------------
class PutAfterRead(MemoryMetaStore):
    """Replaces the object (as a concurrent PUT would) right after the first read of it."""

    def __init__(self, blobs: MemoryBlobStore) -> None:
        super().__init__()
        self.blobs, self.armed = blobs, False

    def get_object(
        self, bucket: str, key: str, with_inline: bool = True
    ) -> ObjectRecord | None:
        record = super().get_object(bucket, key, with_inline)
        if self.armed:
            self.armed = False
            put(self, self.blobs, key, b"the new bytes")
        return record


def test_tagging_racing_a_put_leaves_a_consistent_object(blobs: TempBlobStore) -> None:
    meta = PutAfterRead(blobs)
    meta.create_bucket(Bucket(BUCKET, "owner", time.time()))
    put(meta, blobs, "k", b"the old bytes")
    meta.armed = True
    asyncio.run(ObjectService(meta, blobs).update_meta(BUCKET, "k", tags=[("a", "b")]))
    assert check(meta, blobs).clean
