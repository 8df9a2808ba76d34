"""What every handler reaches: the panel's state (`request.app[PANEL]`) and the visitor's session."""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

from aiohttp import web

from appliance.panel.auth import LoginLimiter, Session, Sessions
from appliance.panel.events import EventRelay
from appliance.records import open_database
from appliance.settings import Settings


class Records:
    """The records database on one thread of its own: one connection, one writer, never the event loop."""

    def __init__(self, path: Path):
        self.path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="panel-db")
        self.db = None

    async def run(self, function, *args, **kwargs):
        """`function(*args, **kwargs)` on the database thread."""
        call = functools.partial(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._thread, call)

    async def open(self) -> None:
        self.db = await self.run(open_database, self.path)

    async def close(self) -> None:
        if self.db is not None:
            await self.run(self.db.close)
        self._thread.shutdown(wait=True)


@dataclass
class Panel:
    """The panel's state: settings, clocks, sessions, the login limit, the database and the events relay."""

    settings: Settings
    clock: Callable[[], float]  # epoch seconds: sessions and the login limit
    now: Callable[[], datetime]  # aware: the figures and the outbox
    tls: bool
    sessions: Sessions
    limiter: LoginLimiter
    records: Records
    relay: EventRelay
    queue: object = None  # the action queue, made on the first retry (appliance.actions.queue.Queue)


PANEL = web.AppKey("panel", Panel)
SESSION = web.RequestKey("session", Session)
NEW_SESSION = web.RequestKey("new_session", Session)  # set by a handler (login, logout): the cookie to send
