"""The ``AccountStore`` methods of ``SqliteMetaStore`` (a mixin over its transactions)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ..core.accounts import AccessKey, AccountError, User

USER_COLS = "name, user_id, display_name, created"
KEY_COLS = "access_key, user_id, secret, created, active"
_KEY_PREFIXED = ", ".join(f"k.{c.strip()}" for c in KEY_COLS.split(","))
_USER_PREFIXED = ", ".join(f"u.{c.strip()}" for c in USER_COLS.split(","))
LOOKUP_SQL = (
    f"SELECT {_KEY_PREFIXED}, {_USER_PREFIXED} FROM access_keys k "
    "JOIN users u ON u.user_id = k.user_id WHERE k.access_key = {p}"
)


def user_from_row(row: Sequence[Any]) -> User:
    return User(row[0], row[1], row[2], row[3])


def key_from_row(row: Sequence[Any]) -> AccessKey:
    return AccessKey(row[0], row[1], row[2], row[3], bool(row[4]))


def no_such_user(user_id: str) -> AccountError:
    return AccountError("NoSuchUser", f"no user with canonical id {user_id}")


class SqliteAccounts:
    """Users and access keys in the ``users`` and ``access_keys`` tables (schema v2)."""

    if TYPE_CHECKING:

        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def create_user(self, user: User) -> bool:
        sql = f"INSERT INTO users ({USER_COLS}) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
        with self._write() as conn:
            params = (user.name, user.user_id, user.display_name, user.created)
            return conn.execute(sql, params).rowcount == 1

    def get_user(self, name: str) -> User | None:
        rows = self._all(f"SELECT {USER_COLS} FROM users WHERE name = ?", (name,))
        return user_from_row(rows[0]) if rows else None

    def get_user_by_id(self, user_id: str) -> User | None:
        rows = self._all(f"SELECT {USER_COLS} FROM users WHERE user_id = ?", (user_id,))
        return user_from_row(rows[0]) if rows else None

    def list_users(self) -> list[User]:
        return [user_from_row(r) for r in self._all(f"SELECT {USER_COLS} FROM users ORDER BY name")]

    def delete_user(self, name: str) -> list[AccessKey] | None:
        with self._write() as conn:
            rows = conn.execute("SELECT user_id FROM users WHERE name = ?", (name,)).fetchall()
            if not rows:
                return None
            sql = f"DELETE FROM access_keys WHERE user_id = ? RETURNING {KEY_COLS}"
            keys = [key_from_row(r) for r in conn.execute(sql, (rows[0][0],)).fetchall()]
            conn.execute("DELETE FROM users WHERE name = ?", (name,))
        return sorted(keys, key=lambda k: (k.created, k.access_key))

    def add_key(self, key: AccessKey) -> bool:
        sql = f"INSERT INTO access_keys ({KEY_COLS}) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
        with self._write() as conn:
            exists = conn.execute("SELECT 1 FROM users WHERE user_id = ?", (key.user_id,))
            if not exists.fetchall():
                raise no_such_user(key.user_id)
            params = (key.access_key, key.user_id, key.secret, key.created, int(key.active))
            return conn.execute(sql, params).rowcount == 1

    def get_key(self, access_key: str) -> AccessKey | None:
        rows = self._all(f"SELECT {KEY_COLS} FROM access_keys WHERE access_key = ?", (access_key,))
        return key_from_row(rows[0]) if rows else None

    def lookup_key(self, access_key: str) -> tuple[AccessKey, User] | None:
        rows = self._all(LOOKUP_SQL.format(p="?"), (access_key,))
        return (key_from_row(rows[0][:5]), user_from_row(rows[0][5:])) if rows else None

    def list_keys(self, user_id: str | None = None) -> list[AccessKey]:
        order = " ORDER BY created, access_key"
        if user_id is None:
            rows = self._all(f"SELECT {KEY_COLS} FROM access_keys{order}")
        else:
            sql = f"SELECT {KEY_COLS} FROM access_keys WHERE user_id = ?{order}"
            rows = self._all(sql, (user_id,))
        return [key_from_row(r) for r in rows]

    def set_key_active(self, access_key: str, active: bool) -> bool:
        sql = "UPDATE access_keys SET active = ? WHERE access_key = ?"
        with self._write() as conn:
            return conn.execute(sql, (int(active), access_key)).rowcount == 1
