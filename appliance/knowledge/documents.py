"""Documents cut into passages, each with its source file and heading path; one parser per file type."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import ApplianceError

MAX_CHARS = 500


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: where it came from, under which heading, and its text."""

    source: str
    heading: str
    text: str


def _pieces(text: str, limit: int = MAX_CHARS) -> list[str]:
    """Text cut at paragraph, then sentence boundaries into pieces of at most about `limit` characters."""
    pieces, current = [], ""
    units = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        if len(paragraph) <= limit:
            units.append(paragraph)
        else:
            units += re.split(r"(?<=[.!?])\s+", paragraph)
    for unit in filter(None, units):
        if current and len(current) + len(unit) + 1 > limit:
            pieces.append(current)
            current = unit
        else:
            current = f"{current} {unit}".strip()
    if current:
        pieces.append(current)
    return pieces


def parse_markdown(source: str, text: str) -> list[Chunk]:
    """Sections under their heading path ("Refund policy > Exceptions"), long ones cut into pieces."""
    chunks, path, body = [], [], []

    def close() -> None:
        heading = " > ".join(title for _, title in path) or source
        chunks.extend(Chunk(source, heading, piece) for piece in _pieces("\n".join(body)))
        body.clear()

    for line in text.splitlines():
        found = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if found:
            close()
            level = len(found.group(1))
            path[:] = [(lvl, title) for lvl, title in path if lvl < level] + [(level, found.group(2))]
        else:
            body.append(line)
    close()
    return chunks


def parse_text(source: str, text: str) -> list[Chunk]:
    """Plain text in paragraph pieces, headed by the file name."""
    return [Chunk(source, Path(source).stem, piece) for piece in _pieces(text)]


PARSERS = {".md": parse_markdown, ".markdown": parse_markdown, ".txt": parse_text}


def read_document(path: Path, source: str | None = None) -> list[Chunk]:
    """The passages of one document; a malformed one raises `knowledge-document-invalid` naming it."""
    path = Path(path)
    parser = PARSERS.get(path.suffix.lower())
    if parser is None:
        raise ApplianceError("knowledge-document-invalid", f"{path}: no parser for {path.suffix or 'files without a suffix'}")
    data = path.read_bytes()
    if b"\x00" in data:
        raise ApplianceError("knowledge-document-invalid", f"{path}: binary data in a text document")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApplianceError("knowledge-document-invalid", f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    chunks = parser(source or path.name, text)
    if not chunks:
        raise ApplianceError("knowledge-document-invalid", f"{path}: no text in it")
    return chunks
