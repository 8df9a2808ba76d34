import numpy as np

from appliance.sqlite import connect


def test_sqlite_vec_and_fts5_work_on_a_file(tmp_path):
    db = connect(tmp_path / "t.db", vec=True)
    assert db.execute("pragma journal_mode").fetchone()[0] == "wal"
    db.execute("create virtual table v using vec0(id integer primary key, e float[3] distance_metric=cosine)")
    for i, vector in enumerate([[1, 0, 0], [0, 1, 0], [0.9, 0.1, 0]]):
        db.execute("insert into v (id, e) values (?, ?)", (i, np.array(vector, np.float32).tobytes()))
    query = np.array([1, 0, 0], np.float32).tobytes()
    rows = db.execute("select id from v where e match ? and k = 2 order by distance", (query,)).fetchall()
    assert [r[0] for r in rows] == [0, 2]
    db.execute("create virtual table words using fts5(text)")
    db.execute("insert into words (text) values ('refund policy'), ('pricing plans')")
    assert db.execute("select text from words where words match 'refund'").fetchall() == [("refund policy",)]


def test_extension_loading_is_switched_off_again(tmp_path):
    db = connect(tmp_path / "t.db", vec=True)
    try:
        db.execute("select load_extension('/nonexistent')")
        raised = None
    except Exception as exc:
        raised = str(exc)
    assert raised and "not authorized" in raised
