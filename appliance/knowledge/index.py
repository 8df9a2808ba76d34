"""The knowledge index: passages in SQLite, found by meaning (sqlite-vec cosine) and words (FTS5 BM25)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from appliance.errors import ApplianceError
from appliance.knowledge.documents import PARSERS, read_document
from appliance.sqlite import connect

RRF_K = 60  # reciprocal rank fusion: a passage scores 1 / (RRF_K + rank) in each list it is in


@dataclass(frozen=True)
class Passage:
    """A retrieved passage; `score` is its cosine similarity to the question (0..1)."""

    source: str
    heading: str
    text: str
    score: float


@dataclass
class IngestReport:
    """What one ingest did, document by document."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        text = (f"{len(self.added)} added, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
                f"{len(self.removed)} removed, {len(self.failed)} failed")
        return text + "".join(f"\n  skipped {path}: {error}" for path, error in self.failed)


class KnowledgeIndex:
    """Passages of the company's documents in one SQLite file, with their vectors and a full-text index."""

    def __init__(self, db_path: Path, embedder):
        self.embedder = embedder
        self.db = connect(db_path, vec=True)
        self.db.executescript(f"""
            create table if not exists documents (
                id integer primary key, source text unique not null, sha256 text not null, ingested_at text not null);
            create table if not exists chunks (
                id integer primary key, document_id integer not null references documents(id) on delete cascade,
                heading text not null, text text not null);
            create virtual table if not exists chunk_vectors using vec0(
                chunk_id integer primary key, embedding float[{embedder.dim}] distance_metric=cosine);
            create virtual table if not exists chunk_words using fts5(heading, text);
        """)

    def ingest(self, directory: Path) -> IngestReport:
        """Bring the index in line with the documents under `directory`; each document changes atomically."""
        directory = Path(directory)
        report = IngestReport()
        if not directory.is_dir():
            raise ApplianceError("knowledge-dir-missing", f"{directory} is not a folder")
        seen = set()
        for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in PARSERS):
            source = str(path.relative_to(directory))
            seen.add(source)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            row = self.db.execute("select id, sha256 from documents where source = ?", (source,)).fetchone()
            if row and row[1] == digest:
                report.unchanged.append(source)
                continue
            try:
                chunks = read_document(path, source)
            except ApplianceError as exc:
                report.failed.append((source, exc.message))
                continue
            vectors = self.embedder.embed([f"{c.heading}: {c.text}" for c in chunks])
            with self.db:
                if row:
                    self._delete_document(row[0])
                cursor = self.db.execute("insert into documents (source, sha256, ingested_at) values (?, ?, ?)",
                                         (source, digest, datetime.now(timezone.utc).isoformat()))
                document_id = cursor.lastrowid
                for chunk, vector in zip(chunks, vectors):
                    chunk_id = self.db.execute("insert into chunks (document_id, heading, text) values (?, ?, ?)",
                                               (document_id, chunk.heading, chunk.text)).lastrowid
                    self.db.execute("insert into chunk_vectors (chunk_id, embedding) values (?, ?)",
                                    (chunk_id, vector.astype(np.float32).tobytes()))
                    self.db.execute("insert into chunk_words (rowid, heading, text) values (?, ?, ?)",
                                    (chunk_id, chunk.heading, chunk.text))
            (report.updated if row else report.added).append(source)
        for document_id, source in self.db.execute("select id, source from documents").fetchall():
            if source not in seen:
                with self.db:
                    self._delete_document(document_id)
                report.removed.append(source)
        return report

    def _delete_document(self, document_id: int) -> None:
        ids = [r[0] for r in self.db.execute("select id from chunks where document_id = ?", (document_id,))]
        for chunk_id in ids:
            self.db.execute("delete from chunk_vectors where chunk_id = ?", (chunk_id,))
            self.db.execute("delete from chunk_words where rowid = ?", (chunk_id,))
        self.db.execute("delete from chunks where document_id = ?", (document_id,))
        self.db.execute("delete from documents where id = ?", (document_id,))

    def count(self) -> int:
        """How many passages the index holds."""
        return self.db.execute("select count(*) from chunks").fetchone()[0]

    def search(self, query: str, k: int = 3, min_score: float = 0.0) -> list[Passage]:
        """The `k` best passages for `query`, by fused vector and keyword rank, none below `min_score`."""
        if not query.strip() or self.count() == 0:
            return []
        vector = self.embedder.embed([query])[0]
        candidates = max(4 * k, 10)
        ranks: dict[int, float] = {}
        by_meaning = self.db.execute(
            "select chunk_id from chunk_vectors where embedding match ? and k = ? order by distance",
            (vector.tobytes(), candidates)).fetchall()
        for rank, (chunk_id,) in enumerate(by_meaning):
            ranks[chunk_id] = ranks.get(chunk_id, 0.0) + 1 / (RRF_K + rank)
        words = re.findall(r"\w+", query.lower())
        if words:
            match = " OR ".join(f'"{word}"' for word in words)
            by_words = self.db.execute(
                "select rowid from chunk_words where chunk_words match ? order by bm25(chunk_words) limit ?",
                (match, candidates)).fetchall()
            for rank, (chunk_id,) in enumerate(by_words):
                ranks[chunk_id] = ranks.get(chunk_id, 0.0) + 1 / (RRF_K + rank)
        passages = []
        for chunk_id in sorted(ranks, key=ranks.get, reverse=True):
            source, heading, text, blob = self.db.execute(
                "select d.source, c.heading, c.text, v.embedding from chunks c join documents d on d.id = c.document_id "
                "join chunk_vectors v on v.chunk_id = c.id where c.id = ?", (chunk_id,)).fetchone()
            score = float(np.dot(np.frombuffer(blob, dtype=np.float32), vector))
            if score >= min_score:
                passages.append(Passage(source, heading, text, score))
            if len(passages) == k:
                break
        return passages
