"""Group commit (store/sqlite_writer.py): concurrent writes share commits, and one that fails
is rolled back alone."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from shoal.store.sqlite_writer import Writer


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode = WAL")
    return conn


def test_concurrent_writes_commit_once_each_and_a_failure_stays_alone(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    connect(db).execute("CREATE TABLE t (n INTEGER PRIMARY KEY)")
    writer = Writer(str(db) + "-writer")
    results: dict[int, object] = {}
    commits: list[int] = []  # one entry per run of an op: each must run exactly once

    def op_for(n: int):  # noqa: ANN202
        def op(conn: sqlite3.Connection) -> int:
            commits.append(conn.execute("SELECT count(*) FROM t").fetchone()[0])
            conn.execute("INSERT INTO t (n) VALUES (?)", (n,))
            if n % 10 == 7:
                raise ValueError(f"no {n}")
            return n * 2
        return op

    def worker(first: int) -> None:
        conn = connect(db)
        for n in range(first, first + 25):
            try:
                results[n] = writer.batched(conn, op_for(n))
            except ValueError as exc:
                results[n] = str(exc)

    threads = [threading.Thread(target=worker, args=(i * 25,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    stored = {n for (n,) in connect(db).execute("SELECT n FROM t")}
    assert stored == {n for n in range(200) if n % 10 != 7}
    assert results == {n: (f"no {n}" if n % 10 == 7 else n * 2) for n in range(200)}
    assert len(commits) == 200


def test_a_failed_commit_fails_every_write_of_its_group(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    conn = connect(db)
    conn.execute("CREATE TABLE t (n INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE u (n INTEGER PRIMARY KEY REFERENCES t (n) DEFERRABLE "
                 "INITIALLY DEFERRED)")
    conn.execute("PRAGMA foreign_keys = ON")
    writer = Writer(str(db) + "-writer")
    # A deferred foreign key fails at COMMIT: the write cannot succeed, and says so.
    try:
        writer.batched(conn, lambda c: c.execute("INSERT INTO u (n) VALUES (1)"))
    except sqlite3.IntegrityError:
        pass
    else:
        raise AssertionError("the COMMIT should have failed")
    assert not conn.in_transaction
    assert conn.execute("SELECT count(*) FROM u").fetchone()[0] == 0
    assert writer.batched(conn, lambda c: c.execute("INSERT INTO t (n) VALUES (1)").rowcount) == 1
