"""Buckets: naming rules, create, delete (only when empty), list."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from .errors import ShoalError
from .model import Bucket
from .ports import MetaStore

_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4 = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$")


def check_bucket_name(name: str) -> None:
    """S3 bucket naming rules (also applied to COS names, which are a subset)."""
    ok = (
        bool(_NAME.match(name))
        and ".." not in name
        and ".-" not in name
        and "-." not in name
        and not _IPV4.match(name)
        and not name.startswith(("xn--", "sthree-"))
        and not name.endswith(("-s3alias", "--ol-s3"))
    )
    if not ok:
        raise ShoalError("InvalidBucketName", BucketName=name)


class BucketService:
    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta

    async def create(
        self, name: str, owner: str, region: str, acl: dict[str, Any] | None = None
    ) -> Bucket:
        check_bucket_name(name)
        bucket = Bucket(name=name, owner=owner, created=time.time(), region=region, acl=acl)
        existing = await asyncio.to_thread(self.meta.create_bucket, bucket)
        if existing is not None:
            code = "BucketAlreadyOwnedByYou" if existing.owner == owner else "BucketAlreadyExists"
            raise ShoalError(code, BucketName=name)
        return bucket

    async def get(self, name: str) -> Bucket:
        bucket = await asyncio.to_thread(self.meta.get_bucket, name)
        if bucket is None:
            raise ShoalError("NoSuchBucket", BucketName=name)
        return bucket

    async def delete(self, name: str) -> None:
        if not await asyncio.to_thread(self.meta.delete_bucket, name):
            raise ShoalError("BucketNotEmpty", BucketName=name)

    async def list(self, owner: str | None) -> list[Bucket]:
        return await asyncio.to_thread(self.meta.list_buckets, owner)

    async def update(self, bucket: Bucket) -> None:
        await asyncio.to_thread(self.meta.update_bucket, bucket)
