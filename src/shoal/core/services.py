"""The core as one value handed to the front ends."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .accounts import AccountService
from .auth import canonical_id
from .buckets import BucketService
from .multipart import MultipartService
from .objects import ObjectService
from .ports import BlobStore, MetaStore

ROOT_ID = canonical_id("root")


class OwnerNames:
    """Canonical id -> display name, from the accounts, each answer kept ``ttl`` seconds.

    Without accounts (a core built bare) every id is its own display name and any id is
    taken as existing. ``cached`` never touches the store; ``load`` and ``exists`` may (call
    them off the event loop)."""

    def __init__(self, accounts: AccountService | None, ttl: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, max_cached: int = 10_000) -> None:
        self.accounts = accounts
        self._ttl = ttl
        self._clock = clock
        self._max = max_cached
        self._cache: dict[str, tuple[float, str | None]] = {}  # id -> (expiry, name or None)

    def cached(self, ids: Iterable[str]) -> tuple[dict[str, str], set[str]]:
        """(names known without the store, ids that need ``load``)."""
        now, found, missing = self._clock(), {}, set()
        for user_id in ids:
            entry = self._cache.get(user_id)
            if self.accounts is None:
                found[user_id] = user_id
            elif entry is not None and entry[0] > now:
                found[user_id] = entry[1] or user_id
            else:
                missing.add(user_id)
        return found, missing

    def load(self, ids: Iterable[str]) -> dict[str, str]:
        """Display names of ``ids``: an account's, "root", or the id itself (no account)."""
        found, missing = self.cached(ids)
        for user_id in missing:
            name = self._read(user_id)
            found[user_id] = name or user_id
        return found

    def exists(self, user_id: str) -> bool:
        """Is ``user_id`` an account's canonical id (or root's)?"""
        if self.accounts is None:
            return True
        entry = self._cache.get(user_id)
        if entry is not None and entry[0] > self._clock():
            return entry[1] is not None
        return self._read(user_id) is not None

    def _read(self, user_id: str) -> str | None:
        assert self.accounts is not None
        if user_id == ROOT_ID:
            name: str | None = "root"
        else:
            user = self.accounts.store.get_user_by_id(user_id)
            name = user.display_name if user is not None else None
        if len(self._cache) >= self._max:
            self._cache.clear()
        self._cache[user_id] = (self._clock() + self._ttl, name)
        return name


@dataclass(slots=True)
class Core:
    meta: MetaStore
    blobs: BlobStore
    buckets: BucketService
    objects: ObjectService
    multipart: MultipartService
    accounts: AccountService | None = None
    names: OwnerNames = field(default_factory=lambda: OwnerNames(None))

    @classmethod
    def build(cls, meta: MetaStore, blobs: BlobStore,
              accounts: AccountService | None = None) -> Core:
        objects = ObjectService(meta, blobs)
        return cls(meta, blobs, BucketService(meta), objects,
                   MultipartService(meta, blobs, objects), accounts, OwnerNames(accounts))
