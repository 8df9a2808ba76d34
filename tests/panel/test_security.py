"""The panel on a shared LAN: no page or API without a login, no form without its token, no script from data."""

from __future__ import annotations

import pytest

from appliance.records.models import Agent, AuditLog, Callback, Lead, Outbox, Ticket

PUBLIC = {("GET", "/health"), ("GET", "/login"), ("POST", "/login")}
SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def routes(client) -> list[tuple[str, str]]:
    """Every (method, path) the app answers, with {id} filled in; the static folder aside."""
    found = []
    for route in client.server.app.router.routes():
        info = route.resource.get_info()
        if "directory" in info or route.method == "HEAD":
            continue
        path = info.get("path") or info["formatter"].replace("{id}", "1")
        found.append((route.method, path))
    return found


def seed_one_of_each(panel):
    panel.seed_call()
    panel.seed_message()
    Callback.create(phone="+15551230001", at="2030-01-01T10:00:00+00:00", at_utc="2030-01-01T10:00:00+00:00")
    Ticket.create(issue_type="damaged", description="broken screen")
    Agent.create(name="John", expertise=["technical"])
    Lead.create(phone="+15551230001", name="Jane")


async def test_every_route_but_health_and_login_refuses_an_anonymous_request(client, panel):
    seed_one_of_each(panel)
    checked = routes(client)
    assert len(checked) >= 20 and ("GET", "/calls/1") in checked and ("POST", "/outbox/1/retry") in checked
    form = await (await client.get("/login")).text()
    for method, path in checked:
        if (method, path) in PUBLIC:
            continue
        # Even with the anonymous session's own valid token: being signed in comes first.
        data = {"csrf": panel.csrf_of(form), "status": "away"} if method == "POST" else None
        response = await client.request(method, path, allow_redirects=False, data=data)
        if path.startswith("/api/") or path == "/events":
            assert response.status == 401, (method, path)
        else:
            assert response.status == 302, (method, path)
            assert response.headers["Location"].startswith("/login"), (method, path)
    assert Outbox.get().state == "failed" and Ticket.get().status == "open" and Agent.get().status == "available"
    assert Callback.get().state == "scheduled"


async def test_health_answers_without_a_login(client, panel):
    panel.seed_message(state="queued", key="q1")
    response = await client.get("/health")
    report = await response.json()
    assert response.status == 200 and report["ok"] is True and report["database"] is True
    assert report["queue_depth"] == 1 and report["disk_free_bytes"] > 0


async def test_the_static_files_are_only_the_stylesheet_and_the_script(client, panel):
    assert (await client.get("/static/panel.css")).status == 200
    assert (await client.get("/static/panel.js")).status == 200
    assert (await client.get("/static/../auth.py", allow_redirects=False)).status in (302, 403, 404)


async def test_a_right_password_signs_in_and_a_wrong_one_is_refused(client, panel):
    wrong = await panel.log_in(client, password="not it", status=401)
    assert "Wrong name or password" in await wrong.text()
    assert (await client.get("/outbox", allow_redirects=False)).status == 302
    unknown = await panel.log_in(client, name="mallory", password=panel.PASSWORD, status=401)
    assert "Wrong name or password" in await unknown.text()
    await panel.log_in(client)
    assert (await client.get("/outbox", allow_redirects=False)).status == 200
    assert AuditLog.select().where(AuditLog.who == "alice", AuditLog.what.startswith("signed in")).exists()


async def test_the_session_cookie_is_httponly_and_samesite_strict(client, panel):
    form = await client.get("/login")
    response = await client.post("/login", allow_redirects=False, data={"csrf": panel.csrf_of(await form.text()),
                                 "name": "alice", "password": panel.PASSWORD, "next": "//evil.example/"})
    assert response.status == 303 and response.headers["Location"] == "/"  # no open redirect
    cookie = response.cookies["panel_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and int(cookie["max-age"]) == 12 * 3600
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


async def test_signing_out_ends_the_session(admin, panel):
    page = await (await admin.get("/outbox")).text()
    await admin.post("/logout", data={"csrf": panel.csrf_of(page)})
    assert (await admin.get("/outbox", allow_redirects=False)).status == 302


async def test_a_cookie_replayed_after_signing_out_is_refused(admin, panel):
    from appliance.records.models import AuditLog

    cookie = admin.session.cookie_jar.filter_cookies(admin.make_url("/"))["panel_session"].value
    page = await (await admin.get("/outbox")).text()
    await admin.post("/logout", data={"csrf": panel.csrf_of(page)})
    admin.session.cookie_jar.clear()
    replayed = await admin.get("/outbox", allow_redirects=False, headers={"Cookie": f"panel_session={cookie}"})
    assert replayed.status == 302 and "/login" in replayed.headers["Location"]
    api = await admin.get("/api/live", headers={"Cookie": f"panel_session={cookie}"})
    assert api.status == 401
    assert AuditLog.select().where((AuditLog.who == "alice") & (AuditLog.what == "signed out")).exists()


async def test_login_is_refused_after_five_wrong_passwords_from_one_address(client, clock, panel):
    for _ in range(5):
        await panel.log_in(client, password="guess", status=401)
    blocked = await panel.log_in(client, status=429)  # the right password too, while the address is held back
    assert "Too many wrong passwords" in await blocked.text() and int(blocked.headers["Retry-After"]) > 0
    assert (await client.get("/outbox", allow_redirects=False)).status == 302
    clock.now += 301
    await panel.log_in(client)
    assert (await client.get("/outbox", allow_redirects=False)).status == 200


def _post_routes(client) -> list[str]:
    return [path for method, path in routes(client) if method == "POST"]


@pytest.mark.parametrize("token", [None, "", "forged-token"])
async def test_a_form_without_this_sessions_token_is_refused(admin, token, panel):
    seed_one_of_each(panel)
    paths = _post_routes(admin)
    assert {"/outbox/1/retry", "/outbox/1/cancel", "/callbacks/1/cancel", "/tickets/1/close", "/agents/1/status",
            "/logout", "/login"} <= set(paths)
    for path in paths:
        data = {"status": "away", "name": "alice", "password": panel.PASSWORD}
        if token is not None:
            data["csrf"] = token
        response = await admin.post(path, data=data, allow_redirects=False)
        assert response.status == 403, path
    assert Outbox.get().state == "failed" and Ticket.get().status == "open" and Agent.get().status == "available"
    assert Callback.get().state == "scheduled"
    assert not AuditLog.select().where(AuditLog.what.contains("outbox")).exists()


async def test_another_sessions_token_is_refused(admin, settings, records, clock, panel):
    from aiohttp.test_utils import TestClient, TestServer

    from appliance.panel.app import make_app

    panel.seed_message()
    async with TestClient(TestServer(make_app(settings, clock=clock))) as other:
        await panel.log_in(other)
        foreign = panel.csrf_of(await (await other.get("/outbox")).text())
    response = await admin.post("/outbox/1/retry", data={"csrf": foreign}, allow_redirects=False)
    assert response.status == 403 and Outbox.get().state == "failed"


async def test_a_script_in_the_data_is_shown_as_text(admin, panel):
    Lead.create(phone="+15550000000", name=SCRIPT, quality="hot")
    call = panel.seed_call(caller=SCRIPT, heard=SCRIPT)
    panel.seed_message(recipient=SCRIPT, error=SCRIPT)
    Ticket.create(issue_type="damaged", description=SCRIPT)
    Agent.create(name=SCRIPT, expertise=[SCRIPT])
    Callback.create(phone=SCRIPT, reason=SCRIPT, at="2030-01-01T10:00:00+00:00", at_utc="2030-01-01T10:00:00+00:00")
    for path in ("/leads", f"/calls/{call.id}", "/calls", "/outbox", "/tickets", "/agents", "/callbacks",
                 f"/calls?q={SCRIPT}"):
        text = await (await admin.get(path)).text()
        assert SCRIPT not in text and ESCAPED in text, path

