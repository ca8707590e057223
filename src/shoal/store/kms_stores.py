"""The ``KmsStore`` methods of the metadata stores (mixins over their transactions)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from ..core.kms import KmsKey

KMS_COLS = "key_id, created, material"
P = ParamSpec("P")
T = TypeVar("T")


def _key(row: Sequence[Any]) -> KmsKey:
    return KmsKey(row[0], row[1], row[2])


class SqliteKms:
    """Named KMS keys in the ``kms_keys`` table (schema v3)."""

    if TYPE_CHECKING:

        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def create_kms_key(self, key: KmsKey) -> bool:
        sql = f"INSERT INTO kms_keys ({KMS_COLS}) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
        with self._write() as conn:
            return conn.execute(sql, (key.key_id, key.created, key.material)).rowcount == 1

    def get_kms_key(self, key_id: str) -> KmsKey | None:
        rows = self._all(f"SELECT {KMS_COLS} FROM kms_keys WHERE key_id = ?", (key_id,))
        return _key(rows[0]) if rows else None

    def list_kms_keys(self) -> list[KmsKey]:
        return [_key(r) for r in self._all(
            f"SELECT {KMS_COLS} FROM kms_keys ORDER BY created, key_id")]


def _pg_create(conn: Any, key: KmsKey) -> bool:
    sql = f"INSERT INTO kms_keys ({KMS_COLS}) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
    return conn.execute(sql, (key.key_id, key.created, key.material)).rowcount == 1


class PostgresKms:
    """Named KMS keys in the ``kms_keys`` table (schema v3)."""

    if TYPE_CHECKING:

        def _run(self, fn: Callable[Concatenate[Any, P], T], *args: P.args,
                 **kwargs: P.kwargs) -> T: ...

        def _all(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[Any]: ...

    def create_kms_key(self, key: KmsKey) -> bool:
        if "\x00" in key.key_id or "\x00" in key.material:
            raise ValueError("KMS key ids cannot contain NUL characters")
        return self._run(_pg_create, key)

    def get_kms_key(self, key_id: str) -> KmsKey | None:
        if "\x00" in key_id:
            return None
        rows = self._all(f"SELECT {KMS_COLS} FROM kms_keys WHERE key_id = %s", (key_id,))
        return _key(rows[0]) if rows else None

    def list_kms_keys(self) -> list[KmsKey]:
        return [_key(r) for r in self._all(
            f"SELECT {KMS_COLS} FROM kms_keys ORDER BY created, key_id")]


class MemoryKms:
    """Named KMS keys in a dictionary (records are immutable)."""

    _lock: threading.RLock

    def _kms_table(self) -> dict[str, KmsKey]:
        table: dict[str, KmsKey] | None = getattr(self, "_kms_keys", None)
        if table is None:
            table = self._kms_keys = {}
        return table

    def create_kms_key(self, key: KmsKey) -> bool:
        with self._lock:
            table = self._kms_table()
            if key.key_id in table:
                return False
            table[key.key_id] = key
            return True

    def get_kms_key(self, key_id: str) -> KmsKey | None:
        with self._lock:
            return self._kms_table().get(key_id)

    def list_kms_keys(self) -> list[KmsKey]:
        with self._lock:
            return sorted(self._kms_table().values(), key=lambda k: (k.created, k.key_id))
