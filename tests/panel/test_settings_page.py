"""The Settings page: an admin changes what the panel may change, checked by the INI file's own rules; the change
goes to the panel's file in the data folder and `settings.load()` gives it to the services."""

from __future__ import annotations

import html
import os
import re

import pytest
from aiohttp.test_utils import TestClient, TestServer

from appliance import settings as settings_module
from appliance.panel.app import make_app
from appliance.records.models import AuditLog


@pytest.fixture
def ini(tmp_path):
    path = tmp_path / "appliance.ini"
    path.write_text(f"[paths]\ndata_dir = {tmp_path}\n[company]\nname = Harbour Dental\ntimezone = Australia/Sydney\n"
                    "[smtp]\nhost = mail.harbour.example\nport = 25\n")
    return path


@pytest.fixture
def settings(ini):
    return settings_module.load(ini, environ={})


@pytest.fixture
async def admin(settings, records, clock, ini, panel, monkeypatch):
    for name in [name for name in os.environ if name.startswith("APPLIANCE_")]:
        monkeypatch.delenv(name)
    app = make_app(settings, clock=clock, config=ini)
    async with TestClient(TestServer(app)) as client:
        await panel.log_in(client)
        yield client


def value_of(page: str, name: str) -> str | None:
    found = re.search(rf'name="{re.escape(name)}" id="[^"]+" value="([^"]*)"', page)
    return html.unescape(found.group(1)) if found else None


async def form_of(client) -> tuple[str, dict]:
    """The settings page and its form as a browser would submit it, unchanged."""
    page = await (await client.get("/settings")).text()
    fields = {html.unescape(name): html.unescape(value)
              for name, value in re.findall(r'<input type="(?:text|hidden|password)" name="([^"]+)" id="[^"]+" '
                                            r'value="([^"]*)"', page)}
    fields["csrf"] = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    for name, block in re.findall(r'<select name="([^"]+)" id="[^"]+">(.*?)</select>', page):
        fields[name] = re.search(r'<option value="([^"]+)" selected>', block).group(1)
    return page, fields


async def test_the_page_shows_what_an_admin_may_change_and_not_the_folders_or_models(admin):
    page, fields = await form_of(admin)
    assert fields["company.name"] == "Harbour Dental" and fields["smtp.host"] == "mail.harbour.example"
    assert fields["company.timezone"] == "Australia/Sydney" and fields["recording.mode"] == "off"
    assert "line.sip_allow" in fields and "company.greeting" in fields and "knowledge.min_score" in fields
    assert not [name for name in fields if name.split(".")[0] in ("paths", "llm", "stt", "tts", "panel")]
    assert "vad.model" not in fields and "knowledge.model" not in fields


async def test_a_change_is_saved_in_the_panels_file_and_loaded_over_the_settings_file(admin, ini, tmp_path):
    page, fields = await form_of(admin)
    fields.update({"smtp.port": "587", "company.greeting": "Good day, you've reached {company}.",
                   "recording.mode": "notice"})
    response = await admin.post("/settings", data=fields, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/settings?saved=3"
    written = (tmp_path / settings_module.PANEL_FILE).read_text()
    assert "port = 587" in written and "mode = notice" in written
    assert "host" not in written  # only what differs from the settings file is kept
    loaded = settings_module.load(ini, environ={})
    assert (loaded.smtp.port, loaded.recording.mode) == (587, "notice")
    assert loaded.company.greeting == "Good day, you've reached {company}."
    audited = [row.what for row in AuditLog.select()]
    assert "changed [smtp] port: '25' → '587'" in audited, audited
    page = await (await admin.get("/settings?saved=3")).text()
    assert "Saved: 3 changes" in page and "changed in the panel (the file says &#x27;25&#x27;)" in page
    assert value_of(page, "smtp.port") == "587"


async def test_a_value_the_services_would_refuse_is_refused_and_nothing_is_saved(admin, ini, tmp_path):
    _, fields = await form_of(admin)
    await admin.post("/settings", data={**fields, "smtp.port": "587"})
    before = (tmp_path / settings_module.PANEL_FILE).read_text()
    _, fields = await form_of(admin)
    for name, bad, why in [("company.timezone", "Sydney", "IANA time zone"), ("smtp.port", "lots", "whole number"),
                           ("line.sip_allow", "10.0.0.0/8, pbx room", "CIDR"),
                           ("knowledge.min_score", "2", "between -1.0 and 1.0")]:
        response = await admin.post("/settings", data={**fields, name: bad})
        page = await response.text()
        assert response.status == 400, name
        section, key = name.split(".")
        assert f"[{section}] {key}" in page and why in page and "Nothing was saved" in page, page
        assert value_of(page, name) == bad  # shown again, to be corrected
        assert (tmp_path / settings_module.PANEL_FILE).read_text() == before
        assert "the form" in page and ".new" not in page
    assert not list(tmp_path.glob("*.new"))
    assert settings_module.load(ini, environ={}).smtp.port == 587


async def test_going_back_to_the_files_value_drops_the_change(admin, tmp_path):
    _, fields = await form_of(admin)
    await admin.post("/settings", data={**fields, "smtp.port": "587", "vad.end_silence_ms": "900"})
    _, fields = await form_of(admin)
    await admin.post("/settings", data={**fields, "smtp.port": "25"})
    written = (tmp_path / settings_module.PANEL_FILE).read_text()
    assert "end_silence_ms = 900" in written and "port" not in written


async def test_a_password_is_never_shown_and_a_blank_one_keeps_it(admin, ini):
    _, fields = await form_of(admin)
    await admin.post("/settings", data={**fields, "smtp.password": "s3cret-relay"})
    page, fields = await form_of(admin)
    assert "s3cret-relay" not in page and fields["smtp.password"] == ""
    assert 'placeholder="set; leave blank to keep it"' in page
    await admin.post("/settings", data={**fields, "smtp.port": "2525"})  # the password left blank
    loaded = settings_module.load(ini, environ={})
    assert (loaded.smtp.password, loaded.smtp.port) == ("s3cret-relay", 2525)
    audited = " ".join(row.what for row in AuditLog.select())
    assert "changed [smtp] password: (a new password)" in audited and "s3cret-relay" not in audited


async def test_a_setting_the_environment_decides_cannot_be_changed_here(admin, monkeypatch, tmp_path):
    monkeypatch.setenv("APPLIANCE_SMTP_HOST", "relay.from.env")
    page, fields = await form_of(admin)
    assert "set by APPLIANCE_SMTP_HOST in the environment" in page
    assert re.search(r'name="smtp.host" id="smtp.host" value="relay.from.env" disabled', page)
    await admin.post("/settings", data={**fields, "smtp.host": "elsewhere.example"})
    assert "elsewhere" not in (tmp_path / settings_module.PANEL_FILE).read_text()

