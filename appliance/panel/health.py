"""The Health page (`/system`): the box checked by `appliance doctor`'s own checks, whether the call service is
connected to the panel's events relay, its call slots (free, full, drained or stopping), and each phone line as the
call service last reported it (registered with the PBX, listening for a trunk, or failed and why). The modem is the
worker's last report, never probed from here: the worker holds its port. `/health`, the open route for monitoring,
is another thing (pages.py)."""

from __future__ import annotations

import asyncio
import threading
import time

from aiohttp import web

from appliance.doctor import Check, box_checks, check_models, outbox_check, software_checks
from appliance.line.status import HEALTH
from appliance.models import ModelStore
from appliance.panel.context import PANEL
from appliance.panel.events import EventRelay
from appliance.panel.html import html, join
from appliance.panel.pages import page, table
from appliance.settings import Settings

MODELS_CACHE_S = 300.0  # hashing every model takes seconds: a reload within this reuses the last result


class Doctor:
    """The doctor's checks for the panel, run on a worker thread; the models' result is kept MODELS_CACHE_S."""

    def __init__(self, settings: Settings, clock=time.monotonic):
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._models: tuple[float, list[Check]] | None = None

    def model_checks(self) -> list[Check]:
        """The models' sha256 checks, hashed again once the cached result is MODELS_CACHE_S old."""
        with self._lock:  # two reloads at once hash once
            if self._models is None or self.clock() - self._models[0] >= MODELS_CACHE_S:
                # A fresh store: its own per-file cache would never notice a file that rots in place.
                self._models = (self.clock(), check_models(ModelStore(self.settings.paths.models_dir)))
            return self._models[1]

    def checks(self) -> list[Check]:
        """Every check but the reply model's speed (it loads the model) and the outbox (it needs the database); the
        modem's is the worker's last report (two processes on one serial port read each other's answers)."""
        return software_checks() + self.model_checks() + box_checks(self.settings, probe_modem=False)


def call_service_check(relay: EventRelay, now: float) -> Check:
    """Whether the call service is connected to the relay's socket (`now`: time.monotonic())."""
    fix = "start the call service: systemctl start appliance-serve"
    if not relay.path.exists():
        return Check("call service", "fail", f"{relay.path} is missing: the panel hears no calls",
                     "restart the panel: systemctl restart appliance-panel")
    if relay.connections:
        return Check("call service", "ok", f"connected to {relay.path}, last heard {now - relay.heard_at:.0f} s ago")
    if relay.heard_at is None:
        return Check("call service", "warn", f"has not connected to {relay.path} since the panel started", fix)
    return Check("call service", "warn", f"disconnected from {relay.path} {now - relay.heard_at:.0f} s ago", fix)


def slots_checks(relay: EventRelay) -> list[Check]:
    """The call slots as the call service last reported them (none while it is not connected: the call service's
    own row says so). A full box is fine; a drained or stopping one takes no calls, which an admin should know."""
    if not relay.connections or relay.capacity is None:
        return []
    data = relay.capacity["data"]
    free, busy, total = data.get("free"), data.get("in_progress"), data.get("max_calls")
    why = data.get("why_not")
    sip = "SIP OPTIONS answered 503" if why else "SIP OPTIONS answered 200"
    if why == "drained":
        return [Check("call slots", "warn", f"drained: [line] max_calls = 0, no new calls; {busy} in progress; {sip}",
                      "set [line] max_calls above 0 and restart the call service to take calls again")]
    if why == "stopping":
        return [Check("call slots", "warn", f"stopping: finishing {busy} call(s), new calls refused; {sip}",
                      "wait for the call service to restart, or start it: systemctl start appliance-serve")]
    over = "are refused (486)" if data.get("overflow") == "reject" else "hear the busy message"
    if why == "full":
        return [Check("call slots", "ok", f"full: {busy} of {total} in use, calls over the limit {over}; {sip}")]
    return [Check("call slots", "ok", f"{free} of {total} free, {busy} in progress; {sip}")]


def _ago(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds} s ago" if seconds < 120 else f"{seconds // 60} min ago"


def line_checks(relay: EventRelay, now: float) -> list[Check]:
    """One row per phone line from the call service's latest `line-status` events (`now`: time.time())."""
    start = "start the call service: systemctl start appliance-serve"
    if not relay.lines:
        if relay.connections:
            return [Check("lines", "warn", "the call service is connected but has not said how its lines are",
                          "restart the call service: systemctl restart appliance-serve")]
        return [Check("lines", "warn", "nothing heard: no call service is connected to say how the lines are", start)]
    checks = []
    for uri, event in sorted(relay.lines.items()):
        data = event["data"]
        state, detail, fix = str(data.get("state", "")), str(data.get("detail", "")), str(data.get("fix", ""))
        at = data.get("at") if isinstance(data.get("at"), (int, float)) else event.get("at", now)
        health = HEALTH.get(state, "warn")
        if not relay.connections:
            checks.append(Check(f"line {uri}", "warn", f"no call service connected; it last said {state}: {detail} "
                                f"({_ago(now - at)})", start))
            continue
        expires_s = data.get("expires_s")
        if state == "registered" and isinstance(expires_s, (int, float)) and now > at + expires_s:
            health, fix = "warn", "see the call service's log (journalctl -u appliance-serve)"
            detail = f"{detail}, but that ran out {_ago(now - at - expires_s)} and no refresh was heard"
        checks.append(Check(f"line {uri}", health, f"{state}: {detail} ({_ago(now - at)})", fix))
    return checks


DOCTOR = web.AppKey("doctor", Doctor)


async def system_page(request):
    panel = request.app[PANEL]
    checks, outbox = await asyncio.gather(asyncio.to_thread(request.app[DOCTOR].checks),
                                          panel.records.run(outbox_check, panel.records.path))
    checks = checks + [outbox, call_service_check(panel.relay, time.monotonic())] + slots_checks(panel.relay) + \
        line_checks(panel.relay, time.time())
    rows = [html('<tr data-check="{name}"><td>{name}</td><td class="check-{state}">{state}</td><td>{detail}</td>'
                 '<td>{fix}</td></tr>', name=check.name, state=check.state, detail=check.detail,
                 fix=check.fix if check.state != "ok" else "") for check in checks]
    failed = sum(check.state == "fail" for check in checks)
    warned = sum(check.state == "warn" for check in checks)
    summary = html('<p class="summary">{n} checks: {failed} failed, {warned} warnings. The same checks as '
                   '<code>appliance doctor</code> (the reply model\'s speed aside); the models are hashed again '
                   'after {minutes} minutes.</p>', n=len(checks), failed=failed, warned=warned,
                   minutes=int(MODELS_CACHE_S // 60))
    return page(request, "Health", join([summary, table(("Check", "State", "Detail", "What to do"), rows)]))


def setup(app: web.Application, settings: Settings) -> None:
    """The Health page and its route."""
    app[DOCTOR] = Doctor(settings)
    app.router.add_get("/system", system_page)
