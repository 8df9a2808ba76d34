"""The knowledge and test call pages over HTTP, with the real index, embedder and reply model: uploads checked by
their bytes and stored under generated names, re-indexing with progress, a question tried, a test call scored."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import pytest

from appliance.records.models import AuditLog, Call

WAIT_S = 600.0  # the box may be busy: wait for conditions, never for a speed
SEED_DOC = "# Opening hours\n\nWe are open Monday to Friday from 9 AM to 6 PM.\n"
NEW_DOC = ("# Bicycle repairs\n\n## Puncture service\n\nA puncture is mended while you wait for 12 euros; "
           "bring the wheel to the workshop counter.\n")


@pytest.fixture
def settings(settings, tmp_path):
    folder = tmp_path / "knowledge"
    folder.mkdir()
    (folder / "opening-hours.md").write_text(SEED_DOC)
    return dataclasses.replace(settings, paths=dataclasses.replace(settings.paths, knowledge_dir=folder),
                               panel=dataclasses.replace(settings.panel, upload_max_mb=0.05))


async def _csrf(client, panel, path="/knowledge") -> str:
    return panel.csrf_of(await (await client.get(path)).text())


def multipart(fields: dict, file_field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    """A form as a browser sends it: the file's name as it was, in quotes (aiohttp's client would percent-encode it)."""
    boundary = "----panel-test-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
             for key, value in fields.items()]
    quoted = filename.replace('"', "%22")
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{quoted}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


async def _upload(client, panel, filename: str, data: bytes, action="/knowledge/upload", **fields):
    body, kind = multipart({"csrf": await _csrf(client, panel), **fields}, "document", filename, data)
    return await client.post(action, data=body, headers={"Content-Type": kind}, allow_redirects=False)


async def _indexed(client) -> dict:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        progress = await (await client.get("/api/knowledge")).json()
        if progress["state"] in ("done", "failed"):
            return progress
        await asyncio.sleep(0.5)
    raise AssertionError("the re-index never finished")


def _stored(settings) -> list[str]:
    return sorted(p.name for p in settings.paths.knowledge_dir.iterdir() if not p.name.startswith("."))


async def test_upload_indexes_a_document_that_a_question_then_finds(admin, panel, settings):
    response = await _upload(admin, panel, "Bike repairs.md", NEW_DOC.encode())
    assert response.status == 303 and response.headers["Location"] == "/knowledge"
    stored = [name for name in _stored(settings) if name != "opening-hours.md"]
    assert len(stored) == 1 and stored[0].startswith("doc-") and stored[0].endswith(".md")  # a generated name
    assert (settings.paths.knowledge_dir / stored[0]).read_text() == NEW_DOC
    progress = await _indexed(admin)
    assert progress["state"] == "done" and progress["done"] == progress["total"] == 2, progress
    page = await (await admin.get("/knowledge")).text()
    assert "Bike repairs.md" in page and stored[0] in page  # the original name is the title
    assert AuditLog.select().where((AuditLog.who == "alice") & AuditLog.what.contains("Bike repairs.md")).exists()

    form = {"csrf": panel.csrf_of(page), "question": "How much is it to fix a puncture?"}
    answer = await admin.post("/knowledge/ask", data=form)
    text = await answer.text()
    assert answer.status == 200, text
    assert "A puncture is mended while you wait" in text and 'class="score"' in text
    assert '<blockquote id="said">' in text and "Bicycle repairs" in text


async def test_replace_and_delete_keep_the_index_in_line(admin, panel, settings):
    await _upload(admin, panel, "hours.txt", b"Closed on Sundays.")
    await _indexed(admin)
    name = next(n for n in _stored(settings) if n.startswith("doc-"))
    response = await _upload(admin, panel, "hours-2027.txt", b"Open on Sundays from 10 to 4.",
                             action="/knowledge/replace", name=name)
    assert response.status == 303
    assert (settings.paths.knowledge_dir / name).read_text() == "Open on Sundays from 10 to 4."
    progress = await _indexed(admin)
    assert progress["state"] == "done" and "1 updated" in progress["report"], progress

    page = await (await admin.get("/knowledge")).text()
    response = await admin.post("/knowledge/delete", data={"csrf": panel.csrf_of(page), "name": name},
                                allow_redirects=False)
    assert response.status == 303 and name not in _stored(settings)
    progress = await _indexed(admin)
    assert "1 removed" in progress["report"], progress
    assert AuditLog.select().where(AuditLog.what.contains("deleted knowledge document 'hours-2027.txt'")).exists()
    missing = await admin.post("/knowledge/delete", data={"csrf": panel.csrf_of(page), "name": "../appliance.db"})
    assert missing.status == 404 and (settings.paths.data_dir / "appliance.db").exists()


@pytest.mark.parametrize("filename, data, status, says", [
    ("notes.md", b"\x7fELF\x02\x01\x01\x00" + bytes(64), 415, "binary file"),
    ("photo.md", b"\x89PNG\r\n\x1a\n" + bytes(64), 415, "binary file"),
    ("notes.txt", "caf\xe9".encode("latin-1"), 422, "not UTF-8"),
    ("manual.pdf", b"%PDF-1.7\nthis is not really a PDF at all", 422, "unreadable PDF"),
    ("report.pdf", b"# a heading, not a PDF", 415, "not a PDF"),
    ("page.html", b"just words, no markup", 415, "no HTML markup"),
    ("tool.exe", b"MZ\x90\x00", 415, "not a document"),
    ("big.md", b"x" * 60 * 1024, 413, "upload_max_mb"),
])
async def test_an_upload_that_is_not_a_good_document_is_refused_and_changes_nothing(admin, panel, settings,
                                                                                     filename, data, status, says):
    before = _stored(settings)
    response = await _upload(admin, panel, filename, data)
    assert response.status == status and says in await response.text()
    assert _stored(settings) == before
    assert (await (await admin.get("/api/knowledge")).json())["state"] == "idle"


async def test_a_script_in_a_document_title_is_shown_as_text(admin, panel):
    response = await _upload(admin, panel, "<script>alert(1)</script>.md", NEW_DOC.encode())
    assert response.status == 303
    page = await (await admin.get("/knowledge")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.md" in page and "<script>alert(1)" not in page, page[page.find("<tbody>"):][:600]


async def test_uploads_need_a_login_and_the_form_token(client, admin, panel, settings):
    import aiohttp

    body = aiohttp.FormData()
    body.add_field("document", NEW_DOC.encode(), filename="forged.md")
    response = await admin.post("/knowledge/upload", data=body, allow_redirects=False)
    assert response.status == 403
    admin.session.cookie_jar.clear()
    response = await _upload(admin, panel, "anonymous.md", NEW_DOC.encode())
    assert response.status == 302 and response.headers["Location"].startswith("/login")
    assert _stored(settings) == ["opening-hours.md"]


async def test_a_test_call_is_scored_and_touches_no_live_record(admin, panel, settings):
    calls_before = Call.select().count()
    page = await (await admin.get("/testcalls")).text()
    response = await admin.post("/testcalls", data={"csrf": panel.csrf_of(page), "caller": "+15551230001",
                                                    "lines": "What are your opening hours?\nNo, that's all. Goodbye!"},
                                allow_redirects=False)
    assert response.status == 303
    location = response.headers["Location"]
    number = location.rsplit("/", 1)[1]
    deadline = time.monotonic() + WAIT_S
    while (state := (await (await admin.get(f"/api/testcalls/{number}")).json())["state"]) == "running":
        assert time.monotonic() < deadline, "the test call never finished"
        await asyncio.sleep(1)
    text = await (await admin.get(location)).text()
    assert state == "done", text
    assert 'id="score"' in text and "checks passed" in text and "What are your opening hours?" in text
    assert "turn 0 greeting" in text and "Thank you for calling TechCorp" in text
    assert Call.select().count() == calls_before  # the call went to the scratch copy
    assert AuditLog.select().where(AuditLog.what.contains(f"ran test call {number}")).exists()


async def test_a_scenario_file_is_checked_kept_and_run(admin, panel, settings):
    import aiohttp

    scenario = {"name": "hours question", "now": "2030-01-07T10:00:00+00:00", "caller": None,
                "turns": [{"silence_ms": 2500, "expect": {"greeting": True}},
                          {"say": "When are you open?", "expect": {"used_knowledge": True}},
                          {"say": "Thanks, goodbye.", "expect": {"call_ends": True}}],
                "after": {"emails": [], "sms": []}}
    page = await (await admin.get("/testcalls")).text()
    bad = aiohttp.FormData()
    bad.add_field("csrf", panel.csrf_of(page))
    bad.add_field("scenario", b"\x89PNG\r\n", filename="scenario.json")
    response = await admin.post("/testcalls", data=bad)
    assert response.status == 400 and "not a scenario" in await response.text()

    body = aiohttp.FormData()
    body.add_field("csrf", panel.csrf_of(page))
    body.add_field("scenario", json.dumps(scenario).encode(), filename="../../hours.json")
    response = await admin.post("/testcalls", data=body, allow_redirects=False)
    assert response.status == 303
    kept = list((settings.paths.data_dir / "scenarios").glob("scenario-*.json"))
    assert len(kept) == 1 and not (settings.paths.data_dir.parent / "hours.json").exists()
    number = response.headers["Location"].rsplit("/", 1)[1]
    deadline = time.monotonic() + WAIT_S
    while (await (await admin.get(f"/api/testcalls/{number}")).json())["state"] == "running":
        assert time.monotonic() < deadline, "the test call never finished"
        await asyncio.sleep(1)
    text = await (await admin.get(f"/testcalls/{number}")).text()
    assert "turn 2 call_ends" in text and "checks passed" in text, text
    assert "hours question" in await (await admin.get("/testcalls")).text()  # it can be chosen again
