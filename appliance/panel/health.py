"""The Health page (`/system`): the box checked by `appliance doctor`'s own checks, and whether the call service
is connected to the panel's events relay. `/health`, the open route for monitoring, is another thing (pages.py)."""

from __future__ import annotations

import asyncio
import threading
import time

from aiohttp import web

from appliance.doctor import Check, box_checks, check_models, outbox_check, software_checks
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
        """Every check but the reply model's speed (it loads the model) and the outbox (it needs the database)."""
        return software_checks() + self.model_checks() + box_checks(self.settings)


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


DOCTOR = web.AppKey("doctor", Doctor)


async def system_page(request):
    panel = request.app[PANEL]
    checks, outbox = await asyncio.gather(asyncio.to_thread(request.app[DOCTOR].checks),
                                          panel.records.run(outbox_check, panel.records.path))
    checks = checks + [outbox, call_service_check(panel.relay, time.monotonic())]
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
