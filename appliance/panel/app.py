"""The panel's web app: sessions, CSRF and the login limit as middleware, the routes, and `serve`.

Every route needs a logged-in admin except `GET /health`, the login form and the static files (the
stylesheet the login form needs; no data). Anonymous requests to a page are sent to /login (302), to an
API (`/api/...`, `/events`) refused with 401; a POST without this session's CSRF token gets 403, and one whose
form cannot be read (not UTF-8, a broken multipart body) gets 400. Database work runs on one thread of its own
(one connection, one writer), never on the event loop.
"""

from __future__ import annotations

import logging
import ssl
import time
from datetime import datetime, timezone
from pathlib import Path

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from appliance.errors import ApplianceError
from appliance.panel import editor, health, knowledge, pages, testcalls
from appliance.panel.auth import LoginLimiter, Sessions, panel_key, session_live
from appliance.panel.context import NEW_SESSION, PANEL, SESSION, Panel, Records
from appliance.panel.events import EventRelay
from appliance.settings import Settings

log = logging.getLogger("appliance.panel")

COOKIE = "panel_session"
ANONYMOUS_S = 3600.0
STATIC = Path(__file__).with_name("static")
# What aiohttp raises for a body it cannot read as a form: bytes that are not in its charset (UnicodeDecodeError
# is a ValueError) or a charset Python lacks (LookupError); a broken multipart body (ValueError), one that names a
# transfer encoding aiohttp lacks (RuntimeError) or has a malformed part header; a body whose compression is broken.
UNREADABLE_FORM = (ValueError, LookupError, RuntimeError, HttpProcessingError, web.RequestPayloadError)
OPEN = {("GET", "/health"), ("GET", "/login"), ("POST", "/login"), ("HEAD", "/health"), ("HEAD", "/login")}
HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                      "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
           "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
           "Cache-Control": "no-store"}


def _is_api(path: str) -> bool:
    return path.startswith("/api/") or path == "/events"


@web.middleware
async def security_headers(request: web.Request, handler):
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if isinstance(response, web.HTTPException):
        raise response
    return response


@web.middleware
async def sessions(request: web.Request, handler):
    """Find the visitor's session (or start an anonymous one); refuse the anonymous, check every form's token."""
    panel = request.app[PANEL]
    now = panel.clock()
    session = panel.sessions.load(request.cookies.get(COOKIE), now)
    if session and session.admin and not await panel.records.run(session_live, session):
        session = None  # the admin was removed, set a new password or signed this session out: the cookie is void
    fresh = session is None
    if fresh:
        session = panel.sessions.new("", now, ANONYMOUS_S)
    request[SESSION] = session
    public = (request.method, request.path) in OPEN or request.path.startswith("/static/")
    if not public and not session.admin:
        if _is_api(request.path):
            response = web.json_response({"error": "login required"}, status=401)
        else:
            query = {"next": request.rel_url.raw_path_qs} if request.method == "GET" else {}  # as sent: ASCII
            response = pages.redirect(str(request.app.router["login"].url_for().with_query(query)), 302)
        if fresh:
            _set_cookie(response, panel, session)
        return response
    if request.method == "POST":
        form = await read_form(request)
        if not panel.sessions.csrf_ok(session, form.get("csrf")):
            raise web.HTTPForbidden(text="The form's security token is missing or out of date; reload the page.")
    response = await handler(request)
    if NEW_SESSION in request:
        _set_cookie(response, panel, request[NEW_SESSION])
    elif fresh:
        _set_cookie(response, panel, session)
    return response


async def read_form(request: web.Request):
    """The POST's form, read once here (the handlers get it again from aiohttp's cache); a body that is not a
    form aiohttp can read is the client's mistake: 400, not a crash."""
    try:
        return await request.post()
    except UNREADABLE_FORM as exc:
        raise web.HTTPBadRequest(text=f"The form could not be read: {exc}") from None


def _set_cookie(response, panel: Panel, session) -> None:
    response.set_cookie(COOKIE, panel.sessions.dump(session), max_age=max(int(session.expires - panel.clock()), 0),
                        path="/", httponly=True, samesite="Strict", secure=panel.tls)


def make_app(settings: Settings, clock=time.time, now=None, tls: bool = False, config=None) -> web.Application:
    """The panel for these settings, loaded from the file `config` (None: the one in force, see
    settings.config_path); `clock` (epoch seconds) and `now` (an aware datetime) are for tests."""
    upload_bytes = int(settings.panel.upload_max_mb * 1024 * 1024) + 64 * 1024  # the file and the form around it
    app = web.Application(middlewares=[security_headers, sessions], client_max_size=max(256 * 1024, upload_bytes))
    data_dir = settings.paths.data_dir
    panel = app[PANEL] = Panel(settings, clock, now or (lambda: datetime.now(timezone.utc)), tls,
                               Sessions(panel_key(data_dir)),
                               LoginLimiter(settings.panel.login_failures, settings.panel.login_window_s),
                               Records(data_dir / "appliance.db"), EventRelay(data_dir / "events.sock"))

    async def lifetime(app):
        await panel.records.open()
        await panel.relay.start()
        yield
        await panel.relay.close()
        await panel.records.close()

    async def stop_streams(app):
        await panel.relay.close()  # the live pages' streams end, so shutting down does not wait on them

    app.cleanup_ctx.append(lifetime)
    app.on_shutdown.append(stop_streams)
    pages.add_routes(app)
    knowledge.setup(app, settings)
    testcalls.setup(app, settings)
    health.setup(app, settings)
    editor.setup(app, config, data_dir)
    app.router.add_static("/static/", STATIC, append_version=False)
    return app


def parse_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::]:8080` for IPv6) → (host, port)."""
    host, sep, port = listen.strip().rpartition(":")
    if not sep or not port.isdigit():
        raise ApplianceError("panel-listen-invalid", f"{listen!r}: the panel listens on HOST:PORT, e.g. 0.0.0.0:8080")
    return host.strip("[]") or "0.0.0.0", int(port)


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """HTTPS when [panel] certificate and key are both set."""
    certificate, key = settings.panel.certificate, settings.panel.key
    if not certificate and not key:
        return None
    if not (certificate and key):
        raise ApplianceError("panel-tls-incomplete", "set both [panel] certificate and key, or neither")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certificate, key)
    except (OSError, ssl.SSLError) as exc:
        raise ApplianceError("panel-tls-invalid", f"{certificate} / {key}: {exc}") from None
    return context


def serve(settings: Settings, listen: str, say=print, config=None) -> int:
    """Serve the panel until SIGINT or SIGTERM."""
    host, port = parse_listen(listen)
    context = tls_context(settings)
    scheme = "https" if context else "http"
    say(f"panel: {scheme}://{host}:{port}/ (events from {settings.paths.data_dir / 'events.sock'})")
    web.run_app(make_app(settings, tls=context is not None, config=config), host=host, port=port, ssl_context=context,
                print=None, shutdown_timeout=5)
    return 0
