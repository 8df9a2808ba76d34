"""Issue 17, finding 6, as attacks on the admin panel: the login limit holds against a burst of guesses and a
restart, a new password signs out the sessions made with the old one, `next` cannot send a browser off the box,
and no input the attacker found gives a 500.

Each test drives the real aiohttp app in process on a temporary data dir, as tests/panel does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest
from aiohttp.test_utils import TestClient, TestServer

from appliance.panel.app import make_app
from appliance.panel.auth import add_admin
from appliance.records.models import Callback, Outbox
from panel.conftest import PASSWORD, csrf_of, log_in, seed_message
from panel.conftest import admin, client, clock, records, settings  # noqa: F401  (fixtures)

OFF_THE_BOX = ("/\t/evil.example", "//evil.example", "https://evil.example", "/\\evil.example",
               "/\n/evil.example", " //evil.example", "/\r\nSet-Cookie: panel_session=x")
TOO_BIG = "99999999999999999999999"  # a row number SQLite cannot hold


def _paths(app, method: str) -> list[str]:
    """Every path the app answers to `method` ({id} left in), the static folder aside."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info()
        if route.method == method and "directory" not in info:
            found.append(info.get("path") or info["formatter"])
    return found


def _cookie(client) -> str:
    return client.session.cookie_jar.filter_cookies(client.make_url("/"))["panel_session"].value


def _errors(caplog) -> list[str]:
    """What the server logged as an error (aiohttp logs every unhandled exception, the 500s)."""
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


# ---- the login limit ------------------------------------------------------------------------------------

async def test_forty_guesses_at_once_get_only_the_limits_tries(client, settings):
    limit = settings.panel.login_failures
    token = csrf_of(await (await client.get("/login")).text())

    async def guess(number: int) -> int:
        response = await client.post("/login", allow_redirects=False, data={
            "csrf": token, "name": "alice", "password": f"guess {number}", "next": "/"})
        return response.status

    answers = await asyncio.gather(*(guess(number) for number in range(40)))
    assert answers.count(401) == limit and answers.count(429) == 40 - limit  # only `limit` reached the password
    blocked = await log_in(client, status=429)  # the right password too, within the window
    assert "Too many wrong passwords" in await blocked.text() and int(blocked.headers["Retry-After"]) > 0
    assert (await client.get("/outbox", allow_redirects=False)).status == 302


async def test_the_login_limit_survives_a_restart(settings, records, clock):
    async with TestClient(TestServer(make_app(settings, clock=clock))) as before:
        for _ in range(settings.panel.login_failures):
            await log_in(before, password="guess", status=401)
    async with TestClient(TestServer(make_app(settings, clock=clock))) as after:  # the panel, restarted
        await log_in(after, status=429)
        clock.now += settings.panel.login_window_s + 1
        await log_in(after)
        assert (await after.get("/outbox", allow_redirects=False)).status == 200


# ---- a new password -------------------------------------------------------------------------------------

async def test_a_new_password_signs_out_every_session_made_with_the_old_one(admin, settings, records, clock):
    stolen = _cookie(admin)
    async with TestClient(TestServer(make_app(settings, clock=clock))) as laptop:  # alice's other browser
        await log_in(laptop)
        add_admin("alice", "a new password")  # what `appliance panel add-admin alice` does
        for browser in (admin, laptop):
            response = await browser.get("/outbox", allow_redirects=False)
            assert response.status == 302 and response.headers["Location"].startswith("/login")
    admin.session.cookie_jar.clear()
    replayed = await admin.get("/api/live", headers={"Cookie": f"panel_session={stolen}"})
    assert replayed.status == 401
    await log_in(admin, status=401)  # the old password
    await log_in(admin, password="a new password")
    assert (await admin.get("/outbox", allow_redirects=False)).status == 200


# ---- `next` ---------------------------------------------------------------------------------------------

async def test_next_after_login_stays_on_the_box(client):
    for target in OFF_THE_BOX:
        client.session.cookie_jar.clear()
        form = await (await client.get("/login", params={"next": target})).text()
        assert 'name="next" value="/"' in form, repr(target)
        response = await client.post("/login", allow_redirects=False, data={
            "csrf": csrf_of(form), "name": "alice", "password": PASSWORD, "next": target})
        assert response.status == 303 and response.headers["Location"] == "/", repr(target)
        signed_in = await client.get("/login", params={"next": target}, allow_redirects=False)
        assert signed_in.status == 302 and signed_in.headers["Location"] == "/", repr(target)


async def test_a_page_asked_for_before_login_is_where_login_leads(client):
    asked = await client.get("/calls?q=Jane%20Doe", allow_redirects=False)
    form = await (await client.get(asked.headers["Location"])).text()
    response = await client.post("/login", allow_redirects=False, data={
        "csrf": csrf_of(form), "name": "alice", "password": PASSWORD, "next": "/calls?q=Jane%20Doe"})
    assert 'value="/calls?q=Jane%20Doe"' in form and response.headers["Location"] == "/calls?q=Jane%20Doe"


# ---- inputs that gave a 500 -----------------------------------------------------------------------------

FORM = "application/x-www-form-urlencoded"
PART = b'--x\r\nContent-Disposition: form-data; name="csrf"\r\n'
UNREADABLE = {  # what aiohttp cannot read as a form: (body, its headers); {token} is this session's token
    "not UTF-8": (b"csrf={token}&status=\xff", {"Content-Type": FORM}),
    "an unknown charset": (b"csrf={token}", {"Content-Type": FORM + "; charset=nope"}),
    "multipart without a boundary": (b"--x\r\n", {"Content-Type": "multipart/form-data"}),
    "multipart that is not": (b"garbage", {"Content-Type": "multipart/form-data; boundary=x"}),
    "a part without a name": (b"--x\r\n\r\n{token}\r\n--x--\r\n", {"Content-Type": "multipart/form-data; boundary=x"}),
    "an unknown transfer encoding": (PART + b"Content-Transfer-Encoding: rot13\r\n\r\n{token}\r\n--x--\r\n",
                                     {"Content-Type": "multipart/form-data; boundary=x"}),
}


@pytest.mark.parametrize("body, headers", UNREADABLE.values(), ids=list(UNREADABLE))
async def test_a_form_that_cannot_be_read_is_a_400_on_every_route(admin, body, headers, caplog):
    seed_message()
    token = csrf_of(await (await admin.get("/outbox")).text())
    for path in _paths(admin.server.app, "POST"):
        response = await admin.post(path.replace("{id}", "1"), data=body.replace(b"{token}", token.encode()),
                                    headers=headers, allow_redirects=False)
        assert response.status == 400 and "could not be read" in await response.text(), path
    assert not _errors(caplog) and Outbox.get().state == "failed"
    assert (await admin.get("/outbox", allow_redirects=False)).status == 200  # still signed in


async def test_a_body_whose_compression_is_broken_is_a_400(admin):
    """Sent by hand: aiohttp answers 400 and then drops the connection (it drains the rest and fails again)."""
    token = csrf_of(await (await admin.get("/outbox")).text())
    body = f"csrf={token}".encode()
    reader, writer = await asyncio.open_connection(admin.server.host, admin.server.port)
    writer.write(b"POST /outbox/1/retry HTTP/1.1\r\nHost: panel\r\nCookie: panel_session=%s\r\nContent-Type: %s\r\n"
                 b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
                 % (_cookie(admin).encode(), FORM.encode(), len(body), body))
    try:
        answer = await asyncio.wait_for(reader.read(4096), 10)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 400 ") and b"could not be read" in answer, answer


async def test_a_csrf_token_that_is_not_ascii_is_a_403_on_every_route(admin, caplog):
    seed_message()
    for path in _paths(admin.server.app, "POST"):
        response = await admin.post(path.replace("{id}", "1"), data={"csrf": "jeton-é"}, allow_redirects=False)
        assert response.status == 403, path
    assert not _errors(caplog) and Outbox.get().state == "failed"


async def test_a_row_number_too_big_for_the_database_is_a_404(admin, caplog):
    token = csrf_of(await (await admin.get("/outbox")).text())
    paths = [("GET", path) for path in _paths(admin.server.app, "GET") if "{id}" in path]
    paths += [("POST", path) for path in _paths(admin.server.app, "POST") if "{id}" in path]
    assert ("GET", "/calls/{id}") in paths and ("POST", "/outbox/{id}/retry") in paths
    for method, path in paths:
        response = await admin.request(method, path.replace("{id}", TOO_BIG), allow_redirects=False,
                                       data={"csrf": token, "status": "away"} if method == "POST" else None)
        assert response.status == 404, (method, path)
    assert not _errors(caplog)


async def test_a_callback_moved_to_the_end_of_the_calendar_is_a_400(settings, records, clock, caplog):
    west = dataclasses.replace(settings, company=dataclasses.replace(settings.company, timezone="America/New_York"))
    Callback.create(phone="+15551230001", at="2030-01-01T10:00:00-05:00", at_utc="2030-01-01T15:00:00+00:00")
    async with TestClient(TestServer(make_app(west, clock=clock))) as browser:
        await log_in(browser)
        token = csrf_of(await (await browser.get("/callbacks")).text())
        response = await browser.post("/callbacks/1/reschedule", data={"csrf": token, "at": "9999-12-31T23:59"},
                                      allow_redirects=False)
        assert response.status == 400 and "YYYY-MM-DDTHH:MM" in await response.text()
    assert not _errors(caplog) and Callback.get().at_utc == "2030-01-01T15:00:00+00:00"
