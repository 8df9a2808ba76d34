"""The one place that opens SQLite: WAL mode, foreign keys, and sqlite-vec loaded where asked."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from appliance.errors import ApplianceError


def sqlite_module():
    """The DB-API module to use: the stdlib's if it can load extensions, else pysqlite3's bundled SQLite."""
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        from pysqlite3 import dbapi2
    except ImportError:
        raise ApplianceError("sqlite-vec-unavailable",
                             "this Python's sqlite3 cannot load extensions; pip install pysqlite3-binary "
                             "or use Debian's python3") from None
    return dbapi2


def connect(path: str | Path, *, vec: bool = False):
    """A connection to the database at `path` (":memory:" too), with sqlite-vec when `vec`."""
    module = sqlite_module()
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    connection = module.connect(str(path), timeout=10, check_same_thread=False)
    connection.execute("pragma journal_mode = wal")
    connection.execute("pragma foreign_keys = on")
    connection.execute("pragma synchronous = normal")
    if vec:
        import sqlite_vec

        try:
            connection.enable_load_extension(True)
            sqlite_vec.load(connection)
        except Exception as exc:  # the extension loader raises the module's own OperationalError
            raise ApplianceError("sqlite-vec-unavailable", f"sqlite-vec did not load: {exc}") from exc
        finally:
            connection.enable_load_extension(False)
    return connection
