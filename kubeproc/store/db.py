"""SQLite persistence for the object store; the only module that imports sqlite3.

One table of objects keyed by (resource, namespace, name) with their resourceVersion and JSON
bytes, and one row holding the global resourceVersion counter. WAL with synchronous=FULL: a
batch returned from `commit` survives kill -9 and power loss. Callers run it off the event loop.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    resource  TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name      TEXT NOT NULL,
    rv        INTEGER NOT NULL,
    data      BLOB NOT NULL,
    PRIMARY KEY (resource, namespace, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Row:
    resource: str
    namespace: str
    name: str
    rv: int
    data: bytes | None  # None deletes the row


class StoreDB:
    """A single connection used from one writer thread at a time (guarded by a lock)."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)

    def load(self) -> tuple[int, Iterator[Row]]:
        """The stored resourceVersion counter and every object row."""
        with self._lock:
            cur = self._conn.execute("SELECT value FROM meta WHERE key='rv'")
            found = cur.fetchone()
            rows = self._conn.execute(
                "SELECT resource, namespace, name, rv, data FROM objects").fetchall()
        rv = found[0] if found else 0
        return rv, (Row(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows)

    def commit(self, rows: list[Row], rv: int) -> None:
        """Write a batch and the new counter in one durable transaction."""
        with self._lock:
            conn = self._conn
            # Later rows of the batch win: the last write of each key is what must persist.
            final: dict[tuple[str, str, str], Row] = {}
            for row in rows:
                final[(row.resource, row.namespace, row.name)] = row
            puts = [(r.resource, r.namespace, r.name, r.rv, r.data)
                    for r in final.values() if r.data is not None]
            dels = [k for k, r in final.items() if r.data is None]
            conn.execute("BEGIN IMMEDIATE")
            try:
                if dels:
                    conn.executemany(
                        "DELETE FROM objects WHERE resource=? AND namespace=? AND name=?", dels)
                if puts:
                    conn.executemany("INSERT OR REPLACE INTO objects VALUES (?,?,?,?,?)", puts)
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('rv', ?)", (rv,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def integrity_check(self) -> str:
        with self._lock:
            return self._conn.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
