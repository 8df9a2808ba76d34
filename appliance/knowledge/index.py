"""The knowledge index: passages in SQLite, found by meaning (sqlite-vec cosine) and words (FTS5 BM25)."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from appliance.errors import ApplianceError
from appliance.knowledge.documents import PARSERS, parse_document, titles
from appliance.sqlite import Error, connect, transaction

SCHEMA = 7  # bump when the tables or the passages' form change: an index is derived data, so it is rebuilt
RRF_K = 60  # reciprocal rank fusion: a passage scores 1 / (RRF_K + rank) in each list it is in
CANDIDATES = 20  # at least this many passages from each of the vector and the keyword search
# The largest document taken: a file past MAX_DOCUMENT_MB is not read, one of more than MAX_PASSAGES passages (about
# 500 KB of text, a 250-page manual) is not embedded. Either would take many minutes on the box's CPU and crowd the
# prompt's passages; the admin is told to split it.
MAX_DOCUMENT_MB = 20
MAX_PASSAGES = 1000


@dataclass(frozen=True)
class Passage:
    """A retrieved passage; `score` is its cosine similarity to the question (-1..1, higher is closer)."""

    source: str
    heading: str
    text: str
    score: float


@dataclass
class IngestReport:
    """What one ingest did, document by document, and how long it took."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    passages: int = 0
    elapsed_s: float = 0.0

    def __str__(self) -> str:
        text = (f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
                f"{len(self.removed)} removed, {len(self.failed)} failed; {self.passages} passages "
                f"({self.elapsed_s:.1f} s)")
        return text + "".join(f"\n  skipped {source}: {error}" for source, error in self.failed)


def _documents(directory: Path) -> list[tuple[str, Path]]:
    """The documents under `directory` that have a parser, by their path relative to it; hidden ones left out."""
    found = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if path.is_file() and path.suffix.lower() in PARSERS and not any(p.startswith(".") for p in relative.parts):
            found.append((relative.as_posix(), path))
    return found


class KnowledgeIndex:
    """Passages of the company's documents in one SQLite file, with their vectors and a full-text index."""

    def __init__(self, db_path: Path, embedder):
        self.db_path = Path(db_path)
        self.embedder = embedder
        self.layout = f"schema {SCHEMA}; {getattr(embedder, 'name', type(embedder).__name__)}; {embedder.dim} dims"
        self._lock = threading.Lock()  # one connection, used from the call sessions' worker threads
        self.db = connect(self.db_path, vec=True)
        try:
            self._prepare()
        except Error as exc:
            self.db.close()
            raise ApplianceError("knowledge-index-failed", f"{self.db_path}: {exc}") from exc

    def _prepare(self) -> None:
        """Create the tables; an index made by another schema or embedder is emptied, to be ingested afresh."""
        has_info = self.db.execute("select 1 from sqlite_master where name = 'index_info'").fetchone()
        built = self.db.execute("select value from index_info where key = 'layout'").fetchone() if has_info else None
        with transaction(self.db):
            if built is None or built[0] != self.layout:
                for table in ("chunk_words", "chunk_vectors", "chunks", "documents", "index_info"):
                    self.db.execute(f"drop table if exists {table}")
            self.db.execute("create table if not exists index_info (key text primary key, value text not null)")
            self.db.execute("insert or replace into index_info values ('layout', ?)", (self.layout,))
            self.db.execute("""create table if not exists documents (
                id integer primary key, path text unique not null, sha256 text not null, ingested_at text not null)""")
            self.db.execute("""create table if not exists chunks (
                id integer primary key, document_id integer not null references documents(id) on delete cascade,
                heading text not null, text text not null)""")
            self.db.execute("create index if not exists chunks_by_document on chunks (document_id)")
            self.db.execute(f"""create virtual table if not exists chunk_vectors using vec0(
                chunk_id integer primary key, embedding float[{self.embedder.dim}] distance_metric=cosine)""")
            self.db.execute("create virtual table if not exists chunk_words using fts5(heading, text, "
                            "tokenize='porter unicode61')")  # "helmets" finds "helmet"

    def close(self) -> None:
        """Close the database file."""
        self.db.close()

    def __enter__(self) -> KnowledgeIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def ingest(self, directory: Path, progress: Callable[[int, int], None] | None = None) -> IngestReport:
        """Bring the index in line with the documents under `directory`; each document changes atomically.
        `progress(done, total)` is called before the first document and after each one (the panel shows it)."""
        started = time.perf_counter()
        directory = Path(directory)
        if not directory.is_dir():
            raise ApplianceError("knowledge-dir-missing", f"{directory} is not a folder")
        report = IngestReport()
        try:
            self._ingest(directory, report, progress or (lambda done, total: None))
            report.passages = self.count()
        except Error as exc:
            raise ApplianceError("knowledge-index-failed", f"{self.db_path}: {exc}") from exc
        report.elapsed_s = time.perf_counter() - started
        return report

    def _ingest(self, directory: Path, report: IngestReport, progress: Callable[[int, int], None]) -> None:
        documents, named = _documents(directory), titles(directory)
        progress(0, len(documents))
        for done, (source, path) in enumerate(documents, start=1):
            self._ingest_one(source, path, report, named.get(source, ""))
            progress(done, len(documents))
        present = {source for source, _ in documents}
        with self._lock:
            indexed = self.db.execute("select id, path from documents order by path").fetchall()
        for document_id, source in indexed:
            if source not in present:
                with self._lock, transaction(self.db):
                    self._delete_document(document_id)
                report.removed.append(source)

    def _ingest_one(self, source: str, path: Path, report: IngestReport, title: str = "") -> None:
        """One document into the index, unless it is unchanged; a malformed one keeps its last good passages.
        `title`: what the document is called, for text under no heading (a panel upload's original name)."""
        try:
            size_mb = path.stat().st_size / 1e6
            if size_mb > MAX_DOCUMENT_MB:
                report.failed.append((source, f"is {size_mb:.0f} MB; the most the index takes is {MAX_DOCUMENT_MB} MB "
                                              f"a document: split it into smaller documents"))
                return
            data = path.read_bytes()  # hashed and parsed from the same bytes, even if the file changes meanwhile
        except OSError as exc:
            report.failed.append((source, f"cannot be read ({exc.strerror})"))
            return
        digest = hashlib.sha256(data + title.encode()).hexdigest()  # a new title re-heads the passages
        with self._lock:
            row = self.db.execute("select id, sha256 from documents where path = ?", (source,)).fetchone()
        if row and row[1] == digest:
            report.unchanged.append(source)
            return
        try:
            chunks = parse_document(source, data, title)
        except ApplianceError as exc:
            report.failed.append((source, exc.message))  # a document once good keeps its last good passages
            return
        if len(chunks) > MAX_PASSAGES:
            report.failed.append((source, f"has {len(chunks)} passages ({len(data) / 1e6:.1f} MB); the most the index "
                                          f"takes from one document is {MAX_PASSAGES} (about 500 KB of text): split it "
                                          f"into smaller documents"))
            return
        vectors = self.embedder.embed([f"{c.heading}: {c.text}" for c in chunks])  # outside the write lock
        with self._lock, transaction(self.db):
            if row:
                self._delete_document(row[0])
            document_id = self.db.execute(
                "insert into documents (path, sha256, ingested_at) values (?, ?, ?)",
                (source, digest, datetime.now(timezone.utc).isoformat(timespec="seconds"))).lastrowid
            for chunk, vector in zip(chunks, vectors):
                chunk_id = self.db.execute("insert into chunks (document_id, heading, text) values (?, ?, ?)",
                                           (document_id, chunk.heading, chunk.text)).lastrowid
                self.db.execute("insert into chunk_vectors (chunk_id, embedding) values (?, ?)",
                                (chunk_id, np.asarray(vector, dtype=np.float32).tobytes()))
                self.db.execute("insert into chunk_words (rowid, heading, text) values (?, ?, ?)",
                                (chunk_id, chunk.heading, chunk.text))
        (report.updated if row else report.added).append(source)

    def _delete_document(self, document_id: int) -> None:
        """Remove a document and its passages from every table (inside the caller's transaction)."""
        for (chunk_id,) in self.db.execute("select id from chunks where document_id = ?", (document_id,)).fetchall():
            self.db.execute("delete from chunk_vectors where chunk_id = ?", (chunk_id,))
            self.db.execute("delete from chunk_words where rowid = ?", (chunk_id,))
        self.db.execute("delete from chunks where document_id = ?", (document_id,))
        self.db.execute("delete from documents where id = ?", (document_id,))

    def fingerprint(self) -> str:
        """A digest of which documents the index holds and their contents: it changes whenever a document is
        added, changed or removed, by this process or another (the panel re-indexes in its own)."""
        with self._lock:
            rows = self.db.execute("select path, sha256 from documents order by path").fetchall()
        return hashlib.sha256("\n".join(f"{path}\t{digest}" for path, digest in rows).encode()).hexdigest()

    def count(self) -> int:
        """How many passages the index holds."""
        with self._lock:
            return self.db.execute("select count(*) from chunks").fetchone()[0]

    def passages(self) -> list[Passage]:
        """Every passage, document by document, in order."""
        with self._lock:
            rows = self.db.execute("select d.path, c.heading, c.text from chunks c join documents d on d.id = c.document_id"
                                   " order by d.path, c.id").fetchall()
        return [Passage(source, heading, text, 1.0) for source, heading, text in rows]

    def document(self, source: str) -> list[Passage]:
        """Every passage of one document, in order: what an email sends when a caller asks for the document."""
        with self._lock:
            rows = self.db.execute(
                "select c.heading, c.text from chunks c join documents d on d.id = c.document_id"
                " where d.path = ? order by c.id", (source,)).fetchall()
        return [Passage(source, heading, text, 1.0) for heading, text in rows]

    def search(self, query: str, k: int = 3, min_score: float = 0.0) -> list[Passage]:
        """The `k` best passages for `query` by fused meaning and keyword rank, none below `min_score` cosine."""
        if not query.strip() or k <= 0:
            return []
        vector = self.embedder.embed([query])[0]
        try:
            with self._lock:
                return self._search(query, vector, k, min_score)
        except Error as exc:
            raise ApplianceError("knowledge-index-failed", f"{self.db_path}: {exc}") from exc

    def _search(self, query: str, vector: np.ndarray, k: int, min_score: float) -> list[Passage]:
        candidates = max(4 * k, CANDIDATES)
        fused: dict[int, float] = {}
        by_meaning = self.db.execute(
            "select chunk_id from chunk_vectors where embedding match ? and k = ? order by distance",
            (vector.tobytes(), candidates)).fetchall()
        words = re.findall(r"\w+", query.lower())
        by_words = self.db.execute(
            "select rowid from chunk_words where chunk_words match ? order by bm25(chunk_words) limit ?",
            (" OR ".join(f'"{word}"' for word in words), candidates)).fetchall() if words else []
        for ranking in (by_meaning, by_words):
            for rank, (chunk_id,) in enumerate(ranking):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1 / (RRF_K + rank)
        passages = []
        for chunk_id in sorted(fused, key=fused.get, reverse=True):
            source, heading, text, blob = self.db.execute(
                "select d.path, c.heading, c.text, v.embedding from chunks c join documents d on d.id = c.document_id"
                " join chunk_vectors v on v.chunk_id = c.id where c.id = ?", (chunk_id,)).fetchone()
            score = float(np.dot(np.frombuffer(blob, dtype=np.float32), vector))
            if score >= min_score:
                passages.append(Passage(source, heading, text, score))
            if len(passages) == k:
                break
        return passages
