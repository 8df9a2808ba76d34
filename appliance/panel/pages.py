"""The panel's pages and APIs: each handler reads on the database thread and renders with `html()`."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from aiohttp import web
from peewee import SQL, Case

from appliance.panel import changes, figures
from appliance.panel.auth import audit, check_login, revoke
from appliance.panel.chart import bar_chart
from appliance.panel.context import NEW_SESSION, PANEL, SESSION
from appliance.panel.html import Markup, html, join
from appliance.records.models import Admin, Agent, AuditLog, Call, Callback, CallStats, Lead, Outbox, Ticket, Turn
from appliance.recordings import store as recordings

NAV = (("/", "Live"), ("/calls", "Calls"), ("/outbox", "Outbox"), ("/callbacks", "Callbacks"),
       ("/tickets", "Tickets"), ("/leads", "Leads"), ("/agents", "Agents"), ("/knowledge", "Knowledge"),
       ("/testcalls", "Test calls"), ("/settings", "Settings"), ("/system", "Health"), ("/audit", "Audit log"))
LIST_LIMIT = 200
KEEPALIVE_S = 15.0
FIGURES = (("calls", "Calls"), ("response_ms", "Avg response (ms)"), ("knowledge", "Answered from knowledge"),
           ("resolved", "Resolved by the appliance"), ("escalations", "Escalations"),
           ("abandoned", "Callers who went quiet"), ("sms", "SMS sent"), ("emails", "Emails sent"),
           ("whatsapp", "WhatsApp sent"))
# How a call ended (Call.ended_by), in words; anything else is shown as it is stored.
ENDED_BY = {"caller": "caller hung up", "appliance": "appliance hung up", "silence": "caller went quiet",
            "voicemail": "reached voicemail", "transferred": "handed to a person", "line": "line ended it",
            "dropped": "network dropped it", "service-restart": "service restarted"}
QUALITY_ORDER = Case(Lead.quality, (("hot", 0), ("warm", 1), ("cold", 2)), 3)


# ---- layout ---------------------------------------------------------------------------------------------

def _csrf(request) -> str:
    return request.app[PANEL].sessions.csrf_token(request[SESSION])


def button(request, action: str, label: str, **fields) -> Markup:
    """A one-button form that POSTs to `action` with this session's CSRF token."""
    hidden = join(html('<input type="hidden" name="{k}" value="{v}">', k=k, v=v) for k, v in fields.items())
    return html('<form method="post" action="{action}" class="inline"><input type="hidden" name="csrf" '
                'value="{csrf}">{hidden}<button type="submit">{label}</button></form>',
                action=action, csrf=_csrf(request), hidden=hidden, label=label)


def page(request, title: str, body: Markup, status: int = 200, script: bool = False) -> web.Response:
    """The whole document: the navigation, who is signed in, and `body`."""
    admin = request[SESSION].admin
    nav = join(html('<a href="{href}"{current}>{label}</a>', href=href, label=label,
                    current=Markup(' aria-current="page"') if href == request.path else "")
               for href, label in NAV) if admin else Markup("")
    who = html('<span class="who">{admin}</span>{logout}', admin=admin,
               logout=button(request, "/logout", "Sign out")) if admin else Markup("")
    js = Markup('<script src="/static/panel.js" defer></script>') if script else Markup("")
    document = html('<!doctype html><html lang="en"><head><meta charset="utf-8">'
                    '<meta name="viewport" content="width=device-width, initial-scale=1">'
                    '<title>{title} · {company}</title><link rel="stylesheet" href="/static/panel.css">{js}</head>'
                    '<body><header><strong>{company}</strong><nav>{nav}</nav>{who}</header>'
                    '<main><h1>{title}</h1>{body}</main></body></html>',
                    title=title, company=request.app[PANEL].settings.company.name, js=js, nav=nav, who=who, body=body)
    return web.Response(text=document, content_type="text/html", status=status)


def redirect(location: str, status: int = 303) -> web.Response:
    """Go to `location` (303 after a form: the browser GETs it; 302 to the login form)."""
    return web.Response(status=status, headers={"Location": location})


def table(headings: tuple, rows: list[Markup], empty: str = "Nothing here.") -> Markup:
    if not rows:
        return html('<p class="empty">{empty}</p>', empty=empty)
    return html('<table><thead><tr>{heads}</tr></thead><tbody>{rows}</tbody></table>',
                heads=join(html("<th>{h}</th>", h=h) for h in headings), rows=join(rows))


def cells(*values) -> Markup:
    return html("<tr>{cells}</tr>", cells=join(html("<td>{v}</td>", v=v) for v in values))


def _zone(request) -> ZoneInfo:
    return ZoneInfo(request.app[PANEL].settings.company.timezone)


def local(stamp: str | None, zone: ZoneInfo) -> str:
    """A stored ISO 8601 time as the office reads it: 2025-06-01 14:05."""
    if not stamp:
        return ""
    try:
        return datetime.fromisoformat(stamp).astimezone(zone).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


def _db(request, function, *args, **kwargs):
    return request.app[PANEL].records.run(function, *args, **kwargs)


def _who(request) -> str:
    return request[SESSION].admin


def _id(request) -> int:
    """The row number in the path: digits that fit the database's integers (18 do), or 404."""
    text = request.match_info["id"]
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise web.HTTPNotFound(text="No such row: the address holds no row number where one goes.")
    return int(text)


def admin_exists(name: str) -> bool:
    return Admin.select().where(Admin.name == name).exists()


# ---- login ----------------------------------------------------------------------------------------------

def safe_next(target: str) -> str:
    """A path on this box to go back to after logging in; anything else becomes /. Browsers drop tabs and
    newlines from an address and read a backslash as a slash, so `/<tab>/host` and `/\\host` are `//host`,
    another site: a path starts with one slash and holds only printable ASCII, no space and no backslash."""
    local = (target.startswith("/") and not target.startswith("//") and "\\" not in target
             and all("!" <= char <= "~" for char in target))
    return target if local else "/"


def _login_form(request, error: str = "", status: int = 200, next_path: str = "/") -> web.Response:
    note = html('<p class="error" role="alert">{e}</p>', e=error) if error else Markup("")
    body = html('{note}<form method="post" action="/login" class="login"><input type="hidden" name="csrf" '
                'value="{csrf}"><input type="hidden" name="next" value="{next}">'
                '<label>Name <input name="name" autocomplete="username" required autofocus></label>'
                '<label>Password <input name="password" type="password" autocomplete="current-password" required>'
                '</label><button type="submit">Sign in</button></form>',
                note=note, csrf=_csrf(request), next=next_path)
    return page(request, "Sign in", body, status=status)


async def login_form(request):
    next_path = safe_next(request.query.get("next", "/"))
    if request[SESSION].admin:
        raise web.HTTPFound(next_path)
    return _login_form(request, next_path=next_path)


async def login(request):
    panel, form = request.app[PANEL], await request.post()
    address = request.remote or "unknown"
    next_path = safe_next(str(form.get("next", "/")))
    wait_s = await _db(request, panel.limiter.reserve, address, panel.clock())  # counted before it is checked
    if wait_s:
        minutes = max(1, round(wait_s / 60))
        response = _login_form(request, f"Too many wrong passwords from here; try again in {minutes} minute(s).",
                               status=429, next_path=next_path)
        response.headers["Retry-After"] = str(int(wait_s) + 1)
        return response
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    admin = await _db(request, check_login, name, password) if name and password else None
    if admin is None:
        return _login_form(request, "Wrong name or password.", status=401, next_path=next_path)
    await _db(request, panel.limiter.succeeded, address)
    await _db(request, audit, name, f"signed in from {address}")
    request[NEW_SESSION] = panel.sessions.new(name, panel.clock(), panel.settings.panel.session_hours * 3600,
                                              admin.session_generation)
    return redirect(next_path)


async def logout(request):
    panel, session = request.app[PANEL], request[SESSION]
    await _db(request, revoke, session, panel.clock())
    await _db(request, audit, session.admin, "signed out")
    request[NEW_SESSION] = panel.sessions.new("", panel.clock(), 3600)
    return redirect("/login")


# ---- live -----------------------------------------------------------------------------------------------

def _figures_now(now: datetime) -> dict:
    return figures.last_hour(now)


def _live_rows(calls: list[dict], now_s: float) -> list[Markup]:
    return [html('<tr data-call="{n}"><td>{caller}</td><td>{duration}</td><td>{stage}</td><td>{intent}</td>'
                 '<td>{missing}</td><td>{heard}</td><td>{actions}</td><td>{response}</td></tr>', n=call["call"],
                 caller=call["caller"] or "withheld", duration=_duration(now_s - (call["started_at"] or now_s)),
                 stage=call["stage"] + (f" ({call['error']})" if call["error"] else ""), intent=call["intent"],
                 missing=", ".join(call["missing"]),
                 heard=call["heard"], actions=", ".join(call["actions"]),
                 response="" if call["response_ms"] is None else f"{call['response_ms']} ms")
            for call in calls]


def _duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


async def live(request):
    numbers = await _db(request, _figures_now, request.app[PANEL].now())
    tiles = join(html('<div class="figure"><span class="value" data-figure="{key}">{value}</span>'
                      '<span class="label">{label}</span></div>', key=key, label=label,
                      value="–" if numbers[key] is None else numbers[key]) for key, label in FIGURES)
    calls = request.app[PANEL].relay.live.calls()
    active = html('<table id="live"><thead><tr><th>Caller</th><th>Duration</th><th>Stage</th><th>Intent</th>'
                  '<th>Missing</th><th>Last heard</th><th>Actions</th><th>Response</th></tr></thead>'
                  '<tbody>{rows}</tbody></table>'
                  '<p class="empty" id="no-calls"{hidden}>No calls in progress.</p>',
                  rows=join(_live_rows(calls, request.app[PANEL].clock())), hidden=Markup(" hidden") if calls else "")
    body = html('<section><h2>Last hour</h2><div class="figures">{tiles}</div></section>'
                '<section><h2>Calls in progress <span id="stream-state" class="muted"></span></h2>{active}</section>'
                '<section><h2>Today, hour by hour</h2><div class="charts">{charts}</div></section>',
                tiles=tiles, active=active, charts=join(
                    html('<figure><img class="chart" data-chart="{key}" src="/chart.svg?of={key}" alt="{title}" '
                         'width="600" height="180"><figcaption>{title}</figcaption></figure>', key=key, title=title)
                    for key, (title, _) in CHARTS.items()))
    return page(request, "Live calls", body, script=True)


async def api_live(request):
    numbers = await _db(request, _figures_now, request.app[PANEL].now())
    return web.json_response({"figures": numbers, "calls": request.app[PANEL].relay.live.calls()})


CHARTS = {"calls": ("Calls per hour", ""), "response_ms": ("Average response time per hour", " ms"),
          "escalations": ("Calls handed to a person per hour", "")}  # figures.today_by_hour's key → (title, unit)


async def chart_svg(request):
    """One of today's charts (?of=calls, response_ms or escalations), drawn here as SVG."""
    of = request.query.get("of", "calls")
    if of not in CHARTS:
        raise web.HTTPNotFound(text=f"no chart {of!r}; there are {', '.join(CHARTS)}")
    by_hour = await _db(request, figures.today_by_hour, request.app[PANEL].now(), _zone(request))
    title, unit = CHARTS[of]
    svg = bar_chart(by_hour[of], [f"{hour:02d}" for hour in range(24)], title + " today", unit=unit)
    return web.Response(text=svg, content_type="image/svg+xml")


async def events(request):
    """Server-sent events: `calls` (the calls in progress) at once, then `call` for every event as it comes."""
    relay = request.app[PANEL].relay
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    queue = relay.subscribe()
    try:
        await response.write(_sse("calls", {"calls": relay.live.calls()}))
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except asyncio.TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if event is None:
                break
            await response.write(_sse("call", {"event": event, "calls": relay.live.calls()}))
    except ConnectionError:
        pass
    finally:
        relay.unsubscribe(queue)
    return response


def _sse(name: str, data: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n".encode()


# ---- calls ----------------------------------------------------------------------------------------------

def _calls(number: str, intent: str) -> tuple[list[tuple], list[str]]:
    query = Call.select().order_by(Call.id.desc()).limit(LIST_LIMIT)
    if number:
        query = query.where(Call.caller_id.contains(number))
    if intent:
        query = query.where(Call.id.in_(SQL("(select call_id from call_stats, json_each(call_stats.intents) "
                                            "where json_each.value = ?)", [intent])))
    found = list(query)
    stats = {row.call_id: row for row in CallStats.select().where(CallStats.call.in_([call.id for call in found]))}
    rows = [(call, stats.get(call.id)) for call in found]
    intents = [value for (value,) in CallStats._meta.database.execute_sql(
        "select distinct value from call_stats, json_each(call_stats.intents) order by value")]
    return rows, intents


async def calls(request):
    number, intent = request.query.get("q", "").strip(), request.query.get("intent", "").strip()
    rows, intents = await _db(request, _calls, number, intent)
    zone = _zone(request)
    options = join(html('<option value="{v}"{s}>{v}</option>', v=value,
                        s=Markup(" selected") if value == intent else "") for value in intents)
    search = html('<form method="get" action="/calls" class="filters"><label>Caller number '
                  '<input name="q" value="{q}" inputmode="tel"></label><label>Intent <select name="intent">'
                  '<option value="">any</option>{options}</select></label><button type="submit">Search</button></form>',
                  q=number, options=options)
    lines = []
    for call, stats in rows:
        link = html('<a href="/calls/{id}">{id}</a>', id=call.id)
        ended = ENDED_BY.get(call.ended_by, call.ended_by) if call.ended_at else "in progress"
        if stats is None:
            lines.append(cells(link, local(call.started_at, zone), call.caller_id or "withheld", "", ended,
                               "", "", "", ""))
            continue
        lines.append(cells(link, local(call.started_at, zone), call.caller_id or "withheld", f"{stats.duration_s} s",
                           ended, ", ".join(dict.fromkeys(stats.intents)), ", ".join(stats.actions),
                           "" if stats.voice_to_voice_p50_ms is None else f"{stats.voice_to_voice_p50_ms} ms",
                           "yes" if stats.escalated else ""))
    headings = ("#", "Started", "Caller", "Length", "Ended", "Intents", "Actions", "Response p50", "Escalated")
    body = html("{search}{table}", search=search, table=table(headings, lines, "No calls match."))
    return page(request, "Calls", body)


def _call(call_id: int):
    call = Call.get_or_none(Call.id == call_id)
    if call is None:
        return None
    turns = list(Turn.select().where(Turn.call == call_id).order_by(Turn.number))
    stats = CallStats.get_or_none(CallStats.call == call_id)
    messages = list(Outbox.select().where(Outbox.call == call_id).order_by(Outbox.id))
    return call, turns, stats, messages


async def call_page(request):
    found = await _db(request, _call, _id(request))
    if found is None:
        raise web.HTTPNotFound(text="No such call.")
    call, turns, stats, messages = found
    zone = _zone(request)
    summary = html('<dl class="facts"><dt>Caller</dt><dd>{caller}</dd><dt>Started</dt><dd>{started}</dd>'
                   '<dt>Ended</dt><dd>{ended} {by}</dd><dt>Summary</dt><dd>{summary}</dd>{extra}</dl>',
                   caller=call.caller_id or "withheld", started=local(call.started_at, zone),
                   ended=local(call.ended_at, zone) or "in progress",
                   by=f"({ENDED_BY.get(call.ended_by, call.ended_by)})" if call.ended_by else "",
                   summary=call.summary,
                   extra=html('<dt>Analytics</dt><dd>{turns} turns, {s} s, response p50 {p50} ms, knowledge {k}, '
                              'escalated {e}</dd>', turns=stats.turns, s=stats.duration_s,
                              p50=stats.voice_to_voice_p50_ms, k="yes" if stats.used_knowledge else "no",
                              e="yes" if stats.escalated else "no") if stats else "")
    rows = []
    for turn in turns:
        timings = ", ".join(f"{stage} {value:.0f} ms" if isinstance(value, (int, float)) and not isinstance(value, bool)
                            else f"{stage} {value}" for stage, value in (turn.latency_ms or {}).items())
        reply = html('<details><summary>JSON</summary><pre>{json}</pre></details>',
                     json=json.dumps(turn.reply, indent=2, ensure_ascii=False)) if turn.reply is not None else ""
        rows.append(html('<tr><td>{n}</td><td>{kind}</td><td>{heard}</td><td>{spoken}{cut}</td><td>{reply}</td>'
                         '<td>{timings}</td></tr>', n=turn.number, kind=turn.kind, heard=turn.heard, spoken=turn.spoken,
                         cut=" (interrupted)" if turn.interrupted else "", reply=reply, timings=timings))
    transcript = table(("#", "Kind", "Heard", "Said", "Reply", "Timings by stage"), rows, "No turns recorded.")
    sent = table(("Channel", "To", "Subject", "State"),
                 [cells(m.channel, m.recipient, m.subject, m.state) for m in messages], "No messages.")
    body = html('{summary}<h2>Recording</h2>{recording}<h2>Transcript</h2>{transcript}<h2>Messages</h2>{sent}',
                summary=summary, recording=_recording(request, call), transcript=transcript, sent=sent)
    return page(request, f"Call {call.id}", body)


def _recording(request, call) -> Markup:
    """The call's audio to play back, or why there is none."""
    if call.recording:
        return html('<p><audio controls preload="none" src="/calls/{id}/recording"></audio></p><p>{s} s, stereo: the '
                    'caller on the left, the appliance (or the agent it connected) on the right. '
                    '<a href="/calls/{id}/recording" download>Download</a> {delete}</p>', id=call.id,
                    s=f"{call.recording_s:.0f}" if call.recording_s is not None else "?",
                    delete=button(request, f"/calls/{call.id}/recording/delete", "Delete recording"))
    if call.recording_deleted:
        why = f"its recording was deleted {call.recording_deleted}"
    elif call.ended_at is None:
        why = "the call is still in progress"
    else:
        why = "recording was off for this call"
    mode = request.app[PANEL].settings.recording.mode
    return html('<p class="empty">Not recorded: {why}. (Recording is {mode} now; see [recording] in the settings.)'
                '</p>', why=why, mode=mode)


def _recording_file(call_id: int, data_dir):
    call = Call.get_or_none(Call.id == call_id)
    return recordings.file_of(data_dir, call.recording) if call is not None else None


async def call_recording(request):
    """The call's recording as audio/wav (a browser's player asks for ranges; FileResponse answers them)."""
    call_id = _id(request)
    path = await _db(request, _recording_file, call_id, request.app[PANEL].settings.paths.data_dir)
    if path is None:
        raise web.HTTPNotFound(text="No recording for this call.")
    return web.FileResponse(path, headers={"Content-Type": "audio/wav",
                                           "Content-Disposition": f'inline; filename="call-{call_id}.wav"'})


async def call_recording_delete(request):
    call_id = _id(request)
    done = await _db(request, changes.delete_recording, call_id, _who(request),
                     request.app[PANEL].settings.paths.data_dir)
    return await _change(request, done, f"/calls/{call_id}", f"The recording of call {call_id}")


# ---- outbox, callbacks, tickets, leads, agents, audit -----------------------------------------------------

OUTBOX_STATES = ("queued", "sending", "sent", "failed", "cancelled")


def _outbox(state: str) -> list:
    query = Outbox.select().order_by(Outbox.id.desc()).limit(LIST_LIMIT)
    return list(query.where(Outbox.state == state) if state else query)


async def outbox(request):
    state = request.query.get("state", "")
    state = state if state in OUTBOX_STATES else ""
    rows = await _db(request, _outbox, state)
    zone = _zone(request)
    tabs = join(html('<a href="/outbox{q}"{cur}>{label}</a>', q=f"?state={s}" if s else "", label=s or "all",
                     cur=Markup(' aria-current="page"') if s == state else "") for s in ("",) + OUTBOX_STATES)
    lines = []
    for row in rows:
        acts = []
        if row.state in ("failed", "cancelled"):
            acts.append(button(request, f"/outbox/{row.id}/retry", "Retry"))
        if row.state in ("queued", "failed"):
            acts.append(button(request, f"/outbox/{row.id}/cancel", "Cancel"))
        detail = row.last_error if row.state != "sent" else (row.delivery or row.reference)
        lines.append(html('<tr data-id="{id}" data-state="{state}"><td>{id}</td><td>{at}</td><td>{channel}</td>'
                          '<td>{to}</td><td>{subject}</td><td class="state-{state}">{state}</td><td>{tries}</td>'
                          '<td>{detail}</td><td>{acts}</td></tr>', id=row.id, at=local(row.created_at, zone),
                          channel=row.channel, to=row.recipient, subject=row.subject or row.body[:60],
                          state=row.state, tries=row.attempts, detail=detail, acts=join(acts)))
    body = html('<nav class="tabs">{tabs}</nav>{table}', tabs=tabs,
                table=table(("#", "Queued", "Channel", "To", "Subject", "State", "Tries", "Reason / reference", ""),
                            lines, "No messages."))
    return page(request, "Outbox", body)


async def _change(request, done: bool, back: str, what: str):
    if not done:
        return page(request, "Nothing changed", html('<p>{what} could not be changed from its present state.</p>'
                                                     '<p><a href="{back}">Back</a></p>', what=what, back=back),
                    status=409)
    return redirect(back)


def _wake(panel, row_id: int) -> None:
    """Tell the worker at once (it would also find the row within a minute on its own)."""
    if panel.queue is None:
        from appliance.actions.queue import make_queue

        panel.queue = make_queue(panel.settings, channels={})  # only queues tasks: the worker runs them
    panel.queue.wake(row_id)


def _retry(panel, row_id: int, who: str, now: datetime) -> bool:
    done = changes.retry_message(row_id, who, now)
    if done:
        _wake(panel, row_id)
    return done


async def outbox_retry(request):
    row_id = _id(request)
    done = await _db(request, _retry, request.app[PANEL], row_id, _who(request), request.app[PANEL].now())
    return await _change(request, done, "/outbox", f"Message {row_id}")


async def outbox_cancel(request):
    row_id = _id(request)
    done = await _db(request, changes.cancel_message, row_id, _who(request))
    return await _change(request, done, "/outbox", f"Message {row_id}")


async def callbacks(request):
    rows = await _db(request, lambda: list(Callback.select().order_by(Callback.at_utc.desc()).limit(LIST_LIMIT)))
    lines = [cells(row.id, row.at, row.phone, row.reason, row.state, row.attempts, row.outcome,
                   join([_reschedule_form(request, row), button(request, f"/callbacks/{row.id}/cancel", "Cancel")])
                   if row.state in ("scheduled", "due") else "") for row in rows]
    body = table(("#", "When (as promised)", "Phone", "Reason", "State", "Tries", "Outcome", ""), lines,
                 "No callbacks.")
    return page(request, "Callbacks", body)


def _reschedule_form(request, row) -> Markup:
    return html('<form method="post" action="/callbacks/{id}/reschedule" class="inline"><input type="hidden" '
                'name="csrf" value="{csrf}"><input type="datetime-local" name="at" required aria-label="New time">'
                '<button type="submit">Reschedule</button></form>', id=row.id, csrf=_csrf(request))


async def callback_reschedule(request):
    """A new time, in the company's timezone (what the browser's datetime-local field gives), in the future."""
    callback_id, form = _id(request), await request.post()
    try:
        at = datetime.fromisoformat(str(form.get("at", ""))).replace(tzinfo=_zone(request))
        at.astimezone(timezone.utc)  # the calendar's last hours, in a zone behind UTC, have no UTC time
    except (ValueError, OverflowError):
        raise web.HTTPBadRequest(text="the new time is YYYY-MM-DDTHH:MM, before the year 9999 ends") from None
    if at <= request.app[PANEL].now():
        return page(request, "Nothing changed", html('<p class="error" role="alert">The new time has passed; choose '
                                                     'one to come.</p><p><a href="/callbacks">Back</a></p>'), status=400)
    done = await _db(request, changes.reschedule_callback, callback_id, at, _who(request))
    return await _change(request, done, "/callbacks", f"Callback {callback_id}")


async def callback_cancel(request):
    callback_id = _id(request)
    done = await _db(request, changes.cancel_callback, callback_id, _who(request))
    return await _change(request, done, "/callbacks", f"Callback {callback_id}")


async def tickets(request):
    open_first = Case(None, ((Ticket.status == "closed", 1),), 0)
    rows = await _db(request, lambda: list(Ticket.select().order_by(open_first, Ticket.id.desc()).limit(LIST_LIMIT)))
    zone = _zone(request)
    lines = [cells(row.id, local(row.created_at, zone), row.phone, row.order_id, row.issue_type, row.priority,
                   row.status, row.description,
                   button(request, f"/tickets/{row.id}/close", "Close") if row.status != "closed" else "")
             for row in rows]
    body = table(("#", "Opened", "Phone", "Order", "Issue", "Priority", "Status", "Description", ""), lines,
                 "No tickets.")
    return page(request, "Tickets", body)


async def ticket_close(request):
    ticket_id = _id(request)
    done = await _db(request, changes.close_ticket, ticket_id, _who(request))
    return await _change(request, done, "/tickets", f"Ticket {ticket_id}")


async def leads(request):
    rows = await _db(request, lambda: list(Lead.select().order_by(QUALITY_ORDER, Lead.updated_at.desc())
                                           .limit(LIST_LIMIT)))
    zone = _zone(request)
    lines = [cells(row.name, row.phone, row.email, row.company, row.quality, row.interest, row.status,
                   row.preferred_channel, local(row.updated_at, zone)) for row in rows]
    body = table(("Name", "Phone", "Email", "Company", "Quality", "Interest", "Status", "Prefers", "Updated"), lines,
                 "No leads.")
    return page(request, "Leads (hot first)", body)


async def agents(request):
    rows = await _db(request, lambda: list(Agent.select().order_by(Agent.name)))
    lines = []
    for row in rows:
        choice = "away" if row.status == "available" else "available"
        lines.append(cells(row.name, ", ".join(row.expertise or []), row.status, row.contact or row.phone,
                           button(request, f"/agents/{row.id}/status", f"Mark {choice}", status=choice)))
    return page(request, "Agents", table(("Name", "Expertise", "Status", "Reached at", ""), lines, "No agents."))


async def agent_status(request):
    agent_id, form = _id(request), await request.post()
    status = str(form.get("status", ""))
    if status not in changes.AGENT_STATUSES:
        raise web.HTTPBadRequest(text="status is available or away")
    done = await _db(request, changes.set_agent_status, agent_id, status, _who(request))
    return await _change(request, done, "/agents", f"Agent {agent_id}")


async def audit_log(request):
    rows = await _db(request, lambda: list(AuditLog.select().order_by(AuditLog.id.desc()).limit(LIST_LIMIT)))
    zone = _zone(request)
    return page(request, "Audit log", table(("When", "Who", "What"),
                                            [cells(local(row.at, zone), row.who, row.what) for row in rows],
                                            "Nothing recorded yet."))


async def health(request):
    """Open to monitoring without a login: nothing in it names a caller. `calls` is the call service's slots as it
    last said them (free, accepting, why not), or null while it is not connected; a full or drained box is not
    unhealthy, so they leave `ok` alone."""
    panel = request.app[PANEL]
    report = await _db(request, figures.health, panel.settings.paths.data_dir)
    report["calls"] = panel.relay.capacity["data"] if panel.relay.connections and panel.relay.capacity else None
    return web.json_response(report, status=200 if report["ok"] else 503)


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/health", health)
    router.add_get("/login", login_form, name="login")
    router.add_post("/login", login)
    router.add_post("/logout", logout)
    router.add_get("/", live)
    router.add_get("/events", events)
    router.add_get("/api/live", api_live)
    router.add_get("/chart.svg", chart_svg)
    router.add_get("/calls", calls)
    router.add_get("/calls/{id}", call_page)
    router.add_get("/calls/{id}/recording", call_recording)
    router.add_post("/calls/{id}/recording/delete", call_recording_delete)
    router.add_get("/outbox", outbox)
    router.add_post("/outbox/{id}/retry", outbox_retry)
    router.add_post("/outbox/{id}/cancel", outbox_cancel)
    router.add_get("/callbacks", callbacks)
    router.add_post("/callbacks/{id}/cancel", callback_cancel)
    router.add_post("/callbacks/{id}/reschedule", callback_reschedule)
    router.add_get("/tickets", tickets)
    router.add_post("/tickets/{id}/close", ticket_close)
    router.add_get("/leads", leads)
    router.add_get("/agents", agents)
    router.add_post("/agents/{id}/status", agent_status)
    router.add_get("/audit", audit_log)
