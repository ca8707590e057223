"""Who is calling and what they may do."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


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
    """A stable 64-hex canonical user id derived from an account name."""
    return hashlib.sha256(f"shoal-user:{name}".encode()).hexdigest()


class Keyring:
    """Access key -> (secret, principal)."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[str, Principal]] = {}

    def add(self, access_key: str, secret: str, name: str, admin: bool = False) -> None:
        principal = Principal(access_key, canonical_id(name), name, admin)
        self._keys[access_key] = (secret, principal)

    def lookup(self, access_key: str) -> tuple[str, Principal] | None:
        return self._keys.get(access_key)


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
