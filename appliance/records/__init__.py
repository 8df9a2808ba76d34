"""What the appliance remembers between calls: leads, calls, tickets, callbacks, orders, agents, the outbox.

One SQLite file (`data_dir/appliance.db`) in WAL mode, so the call process and the queue worker read
and write it side by side. The schema is built and upgraded only by the numbered scripts in
`migrations/`, applied in order by peewee's runner and recorded in the file, so an existing database
is upgraded in place and keeps its rows.
"""

from __future__ import annotations

from pathlib import Path

import peewee
from playhouse.migrations import Runner

from appliance.records.models import MODELS, database

MIGRATIONS = Path(__file__).with_name("migrations")
PRAGMAS = {"journal_mode": "wal", "synchronous": "full", "foreign_keys": 1, "busy_timeout": 10000}


def open_database(path: str | Path, upgrade: bool = True) -> peewee.SqliteDatabase:
    """Open (and create or upgrade) the records database at `path`; every model is bound to it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Transactions take the write lock when they begin: one that reads and then writes would otherwise fail at
    # once ("database is locked") when another process or thread wrote in between, whatever the busy timeout.
    db = peewee.SqliteDatabase(str(path), pragmas=PRAGMAS, timeout=10, lock_type="IMMEDIATE")
    database.initialize(db)
    db.connect(reuse_if_open=True)
    if upgrade:
        migrate(db)
    return db


def disk_full(exc: BaseException) -> bool:
    """Whether a database error means the disk (or the file system's quota) has no room for the write."""
    text = str(exc).lower()
    return isinstance(exc, (peewee.OperationalError, OSError)) and (
        "full" in text or "disk i/o error" in text or "no space" in text)


def migrate(db: peewee.SqliteDatabase) -> list[str]:
    """Apply the migrations this database has not had yet; returns their names."""
    return Runner(db, directory=str(MIGRATIONS)).up()


__all__ = ["MODELS", "database", "disk_full", "migrate", "open_database"]
