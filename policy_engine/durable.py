"""One SQLite file opened for durable writes: what the machine store, the audit log, the budget
ledger and the decision log share (they may all live in the same file).

WAL journal with ``synchronous=FULL``: a committed transaction survives the process being killed
and the machine losing power; readers never block the writer. ``BEGIN IMMEDIATE`` takes the write
lock at the start of a transaction, so two processes never interleave the read-check-write of an
id-keyed insert; ``timeout`` is how long a writer waits for that lock.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Self

LOCK_TIMEOUT_S = 10.0


def connect(path: str) -> sqlite3.Connection:
    """Autocommit connection (transactions are explicit), rows by name, WAL, synchronous=FULL."""
    db = sqlite3.connect(path, isolation_level=None, timeout=LOCK_TIMEOUT_S)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    return db


class Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception: all of it or none of it."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


class DurableFile:
    """Base of the engine's stores: ``Store("state.db")``, ``":memory:"`` for a throwaway one,
    usable as a context manager. One instance per thread; any number of processes per file."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._db = connect(self.path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self) -> Transaction:
        return Transaction(self._db)
