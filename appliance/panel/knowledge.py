"""The knowledge page: the documents of the knowledge base, uploads checked by content, re-indexing with its
progress, and a box to try a question against the index and the reply model.

Uploads are stored in `[paths] knowledge_dir` under generated names (`doc-<random>.md`); the name the admin's
file had is kept as its title in `knowledge_dir/.documents.json` (hidden, so never indexed). A document is
parsed before it is stored: one that is malformed is refused with the parser's reason and nothing changes.
Re-indexing runs on a thread of its own and reports counts, which the page polls from /api/knowledge.
The engines (the embedder and index, then the reply model) are loaded once per panel process, on first use.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

from aiohttp import web

from appliance import engines
from appliance.errors import ApplianceError
from appliance.knowledge.documents import PARSERS, TITLES, decode_text, parse_document
from appliance.panel.auth import audit
from appliance.panel.context import PANEL, SESSION
from appliance.panel.html import Markup, html, join
from appliance.panel.pages import _csrf, cells, local, page, redirect, table
from appliance.settings import Settings

MB = 1024 * 1024
METADATA = TITLES  # the uploads' titles, which the index heads their passages with
KINDS = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html", ".pdf": "pdf"}
STORED_SUFFIX = {"markdown": ".md", "text": ".txt", "html": ".html", "pdf": ".pdf"}
BINARY_MAGIC = (b"\x7fELF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"PK\x03\x04", b"MZ", b"%PDF-")
HTML_TAG = re.compile(rb"<\s*(!doctype|html|head|body|p|h[1-6]|div|ul|ol|li|table|section|article)\b", re.IGNORECASE)


def refused(code: str, why: str) -> ApplianceError:
    return ApplianceError(code, why)


def check_upload(filename: str, data: bytes, max_bytes: int) -> str:
    """The kind of an uploaded document (markdown, text, html, pdf), judged by its bytes as well as its name;
    anything else raises an ApplianceError saying why, and the upload is not kept."""
    if len(data) > max_bytes:
        raise refused("panel-upload-too-large", f"{len(data) / MB:.1f} MB is more than the "
                                                f"{max_bytes / MB:g} MB an upload may be ([panel] upload_max_mb)")
    if not data:
        raise refused("panel-upload-empty", "the file is empty")
    kind = KINDS.get(PurePosixPath(filename.replace("\\", "/")).suffix.lower())
    if kind is None:
        raise refused("panel-upload-type", f"{filename!r} is not a document the index reads "
                                           f"(Markdown, text, HTML or PDF: {', '.join(sorted(KINDS))})")
    if kind == "pdf":
        if not data.startswith(b"%PDF-"):
            raise refused("panel-upload-type", "named .pdf, but it is not a PDF (no %PDF- header)")
        return kind
    if data.startswith(BINARY_MAGIC):
        raise refused("panel-upload-type", f"named {PurePosixPath(filename).suffix}, but it is a binary file, "
                                           "not text")
    decode_text(filename, data)  # NUL bytes or bytes that are not UTF-8: knowledge-document-invalid
    if kind == "html" and not HTML_TAG.search(data[:65536]):
        raise refused("panel-upload-type", "named .html, but there is no HTML markup in it")
    return kind


@dataclass
class Progress:
    """Where the re-indexing stands, as the page shows it."""

    state: str = "idle"  # idle, running, done, failed
    done: int = 0
    total: int = 0
    report: str = ""
    failed: list = field(default_factory=list)
    error: str = ""
    finished_at: str = ""

    def count(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def to_dict(self) -> dict:
        return {"state": self.state, "done": self.done, "total": self.total, "report": self.report,
                "failed": [{"document": name, "why": why} for name, why in self.failed], "error": self.error,
                "finished_at": self.finished_at}


class Library:
    """The documents in the knowledge folder, with their titles and who uploaded them."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._lock = threading.Lock()

    def _metadata(self) -> dict:
        try:
            return json.loads((self.folder / METADATA).read_text())
        except (OSError, ValueError):
            return {}

    def _save(self, metadata: dict) -> None:
        temporary = self.folder / f".documents-{secrets.token_hex(4)}.tmp"
        temporary.write_text(json.dumps(metadata, indent=1, ensure_ascii=False))
        os.replace(temporary, self.folder / METADATA)

    def documents(self) -> list[dict]:
        """Every document the index reads (hidden files left out), with its title, size and who added it."""
        metadata = self._metadata()
        found = []
        if not self.folder.is_dir():
            return found
        for path in sorted(self.folder.rglob("*")):
            name = path.relative_to(self.folder).as_posix()
            if not path.is_file() or path.suffix.lower() not in PARSERS or any(
                    part.startswith(".") for part in PurePosixPath(name).parts):
                continue
            about = metadata.get(name, {})
            found.append({"name": name, "title": about.get("title") or name, "by": about.get("by", ""),
                          "at": about.get("at", ""), "bytes": path.stat().st_size})
        return found

    def find(self, name: str) -> dict | None:
        """A listed document by its stored name (so a name from a form can never point outside the folder)."""
        return next((document for document in self.documents() if document["name"] == name), None)

    def store(self, kind: str, data: bytes, title: str, who: str, replacing: str | None = None) -> str:
        """Write an upload under a generated name (the one it replaces keeps its stem); returns the name."""
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            stem = PurePosixPath(replacing).with_suffix("").as_posix() if replacing else f"doc-{secrets.token_hex(6)}"
            name = stem + STORED_SUFFIX[kind]
            temporary = self.folder / f".upload-{secrets.token_hex(6)}.tmp"
            temporary.write_bytes(data)
            os.replace(temporary, self.folder / name)
            metadata = self._metadata()
            if replacing and replacing != name:
                (self.folder / replacing).unlink(missing_ok=True)
                metadata.pop(replacing, None)
            metadata[name] = {"title": title, "by": who, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            self._save(metadata)
            return name

    def delete(self, name: str) -> None:
        with self._lock:
            (self.folder / name).unlink(missing_ok=True)
            metadata = self._metadata()
            if metadata.pop(name, None) is not None:
                self._save(metadata)


class Desk:
    """The panel's knowledge engines and jobs: re-indexing on one thread, questions on another."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.library = Library(settings.paths.knowledge_dir)
        self.progress = Progress()
        self._reindexer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="panel-reindex")
        self._asker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="panel-ask")
        self._load = threading.Lock()
        self._index = None
        self._responder = None
        self._warmed = None  # the system prompt the reply model was warmed with
        self._generation = 0  # bumped by every re-index: the reply model's prompt is then made again
        self._again = False

    def index(self):
        """The knowledge index (and its embedder), loaded on first use."""
        with self._load:
            if self._index is None:
                self._index = engines.knowledge_index(self.settings, engines.model_store(self.settings))
            return self._index

    def responder(self):
        with self._load:
            if self._responder is None:
                self._responder = engines.responder(self.settings, engines.model_store(self.settings))
            return self._responder

    def close(self) -> None:
        self._reindexer.shutdown(wait=True)
        self._asker.shutdown(wait=True)
        if self._index is not None:
            self._index.close()

    # ---- re-indexing ----

    def reindex(self) -> None:
        """Start re-indexing (from the event loop's thread); asked again while it runs, it runs once more."""
        if self.progress.state == "running":
            self._again = True
            return
        self.progress = Progress(state="running")
        self._reindexer.submit(self._reindex)

    def _reindex(self) -> None:
        while True:
            self._again = False
            progress = self.progress
            try:
                report = self.index().ingest(self.settings.paths.knowledge_dir, progress=progress.count)
            except ApplianceError as exc:
                progress.state, progress.error = "failed", str(exc)
            else:
                progress.report, progress.failed = str(report).splitlines()[0], list(report.failed)
                progress.state = "done"
                self._generation += 1
            progress.finished_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            if not self._again:
                return
            self.progress = Progress(state="running")

    # ---- trying a question ----

    async def ask(self, question: str) -> dict:
        return await asyncio.get_running_loop().run_in_executor(self._asker, self._ask, question)

    def _ask(self, question: str) -> dict:
        """What a caller asking `question` would get: every passage found with its score, and the reply as the
        call service composes it (the conversation, with the knowledge in the reply model's warm prompt)."""
        from appliance.dialogue.conversation import Conversation
        from appliance.dialogue.prompt import system_prompt, whole_knowledge

        settings, company = self.settings, self.settings.company
        index = self.index()
        found = index.search(question, k=settings.knowledge.top_k)
        responder = self.responder()
        knowledge = whole_knowledge(index, settings.knowledge.prompt_chars)
        prompt = system_prompt(company.name, knowledge)
        if self._warmed != (self._generation, prompt):
            responder.warm(prompt)
            self._warmed = (self._generation, prompt)
        zone = ZoneInfo(company.timezone)
        conversation = Conversation(company.name, index, responder, lambda: datetime.now(zone),
                                    country_code=company.country_code, knowledge=knowledge,
                                    **engines.conversation_options(settings))
        started = time.perf_counter()
        result = conversation.reply(question)
        return {"question": question, "min_score": settings.knowledge.min_score,
                "found": [{"source": p.source, "heading": p.heading, "text": p.text, "score": round(p.score, 3)}
                          for p in found],
                "used": [{"source": p.source, "heading": p.heading, "score": round(p.score, 3)} for p in result.passages],
                "reply": result.reply.to_dict(), "said": conversation.spoken(result.reply.immediate_response),
                "elapsed_ms": round((time.perf_counter() - started) * 1000)}


DESK = web.AppKey("knowledge_desk", Desk)


def _desk(request) -> Desk:
    return request.app[DESK]


def _who(request) -> str:
    return request[SESSION].admin


def _size(count: int) -> str:
    return f"{count / MB:.1f} MB" if count >= MB else f"{max(count // 1024, 1)} KB"


def _progress_html(progress: Progress) -> Markup:
    failed = join(html('<li>{d}: {why}</li>', d=d, why=why) for d, why in progress.failed)
    text = {"idle": "Not re-indexed since the panel started.", "running": f"Re-indexing: {progress.done} of "
            f"{progress.total} documents", "done": f"Indexed: {progress.report}",
            "failed": f"Re-indexing failed: {progress.error}"}[progress.state]
    return html('<div id="reindex" data-state="{state}"><progress id="reindex-bar" value="{done}" max="{total}">'
                '</progress> <span id="reindex-text">{text}</span><ul id="reindex-failed" class="error">{failed}</ul>'
                '</div>', state=progress.state, done=progress.done, total=max(progress.total, 1), text=text,
                failed=failed)


def _upload_form(request, action: str, label: str, name: str = "") -> Markup:
    hidden = html('<input type="hidden" name="name" value="{n}">', n=name) if name else ""
    return html('<form method="post" action="{action}" enctype="multipart/form-data" class="inline upload">'
                '<input type="hidden" name="csrf" value="{csrf}">{hidden}'
                '<input type="file" name="document" accept=".md,.markdown,.txt,.html,.htm,.pdf" required>'
                '<button type="submit">{label}</button></form>', action=action, csrf=_csrf(request),
                hidden=hidden, label=label)


def _post_button(request, action: str, label: str, name: str) -> Markup:
    return html('<form method="post" action="{action}" class="inline"><input type="hidden" name="csrf" '
                'value="{csrf}"><input type="hidden" name="name" value="{name}"><button type="submit">{label}'
                '</button></form>', action=action, csrf=_csrf(request), name=name, label=label)


def _ask_form(request, question: str = "") -> Markup:
    return html('<form method="post" action="/knowledge/ask" class="ask"><input type="hidden" name="csrf" '
                'value="{csrf}"><label>Question <input name="question" value="{q}" size="60" required></label>'
                '<button type="submit">Try it</button></form>', csrf=_csrf(request), q=question)


async def knowledge_page(request, note: Markup | str = "", status: int = 200, answer: Markup | str = "",
                         question: str = "") -> web.Response:
    desk = _desk(request)
    zone = ZoneInfo(request.app[PANEL].settings.company.timezone)
    documents = await asyncio.to_thread(desk.library.documents)
    rows = [cells(html('<span class="title">{t}</span>', t=d["title"]), d["name"], _size(d["bytes"]), d["by"],
                  local(d["at"], zone), join([_upload_form(request, "/knowledge/replace", "Replace", d["name"]),
                                              _post_button(request, "/knowledge/delete", "Delete", d["name"])]))
            for d in documents]
    alert = html('<p class="error" role="alert">{n}</p>', n=note) if note else ""
    body = html('{alert}<section><h2>Documents</h2>{table}<h3>Add a document</h3><p class="muted">Markdown, text, '
                'HTML or PDF, up to {max} MB. It is indexed at once.</p>{upload}</section>'
                '<section><h2>Index</h2>{progress}{reindex}</section>'
                '<section><h2>Try a question</h2>{ask}{answer}</section>'
                '<script src="/static/knowledge.js" defer></script>',
                alert=alert, table=table(("Title", "Stored as", "Size", "Uploaded by", "When", ""), rows,
                                         "No documents yet."),
                max=f"{request.app[PANEL].settings.panel.upload_max_mb:g}",
                upload=_upload_form(request, "/knowledge/upload", "Upload"), progress=_progress_html(desk.progress),
                reindex=html('<form method="post" action="/knowledge/reindex" class="inline"><input type="hidden" '
                             'name="csrf" value="{c}"><button type="submit">Re-index now</button></form>',
                             c=_csrf(request)),
                ask=_ask_form(request, question), answer=answer)
    return page(request, "Knowledge", body, status=status)


async def _upload(request, replacing: str | None):
    desk, form = _desk(request), await request.post()
    if replacing is not None:
        replacing = str(form.get("name", ""))
        if await asyncio.to_thread(desk.library.find, replacing) is None:
            raise web.HTTPNotFound(text="No such document.")
    field_ = form.get("document")
    if not isinstance(field_, web.FileField):
        return await knowledge_page(request, "Choose a file to upload.", status=400)
    filename = field_.filename or ""
    data = await asyncio.to_thread(field_.file.read)
    max_bytes = int(request.app[PANEL].settings.panel.upload_max_mb * MB)
    try:
        kind = check_upload(filename, data, max_bytes)
        suffix = STORED_SUFFIX[kind]
        await asyncio.to_thread(parse_document, f"{PurePosixPath(filename).stem or 'document'}{suffix}", data)
    except ApplianceError as exc:
        status = 413 if exc.code == "panel-upload-too-large" else 415 if exc.code == "panel-upload-type" else 422
        return await knowledge_page(request, f"{filename} was not added: {exc.message}", status=status)
    name = await asyncio.to_thread(desk.library.store, kind, data, filename, _who(request), replacing)
    what = (f"replaced knowledge document {replacing} with {filename!r} ({name})" if replacing
            else f"uploaded knowledge document {filename!r} as {name}")
    await request.app[PANEL].records.run(audit, _who(request), what)
    desk.reindex()
    return redirect("/knowledge")


async def upload(request):
    return await _upload(request, None)


async def replace(request):
    return await _upload(request, "")


async def delete(request):
    desk, form = _desk(request), await request.post()
    name = str(form.get("name", ""))
    document = await asyncio.to_thread(desk.library.find, name)
    if document is None:
        raise web.HTTPNotFound(text="No such document.")
    await asyncio.to_thread(desk.library.delete, name)
    await request.app[PANEL].records.run(audit, _who(request), f"deleted knowledge document {document['title']!r} "
                                                               f"({name})")
    desk.reindex()
    return redirect("/knowledge")


async def reindex(request):
    _desk(request).reindex()
    await request.app[PANEL].records.run(audit, _who(request), "re-indexed the knowledge base")
    return redirect("/knowledge")


async def api_progress(request):
    return web.json_response(_desk(request).progress.to_dict())


def answer_html(result: dict) -> Markup:
    """The passages a question found, with their scores, and what the appliance would say."""
    used = {(p["source"], p["heading"]) for p in result["used"]}
    rows = [html('<tr class="passage"><td class="score">{score:.2f}</td><td>{source}</td><td>{heading}</td>'
                 '<td>{text}</td><td>{mark}</td></tr>', score=p["score"], source=p["source"], heading=p["heading"],
                 text=p["text"], mark="used" if (p["source"], p["heading"]) in used
                 else ("below min_score" if p["score"] < result["min_score"] else ""))
            for p in result["found"]]
    reply = result["reply"]
    return html('<div id="answer"><h3>The appliance would say</h3><blockquote id="said">{said}</blockquote>'
                '<p class="muted">intent {intent}; from the knowledge base: {used}; hands over to a person: {esc}; '
                '{ms} ms</p><h3>Passages found</h3>{passages}<details><summary>Reply JSON</summary><pre>{json}</pre>'
                '</details></div>', said=result["said"], intent=reply["intent"],
                used="yes" if reply["used_knowledge"] else "no", esc="yes" if reply["escalate_to_human"] else "no",
                ms=result["elapsed_ms"],
                passages=table(("Score", "Document", "Section", "Passage", ""), rows, "No passage matches."),
                json=json.dumps(reply, indent=2, ensure_ascii=False))


async def ask(request):
    form = await request.post()
    question = " ".join(str(form.get("question", "")).split())[:500]
    if not question:
        return await knowledge_page(request, "Type a question to try.", status=400)
    try:
        result = await _desk(request).ask(question)
    except ApplianceError as exc:
        return await knowledge_page(request, f"The question could not be tried: {exc}", status=503,
                                    question=question)
    return await knowledge_page(request, answer=answer_html(result), question=question)


def setup(app: web.Application, settings: Settings) -> None:
    """The knowledge desk and its routes."""
    desk = app[DESK] = Desk(settings)

    async def close(app):
        await asyncio.to_thread(desk.close)

    app.on_cleanup.append(close)
    router = app.router
    router.add_get("/knowledge", knowledge_page)
    router.add_post("/knowledge/upload", upload)
    router.add_post("/knowledge/replace", replace)
    router.add_post("/knowledge/delete", delete)
    router.add_post("/knowledge/reindex", reindex)
    router.add_post("/knowledge/ask", ask)
    router.add_get("/api/knowledge", api_progress)
