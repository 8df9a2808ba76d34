"""Documents cut into passages, each with its source file and heading path; one parser per file type."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from appliance.errors import ApplianceError

MAX_CHARS = 500
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
FENCE = re.compile(r"^ {0,3}(```|~~~)")
LIST_ITEM = re.compile(r"\s*([-*+•]|\d+[.)])\s")
SENTENCE_END = re.compile(r"(?<!\.\.)(?<=[.!?])\s+")  # not after dot leaders ("Sunday ...... CLOSED")


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: where it came from, under which heading, and its text."""

    source: str
    heading: str
    text: str


def _invalid(source: str, why: str) -> ApplianceError:
    return ApplianceError("knowledge-document-invalid", f"{source}: {why}")


def _pack(parts: list[str], limit: int, joints: list[str] | None = None) -> list[str]:
    """Consecutive parts joined into pieces of at most `limit` characters, each joined to the one before by its
    joint (a space unless `joints` says otherwise: a new line between a price list's rows)."""
    packed, current = [], ""
    for part, joint in zip(parts, joints or [" "] * len(parts)):
        if not part:
            continue
        if current and len(current) + 1 + len(part) > limit:
            packed.append(current)
            current = part
        else:
            current = f"{current}{joint}{part}" if current else part
    return packed + [current] if current else packed


def _units(paragraph: str, limit: int) -> list[str]:
    """A paragraph as pieces of at most `limit` characters: whole, else sentences, else words, else cut."""
    if len(paragraph) <= limit:
        return [paragraph]
    units = []
    for sentence in SENTENCE_END.split(paragraph):
        if len(sentence) <= limit:
            units.append(sentence)
            continue
        words = []
        for word in sentence.split(" "):  # a run with no space at all (a URL, a hash) is cut by characters
            words += [word[start:start + limit] for start in range(0, len(word), limit)]
        units += _pack(words, limit)
    return units


def _items(lines: list[str]) -> list[str]:
    """Lines with a list item's wrapped lines joined back to it, so that no piece begins in the middle of an item
    ("- If an order is late ... we open a priority" over "  support ticket and waive the fee."). A wrapped line is
    indented at least as far as the item's text and goes on mid-sentence (a small letter); a line under a numbered
    heading ("1. WARRANTY PERIODS" over "   BiruGuard OMF-1 filter") or a table row is none."""
    joined: list[str] = []
    item_at = None  # where the text of the list item being read starts
    for line in lines:
        marker = LIST_ITEM.match(line)
        indent = len(line) - len(line.lstrip())
        if joined and item_at is not None and not marker and indent >= item_at and re.match(r"\s*[a-z]", line) \
                and not re.search(r"\.{3,}|…|\s{3,}\S", line.strip()):
            joined[-1] = f"{joined[-1].rstrip()} {line.strip()}"
            continue
        joined.append(line)
        item_at = marker.end() if marker else None
    return joined


def pieces(text: str, limit: int = MAX_CHARS) -> list[str]:
    """Text cut at paragraph, then line, then sentence boundaries into pieces of at most `limit` characters, spaces
    folded. A paragraph keeps its line breaks: a price list's rows and a timetable's days are lines, not one run.
    A line that ends in a colon is kept with what follows it."""
    parts = []  # (text, what joins it to the part before: a new line, or a space within a line)
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [" ".join(line.split()) for line in _items(paragraph.split("\n")) if line.strip()]
        if len("\n".join(lines)) <= limit:
            parts.append(("\n".join(lines), "\n"))
            continue
        for line in lines:
            parts += [(unit, " " if number else "\n") for number, unit in enumerate(_units(line, limit))]
    for number in range(len(parts) - 2, -1, -1):  # "If any lobsters arrive dead:" never ends a piece: what it
        if parts[number][0].endswith(":"):  # introduces comes with it
            parts[number:number + 2] = [(f"{parts[number][0]}\n{parts[number + 1][0]}", parts[number][1])]
    return _pack([part for part, _ in parts], limit, [joint for _, joint in parts])


def markdown_chunks(source: str, text: str, title: str = "") -> list[Chunk]:
    """Sections under their heading path ("Refund policy > Exceptions"), long ones cut into pieces; text before
    the first heading is headed `title` (the file name unless given)."""
    chunks, path, body = [], [], []
    fenced = False

    def close() -> None:
        heading = " > ".join(name for _, name in path) or title or Path(source).stem
        # Passages hold plain words: a table row becomes a sentence that names its columns, emphasis and link marks
        # go; the prompt, the voice, texts and emails all read them as they are.
        chunks.extend(Chunk(source, plain(heading), piece) for piece in pieces(plain("\n".join(body))))
        body.clear()

    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        found = None if fenced else HEADING.match(line)
        if found and found.group(2):
            close()
            level = len(found.group(1))
            path[:] = [(depth, title) for depth, title in path if depth < level] + [(level, found.group(2))]
        else:
            body.append(line)
    close()
    return chunks


RULE = re.compile(r"^\s*([=\-_~*#])\1{2,}\s*$")  # "=======", "-------": a line drawn under or around a heading


def shouted(text: str) -> bool:
    """Whether `text` is written in capitals ("COMMERCIAL & FARM ACCOUNTS"): a heading, in a text document."""
    letters = re.sub(r"[^A-Za-z]", "", text)
    return len(letters) >= 4 and letters.isupper()


def _text_heading(lines: list[str], number: int) -> bool:
    """Whether a plain-text line is a section heading: underlined by a rule ("Returns" over "-------"), or in
    capitals on a line of its own ("EMERGENCIES - 24 HOURS"), as people head sections in a text file."""
    line = lines[number].strip()
    if not line or RULE.match(line) or len(line) > 70 or line.endswith((".", ",", ";", ":")):
        return False
    # in capitals, a note in brackets aside ("1. WARRANTY PERIODS (outright purchase)"); not a table row in capitals
    heading = shouted(re.sub(r"\([^)]*\)", "", line)) and not re.search(r"\.{3,}|…|\s{3,}", line)
    alone = number == 0 or not lines[number - 1].strip() or RULE.match(lines[number - 1])
    underlined = number + 1 < len(lines) and RULE.match(lines[number + 1])
    return bool(underlined or (heading and alone))


def text_chunks(source: str, text: str, title: str = "") -> list[Chunk]:
    """Plain text in paragraph pieces under the text's own headings (text_heading), each within `title` (the
    file name unless given)."""
    title = title or Path(source).stem
    lines = text.splitlines()
    marked = [f"# {title}"]
    for number, line in enumerate(lines):
        if _text_heading(lines, number):
            marked.append(f"## {line.strip()}")
        elif RULE.match(line):
            marked.append("")
        else:
            marked.append(re.sub(r"^(\s*)#", r"\1\\#", line))  # a "#" in plain text is no heading
    return markdown_chunks(source, "\n".join(marked), title)


def decode_text(source: str, data: bytes) -> str:
    """The UTF-8 text of a document (a byte-order mark is dropped); binary or undecodable data is refused."""
    if b"\x00" in data:
        raise _invalid(source, "binary data (NUL bytes) in a text document")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid(source, f"not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None


def _markdown(source: str, data: bytes, title: str = "") -> list[Chunk]:
    return markdown_chunks(source, decode_text(source, data), title)


def _text(source: str, data: bytes, title: str = "") -> list[Chunk]:
    return text_chunks(source, decode_text(source, data), title)


class _HtmlText(HTMLParser):
    """HTML as Markdown-ish text: headings become `#` lines, blocks become paragraphs, scripts vanish."""

    BLOCKS = {"p", "div", "li", "tr", "br", "section", "article", "table", "ul", "ol", "dd", "dt"}
    SKIP = {"script", "style", "head", "nav", "footer", "template"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self._skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skipping += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.lines += ["", "#" * int(tag[1]) + " "]
        elif tag in self.BLOCKS:
            self.lines += ["", "- " if tag == "li" else ""]

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif re.fullmatch(r"h[1-6]", tag) or tag in self.BLOCKS:
            self.lines += ["", ""]

    def handle_data(self, data):
        if not self._skipping:
            words = " ".join(data.split())
            lead = " " if data[:1].isspace() else ""
            trail = " " if data[-1:].isspace() and words else ""
            self.lines[-1] += lead + words + trail


def _html(source: str, data: bytes, title: str = "") -> list[Chunk]:
    reader = _HtmlText()
    try:
        reader.feed(decode_text(source, data))
        reader.close()
    except AssertionError as exc:  # html.parser's way of refusing markup it cannot follow
        raise _invalid(source, f"unreadable HTML ({exc})") from None
    return markdown_chunks(source, "\n".join(" ".join(line.split()) for line in reader.lines), title)


def _pdf(source: str, data: bytes, title: str = "") -> list[Chunk]:
    """A PDF's text layer, page by page, headed "name, page N"; a scanned PDF has none and is refused."""
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise _invalid(source, "the PDF is encrypted; save an unprotected copy")
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:  # pypdf's ways of meeting a broken file
        raise _invalid(source, f"unreadable PDF ({exc})") from None
    title = (reader.metadata.title if reader.metadata and reader.metadata.title else "") or title or Path(source).stem
    chunks = []
    for number, text in enumerate(pages, start=1):
        heading = title if len(pages) == 1 else f"{title}, page {number}"
        chunks += [Chunk(source, heading, piece) for piece in pieces(text)]
    return chunks


PARSERS: dict[str, Callable[[str, bytes, str], list[Chunk]]] = {
    ".md": _markdown, ".markdown": _markdown, ".txt": _text, ".html": _html, ".htm": _html, ".pdf": _pdf}
"""A parser per file suffix: (source name, file bytes, title for text under no heading) -> passages."""


def parse_document(source: str, data: bytes, title: str = "") -> list[Chunk]:
    """The passages of a document's bytes, parsed by its suffix; a malformed one raises `knowledge-document-invalid`.
    Text under no heading of its own is headed `title` (what the document is called; the file name unless given)."""
    parser = PARSERS.get(Path(source).suffix.lower())
    if parser is None:
        raise _invalid(source, f"no parser for {Path(source).suffix or 'files without a suffix'} "
                               f"(known: {', '.join(sorted(PARSERS))})")
    chunks = parser(source, data, title)
    if not chunks:
        raise _invalid(source, "no text in it")
    return chunks


TITLES = ".documents.json"
"""In a knowledge folder: {file name: {"title": what the document is called, ...}} for documents stored under
generated names (the panel's uploads); hidden, so never indexed itself."""


def titles(folder: Path) -> dict[str, str]:
    """File name → title from the folder's TITLES file; none, or an unreadable one, gives no titles."""
    try:
        about = json.loads((Path(folder) / TITLES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(about, dict):
        return {}
    named = {}
    for name, entry in about.items():
        if isinstance(entry, dict) and entry.get("title"):
            title = Path(str(entry["title"]).replace("\\", "/")).name  # "Returns policy.txt" → "Returns policy"
            named[name] = Path(title).stem if Path(title).suffix.lower() in PARSERS else title
    return named


def read_document(path: Path, source: str | None = None) -> list[Chunk]:
    """The passages of the file at `path`, named `source` (the file name unless given)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _invalid(str(path), f"cannot be read ({exc.strerror})") from exc
    return parse_document(source or path.name, data)


def plain(text: str) -> str:
    """A section's Markdown as plain words (its headings are the parser's): no emphasis, code marks or link syntax,
    and each table row as a sentence that names its columns ("Basic: Price $10, Calls 100.")."""
    lines, header, previous = [], [], None  # previous: the cells of the table row just before, if it was one
    for line in text.split("\n"):
        stripped = line.strip()
        if not (stripped.startswith("|") or stripped.count("|") >= 2):
            lines.append(line)
            header, previous = [], None
            continue
        cells = [cell.strip() for cell in stripped.strip("|").split("|")]
        if previous is not None and all(re.fullmatch(r":?-{2,}:?", cell) for cell in cells if cell):
            header = previous  # the row above the rule names the columns
            lines.pop()
            previous = None
            continue
        if header and len(header) == len(cells):
            named = [f"{name} {value}" if name else value for name, value in zip(header[1:], cells[1:]) if value]
            lines.append(f"{cells[0]}: {', '.join(named)}." if named else f"{cells[0]}.")
        else:
            lines.append(", ".join(cell for cell in cells if cell) + ".")
        previous = cells
    text = "\n".join(lines)
    text = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r"\1 (\2)", text)
    text = re.sub(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<![\w_])_(?=\S)([^_]+?)(?<=\S)_(?![\w_])", r"\1", text)
    return re.sub(r"`([^`]*)`", r"\1", text)
