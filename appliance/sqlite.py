"""The one place that opens SQLite: WAL mode, foreign keys, a busy timeout, and sqlite-vec where asked."""

from __future__ import annotations

import functools
import sqlite3
from contextlib import closing, contextmanager
from pathlib import Path

from appliance.errors import ApplianceError

try:
    from pysqlite3 import dbapi2 as _bundled
except ImportError:  # only needed where the stdlib sqlite3 cannot load extensions
    _bundled = None

BUSY_TIMEOUT_S = 10.0

Error = (sqlite3.Error,) + ((_bundled.Error,) if _bundled else ())
"""The exception types SQLite raises, whichever module opened the connection (use in `except Error`)."""


def _fit(module) -> bool:
    """Whether a DB-API module can load extensions and its SQLite has FTS5."""
    if not hasattr(module.Connection, "enable_load_extension"):
        return False
    probe = module.connect(":memory:")
    try:
        probe.execute("create virtual table probe using fts5(text)")
        return True
    except module.Error:
        return False
    finally:
        probe.close()


def _candidates() -> tuple:
    """The modules in the order peewee picks them (pysqlite3 when it is at least as new as the stdlib's).

    One process must use one SQLite library per database file: two copies of SQLite in one process do not
    see each other's POSIX locks, and a WAL file shared between them ends in corruption or SIGBUS
    (sqlite.org/howtocorrupt.html, "multiple copies of SQLite linked into the same application"). peewee
    opens the records database, so this module follows its choice whenever that choice is fit.
    """
    if _bundled is not None and _bundled.sqlite_version_info >= sqlite3.sqlite_version_info:
        return (_bundled, sqlite3)
    return (sqlite3, _bundled)


@functools.cache
def sqlite_module():
    """The DB-API module to use: the one peewee uses if it loads extensions and has FTS5, else the other."""
    for module in _candidates():
        if module is not None and _fit(module):
            return module
    raise ApplianceError("sqlite-vec-unavailable",
                         f"this Python's sqlite3 (SQLite {sqlite3.sqlite_version}) cannot load extensions or lacks "
                         "FTS5; pip install pysqlite3-binary==0.5.4.post2 (or use a Python built with "
                         "--enable-loadable-sqlite-extensions, such as Debian's python3)")


def connect(path: str | Path, *, vec: bool = False):
    """A connection to the database at `path` (":memory:" too), with sqlite-vec loaded when `vec`."""
    module = sqlite_module()
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        # check_same_thread=False: engines run in worker threads (asyncio.to_thread); callers serialise their use.
        connection = module.connect(str(path), timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    except module.Error as exc:
        raise ApplianceError("sqlite-open-failed", f"{path}: {exc}") from exc
    try:
        connection.execute("pragma journal_mode = wal")
        connection.execute("pragma foreign_keys = on")
        connection.execute("pragma synchronous = normal")
    except module.Error as exc:
        connection.close()
        raise ApplianceError("sqlite-open-failed", f"{path}: {exc}") from exc
    if vec:
        _load_vec(connection, module)
    return connection


def _load_vec(connection, module) -> None:
    """Load sqlite-vec into `connection`, switching extension loading off again afterwards."""
    try:
        import sqlite_vec
    except ImportError:
        connection.close()
        raise ApplianceError("sqlite-vec-unavailable", "the sqlite-vec package is missing; "
                             "pip install sqlite-vec==0.1.9") from None
    connection.enable_load_extension(True)
    try:
        sqlite_vec.load(connection)
    except module.Error as exc:
        connection.close()
        raise ApplianceError("sqlite-vec-unavailable",
                             f"sqlite-vec did not load into SQLite {module.sqlite_version}: {exc}") from exc
    connection.enable_load_extension(False)


def backup(source: str | Path, target: str | Path) -> None:
    """A consistent copy of the database at `source` into `target`, taken while others may be writing it.

    Goes through `sqlite_module()`, the library this process already opens the file with (see `_candidates`).
    """
    module = sqlite_module()
    try:
        with closing(module.connect(str(source), timeout=BUSY_TIMEOUT_S)) as live, \
                closing(module.connect(str(target))) as copy:
            live.backup(copy)
    except module.Error as exc:
        raise ApplianceError("sqlite-backup-failed", f"copying {source} to {target}: {exc}") from exc


@contextmanager
def transaction(connection):
    """One write transaction (BEGIN IMMEDIATE): committed when the block ends, rolled back if it raises."""
    connection.execute("begin immediate")
    try:
        yield connection
    except BaseException:
        connection.rollback()
        raise
    connection.commit()
