import numpy as np
import pytest

from appliance.errors import ApplianceError
from appliance.sqlite import Error, connect, sqlite_module, transaction


def test_the_chosen_sqlite_loads_extensions_and_has_fts5():
    module = sqlite_module()
    assert hasattr(module.Connection, "enable_load_extension")
    assert issubclass(module.Error, Error)


def test_a_file_database_in_wal_mode_with_foreign_keys(tmp_path):
    db = connect(tmp_path / "sub" / "t.db")
    assert db.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert db.execute("pragma foreign_keys").fetchone()[0] == 1
    assert db.execute("pragma busy_timeout").fetchone()[0] >= 1000
    assert (tmp_path / "sub" / "t.db").is_file()


def test_sqlite_vec_cosine_query_and_fts5_work_on_a_file(tmp_path):
    db = connect(tmp_path / "t.db", vec=True)
    assert db.execute("select vec_version()").fetchone()[0].startswith("v")
    db.execute("create virtual table v using vec0(id integer primary key, e float[3] distance_metric=cosine)")
    for i, vector in enumerate([[1, 0, 0], [0, 1, 0], [0.9, 0.1, 0]]):
        db.execute("insert into v (id, e) values (?, ?)", (i, np.array(vector, np.float32).tobytes()))
    query = np.array([2, 0, 0], np.float32).tobytes()
    rows = db.execute("select id, distance from v where e match ? and k = 2 order by distance", (query,)).fetchall()
    assert [r[0] for r in rows] == [0, 2]
    assert rows[0][1] == pytest.approx(0.0, abs=1e-6) and rows[1][1] == pytest.approx(1 - 0.9 / np.hypot(0.9, 0.1), abs=1e-6)
    db.execute("create virtual table words using fts5(text)")
    db.execute("insert into words (text) values ('our refund policy'), ('pricing plans'), ('refund refund refund')")
    found = db.execute("select text from words where words match 'refund' order by bm25(words)").fetchall()
    assert found == [("refund refund refund",), ("our refund policy",)]


def test_extension_loading_is_switched_off_again(tmp_path):
    db = connect(tmp_path / "t.db", vec=True)
    with pytest.raises(Error, match="not authorized"):
        db.execute("select load_extension('/nonexistent')")


def test_a_transaction_commits_or_rolls_back_as_one(tmp_path):
    db = connect(tmp_path / "t.db")
    db.execute("create table t (x integer)")
    db.commit()
    with transaction(db):
        db.execute("insert into t values (1)")
        db.execute("insert into t values (2)")
    with pytest.raises(RuntimeError):
        with transaction(db):
            db.execute("insert into t values (3)")
            raise RuntimeError("half way")
    other = connect(tmp_path / "t.db")
    assert other.execute("select x from t order by x").fetchall() == [(1,), (2,)]


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not a database at all, just some text " * 20)
    with pytest.raises(ApplianceError) as error:
        connect(path)
    assert error.value.code == "sqlite-open-failed" and "notes.db" in str(error.value)


def test_the_records_and_the_index_share_one_sqlite_library():
    # Two copies of SQLite in one process on the same WAL file end in SIGBUS (CI crashed so, copying the
    # records database for a test call while the panel wrote an audit row through peewee).
    import peewee

    assert sqlite_module() is peewee.sqlite3


def test_a_backup_copies_a_database_that_is_being_written(tmp_path):
    from appliance.records import open_database
    from appliance.sqlite import backup

    db = open_database(tmp_path / "live.db")
    db.execute_sql("create table notes (x integer)")
    db.execute_sql("begin immediate")
    db.execute_sql("insert into notes values (1)")
    db.execute_sql("commit")
    db.execute_sql("begin immediate")
    db.execute_sql("insert into notes values (2)")  # not committed: the copy must not have it
    backup(tmp_path / "live.db", tmp_path / "copy.db")
    db.execute_sql("commit")
    copy = connect(tmp_path / "copy.db")
    assert copy.execute("select x from notes").fetchall() == [(1,)]


def test_a_backup_of_a_file_that_is_not_a_database_names_the_file(tmp_path):
    from appliance.sqlite import backup

    (tmp_path / "notes.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(ApplianceError, match="notes.db"):
        backup(tmp_path / "notes.db", tmp_path / "copy.db")
