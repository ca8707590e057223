"""Enforcing bucket lifecycle rules: one sweep over every bucket that has enabled rules.

Uploads whose rule's DaysAfterInitiation have passed are aborted through the multipart service
(their parts' blobs freed as by AbortMultipartUpload). Objects whose Expiration has passed are
deleted through the object service, on the condition that the object at the key is still the
one examined (same ETag, last-modified second and size): an object replaced meanwhile stays.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass

from . import lifecycle
from .conditions import WriteConditions
from .errors import ShoalError
from .lifecycle import Rule
from .listing import list_page
from .model import Bucket, ObjectRecord, ObjectSummary, Upload
from .services import Core

BATCH = 1000
log = logging.getLogger("shoal.lifecycle")


@dataclass(slots=True)
class SweepResult:
    aborted: int = 0  # uploads aborted
    expired: int = 0  # objects deleted


class LifecycleSweeper:
    def __init__(self, core: Core, day: float = lifecycle.DAY) -> None:
        self.core = core
        self.day = day

    async def sweep(self, now: float | None = None) -> SweepResult:
        """Apply every bucket's enabled rules as of ``now``."""
        now = time.time() if now is None else now
        result = SweepResult()
        for bucket in await asyncio.to_thread(self.core.meta.list_buckets, None):
            rules = [r for r in lifecycle.from_config(bucket.config.get("lifecycle"))
                     if r.enabled]
            if not rules:
                continue
            try:
                result.aborted += await self._abort_uploads(bucket, rules, now)
                result.expired += await self._expire_objects(bucket, rules, now)
            except ShoalError as exc:
                if exc.code != "NoSuchBucket":  # deleted while being swept: nothing to do
                    raise
        return result

    async def _abort_uploads(self, bucket: Bucket, rules: list[Rule], now: float) -> int:
        aborted = 0
        for rule in rules:
            if rule.abort_days is None:
                continue
            kmark = umark = ""
            while True:
                page = await self.core.multipart.list_uploads(
                    bucket.name, rule.filter.prefix or "", "", kmark, umark, BATCH)
                for up in page.uploads:
                    due = lifecycle.abort_due(rule, up.initiated, self.day)
                    if due is not None and due <= now and rule.filter.matches(up.key):
                        aborted += await self._abort(up)
                if not page.truncated:
                    break
                kmark, umark = page.next_key_marker, page.next_upload_id_marker
        return aborted

    async def _abort(self, upload: Upload) -> int:
        try:
            await self.core.multipart.abort(upload)
        except ShoalError as exc:
            if exc.code == "NoSuchUpload":  # completed or aborted meanwhile
                return 0
            raise
        return 1

    async def _expire_objects(self, bucket: Bucket, rules: list[Rule], now: float) -> int:
        rules = [r for r in rules if r.expiration_days is not None
                 or r.expiration_date is not None]
        if not rules:
            return 0
        # One scan under the longest prefix that all the rules' prefixes start with.
        prefix = os.path.commonprefix([r.filter.prefix or "" for r in rules])
        expired, marker = 0, ""
        while True:
            page = await list_page(self.core.meta, bucket.name, prefix, "", marker, BATCH)
            for obj in page.objects:
                expired += await self._expire(bucket.name, rules, obj, now)
            if not page.truncated or page.next_marker is None:
                return expired
            marker = page.next_marker

    async def _expire(self, bucket: str, rules: list[Rule], obj: ObjectSummary,
                      now: float) -> int:
        """Delete the object listed as ``obj`` if a rule says it is due; 1 if it was deleted.
        Its tags are read only when some rule filters on tags."""
        examined: ObjectSummary | ObjectRecord = obj
        tags: list[tuple[str, str]] = []
        if any(r.filter.tags for r in rules):
            record = await asyncio.to_thread(self.core.meta.get_object, bucket, obj.key,
                                             with_inline=False)
            if record is None:
                return 0
            examined, tags = record, record.meta.tags
        due = lifecycle.object_expiry(rules, obj.key, examined.size, tags,
                                      examined.last_modified, self.day)
        if due is None or due[0] > now:
            return 0
        when = WriteConditions(if_match=examined.etag, match_last_modified=examined.last_modified,
                               match_size=examined.size)
        try:
            deleted = await self.core.objects.delete(bucket, obj.key, when=when)
        except ShoalError as exc:
            if exc.code == "PreconditionFailed":  # replaced since it was examined: keep it
                return 0
            raise
        if deleted:
            log.info("lifecycle: rule %s expired %s/%s", due[1], bucket, obj.key)
        return int(deleted)
