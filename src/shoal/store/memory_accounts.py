"""The ``AccountStore`` methods of ``MemoryMetaStore`` (a mixin sharing its lock)."""

from __future__ import annotations

import threading
from dataclasses import replace

from ..core.accounts import AccessKey, AccountError, User


class MemoryAccounts:
    """Users by name and keys by access key, in dictionaries (records are immutable)."""

    _lock: threading.RLock

    def _init_accounts(self) -> None:
        self._users: dict[str, User] = {}
        self._access_keys: dict[str, AccessKey] = {}

    def _user_by_id(self, user_id: str) -> User | None:
        return next((u for u in self._users.values() if u.user_id == user_id), None)

    def create_user(self, user: User) -> bool:
        with self._lock:
            if user.name in self._users or self._user_by_id(user.user_id) is not None:
                return False
            self._users[user.name] = user
            return True

    def get_user(self, name: str) -> User | None:
        with self._lock:
            return self._users.get(name)

    def get_user_by_id(self, user_id: str) -> User | None:
        with self._lock:
            return self._user_by_id(user_id)

    def list_users(self) -> list[User]:
        with self._lock:
            return sorted(self._users.values(), key=lambda u: u.name)

    def delete_user(self, name: str) -> list[AccessKey] | None:
        with self._lock:
            user = self._users.pop(name, None)
            if user is None:
                return None
            keys = [k for k in self._access_keys.values() if k.user_id == user.user_id]
            for key in keys:
                del self._access_keys[key.access_key]
            return sorted(keys, key=lambda k: (k.created, k.access_key))

    def add_key(self, key: AccessKey) -> bool:
        with self._lock:
            if self._user_by_id(key.user_id) is None:
                raise AccountError("NoSuchUser", f"no user with canonical id {key.user_id}")
            if key.access_key in self._access_keys:
                return False
            self._access_keys[key.access_key] = key
            return True

    def get_key(self, access_key: str) -> AccessKey | None:
        with self._lock:
            return self._access_keys.get(access_key)

    def lookup_key(self, access_key: str) -> tuple[AccessKey, User] | None:
        with self._lock:
            key = self._access_keys.get(access_key)
            user = None if key is None else self._user_by_id(key.user_id)
            return None if key is None or user is None else (key, user)

    def list_keys(self, user_id: str | None = None) -> list[AccessKey]:
        with self._lock:
            keys = [k for k in self._access_keys.values() if user_id in (None, k.user_id)]
            return sorted(keys, key=lambda k: (k.created, k.access_key))

    def set_key_active(self, access_key: str, active: bool) -> bool:
        with self._lock:
            key = self._access_keys.get(access_key)
            if key is None:
                return False
            self._access_keys[access_key] = replace(key, active=active)
            return True
