"""Who is calling and what they may do."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller. ``access_key`` is empty for anonymous requests."""

    access_key: str
    user_id: str  # canonical id
    display_name: str
    admin: bool = False  # the server's root credentials: every operation is allowed

    @property
    def anonymous(self) -> bool:
        return not self.access_key


ANONYMOUS = Principal("", "", "")


def canonical_id(name: str) -> str:
    """A stable 64-hex canonical id derived from a name: that of the root credentials (and any
    key added to a ``Keyring`` by hand). Accounts have random ids (see ``core.accounts``)."""
    return hashlib.sha256(f"shoal-user:{name}".encode()).hexdigest()


Resolver = Callable[[str], tuple[str, Principal] | None]


class Keyring:
    """Access key -> (secret, principal).

    Keys added with ``add`` (the root credentials of the configuration) are fixed and checked
    first. Any other key is asked of ``resolve`` (the account store) and the answer is cached for
    ``ttl`` seconds, so keys created or revoked by the admin CLI while the server runs take
    effect within ``ttl`` without a restart. Unknown keys are not cached (the next request asks
    again), so a new key works at once.
    """

    def __init__(self, resolve: Resolver | None = None, ttl: float = 2.0,
                 clock: Callable[[], float] = time.monotonic, max_cached: int = 10_000) -> None:
        self._keys: dict[str, tuple[str, Principal]] = {}
        self._resolve = resolve
        self._ttl = ttl
        self._clock = clock
        self._max_cached = max_cached
        self._cache: dict[str, tuple[float, tuple[str, Principal]]] = {}

    def add(self, access_key: str, secret: str, name: str, admin: bool = False) -> None:
        principal = Principal(access_key, canonical_id(name), name, admin)
        self._keys[access_key] = (secret, principal)

    def lookup(self, access_key: str) -> tuple[str, Principal] | None:
        """Fixed keys and cache hits come from memory; a miss reads the store in this thread
        (one indexed read: microseconds on SQLite, a round trip on PostgreSQL)."""
        found = self._cached(access_key)
        if found is not False:
            return found
        return self._remember(access_key, self._resolve(access_key) if self._resolve else None)

    async def lookup_async(self, access_key: str) -> tuple[str, Principal] | None:
        """``lookup`` for the event loop: a miss reads the store in a worker thread."""
        found = self._cached(access_key)
        if found is not False:
            return found
        if self._resolve is None:
            return None
        return self._remember(access_key, await asyncio.to_thread(self._resolve, access_key))

    def forget(self, access_key: str | None = None) -> None:
        """Drop one cached key (or all): the next lookup asks the store."""
        if access_key is None:
            self._cache.clear()
        else:
            self._cache.pop(access_key, None)

    def _cached(self, access_key: str) -> tuple[str, Principal] | Literal[False]:
        """The fixed or still-fresh cached answer; False when the store must be asked."""
        fixed = self._keys.get(access_key)
        if fixed is not None:
            return fixed
        entry = self._cache.get(access_key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        return False

    def _remember(self, access_key: str, found: tuple[str, Principal] | None
                  ) -> tuple[str, Principal] | None:
        if found is None:
            self._cache.pop(access_key, None)
            return None
        now = self._clock()
        if len(self._cache) >= self._max_cached:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= self._max_cached:
                self._cache.clear()
        self._cache[access_key] = (now + self._ttl, found)
        return found


def acl_allows(acl: dict[str, Any] | None, owner: str, who: Principal, perm: str) -> bool:
    """Does ``acl`` (canned or explicit grants) give ``who`` the permission ``perm``?"""
    if not who.anonymous and who.user_id == owner:
        return True
    acl = acl or {"canned": "private"}
    canned = acl.get("canned")
    if canned == "public-read-write" and perm in ("READ", "WRITE"):
        return True
    if canned in ("public-read", "public-read-write") and perm == "READ":
        return True
    if canned == "authenticated-read" and perm == "READ" and not who.anonymous:
        return True
    for grant in acl.get("grants", []):
        if grant.get("permission") not in (perm, "FULL_CONTROL"):
            continue
        uri = grant.get("uri", "")
        if uri.endswith("/AllUsers"):
            return True
        if uri.endswith("/AuthenticatedUsers") and not who.anonymous:
            return True
        if grant.get("id") and grant.get("id") == who.user_id:
            return True
    return False
