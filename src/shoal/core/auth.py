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


Grant = dict[str, str]
PRIVATE: dict[str, Any] = {"canned": "private"}
GROUPS = ("AllUsers", "AuthenticatedUsers", "LogDelivery")
PERMISSIONS = ("READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL")
# Canned ACL -> the group grants it gives (the owner always gets FULL_CONTROL).
_CANNED_GROUPS: dict[str, tuple[tuple[str, str], ...]] = {
    "public-read": (("AllUsers", "READ"),),
    "public-read-write": (("AllUsers", "READ"), ("AllUsers", "WRITE")),
    "authenticated-read": (("AuthenticatedUsers", "READ"),),
    "log-delivery-write": (("LogDelivery", "WRITE"), ("LogDelivery", "READ_ACP")),
}
# Canned object ACLs that also grant the bucket's owner something.
_BUCKET_OWNER_PERM = {"bucket-owner-read": "READ", "bucket-owner-full-control": "FULL_CONTROL"}


def group_name(uri: str) -> str | None:
    """The group a grantee URI names, S3 or COS spelling alike (its last path segment)."""
    name = uri.rstrip("/").rsplit("/", 1)[-1]
    return name if name in GROUPS else None


def inherits(acl: dict[str, Any] | None) -> bool:
    """COS ``default``: the object has no ACL of its own and follows its bucket's."""
    return bool(acl) and acl.get("canned") == "default"  # type: ignore[union-attr]


def expand_acl(acl: dict[str, Any] | None, owner: str,
               bucket_owner: str | None = None) -> list[Grant]:
    """The grants an ACL amounts to. Explicit grants as stored; a canned ACL gives its group
    grants first ({"group": name}), then the owner's FULL_CONTROL, then the bucket owner's."""
    acl = acl or PRIVATE
    if "grants" in acl:
        return [dict(g) for g in acl["grants"]]
    canned = acl.get("canned", "private")
    grants: list[Grant] = [{"group": name, "permission": perm}
                           for name, perm in _CANNED_GROUPS.get(canned, ())]
    grants.append({"id": owner, "permission": "FULL_CONTROL"})
    if canned in _BUCKET_OWNER_PERM and bucket_owner:
        grants.append({"id": bucket_owner, "permission": _BUCKET_OWNER_PERM[canned]})
    return grants


def grantee_matches(grant: Grant, who: Principal) -> bool:
    """Is ``who`` the grantee of ``grant`` (a user by canonical id, or a group it is in)?"""
    group = grant.get("group") or group_name(grant.get("uri", ""))
    if group == "AllUsers":
        return True
    if group == "AuthenticatedUsers":
        return not who.anonymous
    return not who.anonymous and bool(grant.get("id")) and grant.get("id") == who.user_id


def acl_allows(acl: dict[str, Any] | None, owner: str, who: Principal, perm: str,
               bucket_owner: str | None = None) -> bool:
    """Does ``acl`` (canned or explicit grants) give ``who`` the permission ``perm``? The owner
    may do anything; FULL_CONTROL includes every permission."""
    if not who.anonymous and who.user_id == owner:
        return True
    return any(g.get("permission") in (perm, "FULL_CONTROL") and grantee_matches(g, who)
               for g in expand_acl(acl, owner, bucket_owner))
