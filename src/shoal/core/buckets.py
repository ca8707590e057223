"""Buckets: naming rules, create, delete (only when empty), list."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace
from typing import Any

from .errors import ShoalError
from .model import Bucket
from .ports import MetaStore

_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4 = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$")
LEGACY_REGION = "us-east-1"


def _acl_key(acl: dict[str, Any] | None) -> dict[str, Any]:
    """An ACL with the default spelled out, for comparing two of them."""
    return acl or {"canned": "private"}


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


CACHE_MAX = 10_000  # buckets kept by the lookup cache before it starts over


class BucketService:
    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta
        self._cache: dict[str, Bucket] = {}
        self._epoch: int | None = None  # the store's bucket epoch the cache was filled under

    async def lookup(self, name: str) -> Bucket | None:
        """The bucket, or None. Nearly every request reads its bucket (settings, ACL, CORS):
        while the store's bucket epoch is unchanged (no bucket was created, changed or
        deleted by any process) the answer comes from memory, without a thread hop."""
        epoch = self.meta.bucket_epoch()
        if epoch is not None:
            if epoch == self._epoch:
                hit = self._cache.get(name)
                if hit is not None:
                    return hit
            else:
                self._cache.clear()
                self._epoch = epoch
        bucket = await asyncio.to_thread(self.meta.get_bucket, name)
        # Filled under the epoch read before the store was: a change committed meanwhile has
        # moved the epoch on, and the next lookup starts over.
        if bucket is not None and epoch is not None and epoch == self._epoch:
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            self._cache[name] = bucket
        return bucket

    async def create(
        self, name: str, owner: str, region: str, acl: dict[str, Any] | None = None,
        repeat_succeeds: bool = True,
    ) -> Bucket:
        """Create; an existing name is BucketAlreadyExists, or for its owner
        BucketAlreadyOwnedByYou, or (``repeat_succeeds``, S3 us-east-1) a quiet success."""
        check_bucket_name(name)
        bucket = Bucket(name=name, owner=owner, created=time.time(), region=region, acl=acl)
        existing = await asyncio.to_thread(self.meta.create_bucket, bucket)
        if existing is None:
            return bucket
        if existing.owner != owner or not repeat_succeeds:
            raise ShoalError("BucketAlreadyExists", BucketName=name)
        if existing.region == LEGACY_REGION and region == LEGACY_REGION:
            # us-east-1 answers a repeated create by the owner with success, changing nothing,
            # as long as the request does not ask for a different ACL.
            if _acl_key(existing.acl) == _acl_key(acl):
                return existing
            raise ShoalError("BucketAlreadyExists", BucketName=name)
        raise ShoalError("BucketAlreadyOwnedByYou", BucketName=name)

    async def get(self, name: str) -> Bucket:
        bucket = await self.lookup(name)
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

    async def set_config(self, name: str, section: str, value: Any) -> Bucket:
        """Replace one section of the bucket's configuration (None removes it)."""
        bucket = await self.get(name)
        config = dict(bucket.config)
        if value is None:
            config.pop(section, None)
        else:
            config[section] = value
        updated = replace(bucket, config=config)
        await self.update(updated)
        return updated


def default_sse(bucket: Bucket) -> dict[str, Any] | None:
    """The encryption a new object gets when its request asks for none (bucket default)."""
    enc = bucket.config.get("encryption")
    return dict(enc) if enc else None


PUBLIC_CANNED = frozenset({"public-read", "public-read-write", "authenticated-read"})
PUBLIC_GROUPS = ("/AllUsers", "/AuthenticatedUsers")


def is_public_acl(acl: dict[str, Any] | None) -> bool:
    """Does the ACL grant anything to everyone (or to every authenticated user)?"""
    if not acl:
        return False
    if acl.get("canned") in PUBLIC_CANNED:
        return True
    return any(g.get("uri", "").endswith(PUBLIC_GROUPS) for g in acl.get("grants", []))


def public_access_block(bucket: Bucket) -> dict[str, bool]:
    """The bucket's PublicAccessBlock flags (all False when none is set)."""
    return dict(bucket.config.get("public_access_block") or {})


def check_acl_allowed(bucket: Bucket, acl: dict[str, Any] | None) -> None:
    """BlockPublicAcls: a request setting a public ACL in this bucket is refused."""
    if public_access_block(bucket).get("block_public_acls") and is_public_acl(acl):
        raise ShoalError("AccessDenied", "Access Denied: the bucket's public access block "
                         "refuses public ACLs")


def effective_acl(bucket: Bucket, acl: dict[str, Any] | None) -> dict[str, Any] | None:
    """IgnorePublicAcls: public grants of the bucket's ACLs stop counting for access checks."""
    if not public_access_block(bucket).get("ignore_public_acls") or not is_public_acl(acl):
        return acl
    assert acl is not None
    if "canned" in acl:
        return {"canned": "private"}
    grants = [g for g in acl.get("grants", []) if not g.get("uri", "").endswith(PUBLIC_GROUPS)]
    return {"grants": grants}
