"""Fixtures for the panel: a records database in a temporary folder, an admin, and the app under aiohttp's client."""

from __future__ import annotations

import dataclasses
import re
import types

import pytest
from aiohttp.test_utils import TestClient, TestServer

from appliance.panel.app import make_app
from appliance.panel.auth import add_admin
from appliance.records import open_database
from appliance.settings import Settings

PASSWORD = "correct horse battery staple"


@pytest.fixture
def settings(tmp_path) -> Settings:
    base = Settings()
    return dataclasses.replace(base, paths=dataclasses.replace(base.paths, data_dir=tmp_path),
                               company=dataclasses.replace(base.company, name="TechCorp", timezone="UTC"))


@pytest.fixture
def records(settings):
    db = open_database(settings.paths.data_dir / "appliance.db")
    add_admin("alice", PASSWORD)
    yield db
    db.close()


class Clock:
    """The panel's clock, moved by the test."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(settings, records, clock):
    app = make_app(settings, clock=clock)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


def csrf_of(page: str) -> str:
    """The CSRF token in a page's first form."""
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


async def log_in(client, name: str = "alice", password: str = PASSWORD, status: int = 200):
    """Sign in through the login form, as a browser does; returns the response after the redirect."""
    form = await (await client.get("/login")).text()
    response = await client.post("/login", data={"csrf": csrf_of(form), "name": name, "password": password,
                                                 "next": "/"})
    assert response.status == status, await response.text()
    return response


@pytest.fixture
async def admin(client):
    """The client, signed in as alice."""
    await log_in(client)
    return client


def seed_call(caller: str = "+15551230001", heard: str = "What is your refund policy?", intents=("faq",),
              p50_ms: int | None = 740, knowledge: bool = True, escalated: bool = False, ended_by: str = "caller"):
    """A finished call with one caller turn and its analytics, as the call service writes them."""
    from appliance.records.models import Call, CallStats, Turn, utc_now

    call = Call.create(caller_id=caller, ended_at=utc_now(), ended_by=ended_by, summary="asked about refunds")
    Turn.create(call=call, number=0, kind="greeting", spoken="Hello, thank you for calling TechCorp.")
    Turn.create(call=call, number=1, kind="caller", heard=heard, spoken="We offer a 30-day money back guarantee.",
                reply={"immediate_response": "We offer a 30-day money back guarantee.", "intent": intents[0],
                       "entities": {}, "needs_clarification": False, "actions": [], "used_knowledge": knowledge,
                       "escalate_to_human": escalated},
                latency_ms={"endpoint": 700.0, "stt": 212.4, "llm_first_sentence": 301.9, "tts_first_audio": 80.2})
    CallStats.create(call=call, duration_s=42, turns=2, intents=list(intents), used_knowledge=knowledge,
                     escalated=escalated, actions=[], voice_to_voice_p50_ms=p50_ms)
    return call


def seed_message(state: str = "failed", channel: str = "email", recipient: str = "user@example.com",
                 error: str = "550 5.1.1 no such user", key: str = "m1"):
    """An outbox row in `state`, as the worker leaves it."""
    from appliance.records.models import Outbox, utc_now

    return Outbox.create(key=key, channel=channel, recipient=recipient, subject="TechCorp: refund policy",
                         body="Our refund policy: 30 days.", state=state, attempts=3 if state == "failed" else 1,
                         last_error=error if state == "failed" else "",
                         sent_at=utc_now() if state == "sent" else None)


@pytest.fixture
def panel():
    """The helpers above, for the test modules (tests/ is on the path, so `conftest` there is another one)."""
    return types.SimpleNamespace(PASSWORD=PASSWORD, csrf_of=csrf_of, log_in=log_in, seed_call=seed_call,
                                 seed_message=seed_message)
