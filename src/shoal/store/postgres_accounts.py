"""The ``AccountStore`` methods of ``PostgresMetaStore`` (a mixin over its transactions).

Writes that depend on a user lock its row: ``add_key`` FOR KEY SHARE, ``delete_user`` FOR
UPDATE, so a key is never added to a user being deleted (the add waits, then finds no user).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import psycopg

from ..core.accounts import AccessKey, User
from .sqlite_accounts import KEY_COLS, LOOKUP_SQL, USER_COLS, key_from_row, no_such_user
from .sqlite_accounts import user_from_row as _user

P = ParamSpec("P")
T = TypeVar("T")
Conn = psycopg.Connection[Any]


def _nul(*values: str) -> bool:
    return any("\x00" in v for v in values)


def _create_user(conn: Conn, user: User) -> bool:
    sql = f"INSERT INTO users ({USER_COLS}) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
    params = (user.name, user.user_id, user.display_name, user.created)
    return conn.execute(sql, params).rowcount == 1


def _delete_user(conn: Conn, name: str) -> list[AccessKey] | None:
    rows = conn.execute("SELECT user_id FROM users WHERE name = %s FOR UPDATE", (name,)).fetchall()
    if not rows:
        return None
    sql = f"DELETE FROM access_keys WHERE user_id = %s RETURNING {KEY_COLS}"
    keys = [key_from_row(r) for r in conn.execute(sql, (rows[0][0],)).fetchall()]
    conn.execute("DELETE FROM users WHERE name = %s", (name,))
    return sorted(keys, key=lambda k: (k.created, k.access_key))


def _add_key(conn: Conn, key: AccessKey) -> bool:
    sql = "SELECT 1 FROM users WHERE user_id = %s FOR KEY SHARE"
    if not conn.execute(sql, (key.user_id,)).fetchall():
        raise no_such_user(key.user_id)
    sql = (
        f"INSERT INTO access_keys ({KEY_COLS}) VALUES (%s, %s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING"
    )
    params = (key.access_key, key.user_id, key.secret, key.created, key.active)
    return conn.execute(sql, params).rowcount == 1


def _set_key_active(conn: Conn, access_key: str, active: bool) -> bool:
    sql = "UPDATE access_keys SET active = %s WHERE access_key = %s"
    return conn.execute(sql, (active, access_key)).rowcount == 1


class PostgresAccounts:
    """Users and access keys in the ``users`` and ``access_keys`` tables (schema v2)."""

    if TYPE_CHECKING:

        def _run(self, fn: Callable[Concatenate[Conn, P], T], *args: P.args,
                 **kwargs: P.kwargs) -> T: ...

        def _all(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[Any]: ...

    def create_user(self, user: User) -> bool:
        if _nul(user.name, user.user_id, user.display_name):
            raise ValueError("user names cannot contain NUL characters")
        return self._run(_create_user, user)

    def get_user(self, name: str) -> User | None:
        if _nul(name):
            return None
        rows = self._all(f"SELECT {USER_COLS} FROM users WHERE name = %s", (name,))
        return _user(rows[0]) if rows else None

    def get_user_by_id(self, user_id: str) -> User | None:
        if _nul(user_id):
            return None
        rows = self._all(f"SELECT {USER_COLS} FROM users WHERE user_id = %s", (user_id,))
        return _user(rows[0]) if rows else None

    def list_users(self) -> list[User]:
        return [_user(r) for r in self._all(f"SELECT {USER_COLS} FROM users ORDER BY name")]

    def delete_user(self, name: str) -> list[AccessKey] | None:
        return None if _nul(name) else self._run(_delete_user, name)

    def add_key(self, key: AccessKey) -> bool:
        if _nul(key.user_id):
            raise no_such_user(key.user_id)
        if _nul(key.access_key, key.secret):
            raise ValueError("access keys cannot contain NUL characters")
        return self._run(_add_key, key)

    def get_key(self, access_key: str) -> AccessKey | None:
        if _nul(access_key):
            return None
        sql = f"SELECT {KEY_COLS} FROM access_keys WHERE access_key = %s"
        rows = self._all(sql, (access_key,))
        return key_from_row(rows[0]) if rows else None

    def lookup_key(self, access_key: str) -> tuple[AccessKey, User] | None:
        if _nul(access_key):
            return None
        rows = self._all(LOOKUP_SQL.format(p="%s"), (access_key,))
        return (key_from_row(rows[0][:5]), _user(rows[0][5:])) if rows else None

    def list_keys(self, user_id: str | None = None) -> list[AccessKey]:
        order = " ORDER BY created, access_key"
        if user_id is None:
            rows = self._all(f"SELECT {KEY_COLS} FROM access_keys{order}")
        elif _nul(user_id):
            rows = []
        else:
            sql = f"SELECT {KEY_COLS} FROM access_keys WHERE user_id = %s{order}"
            rows = self._all(sql, (user_id,))
        return [key_from_row(r) for r in rows]

    def set_key_active(self, access_key: str, active: bool) -> bool:
        return False if _nul(access_key) else self._run(_set_key_active, access_key, active)
