"""Callbacks that really dial: sipp is the called party, the whole appliance places and holds the call."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import numpy as np
import pytest

from appliance import settings as settings_module
from appliance.bench import words
from appliance.callbacks import CallbackDialer, opening
from appliance.line.sip import SipServer
from appliance.records import open_database
from appliance.records.models import Call, Callback, Turn, database

PHONE = "+15550123"


def due_now(phone: str = PHONE, reason: str = "") -> Callback:
    """A callback promised for a second ago, still scheduled: the dialer's sweep makes it due."""
    moment = datetime.now(timezone.utc) - timedelta(seconds=1)
    return Callback.create(phone=phone, at=moment.isoformat(), at_utc=moment.isoformat(timespec="seconds"),
                           reason=reason)


def through(settings, callee, **line):
    """The settings with the trunk at the sipp callee."""
    return dataclasses.replace(settings, line=dataclasses.replace(settings.line, sip_trunk=f"127.0.0.1:{callee.port}",
                                                                  ring_timeout_s=10, **line))


async def settle(dialer: CallbackDialer, row_id: int, timeout_s: float) -> tuple[Callback, float]:
    """Run the dialer until the callback is done or failed and no attempt is left; the row, and when it was
    first answered or tried (seconds after the start)."""
    start = time.monotonic()
    first = None
    task = asyncio.create_task(dialer.run())
    try:
        while time.monotonic() - start < timeout_s:
            row = await asyncio.to_thread(Callback.get_by_id, row_id)
            if row.attempts and first is None:
                first = time.monotonic() - start
            if row.state in ("done", "failed") and not dialer.dialling:
                return row, first
            await asyncio.sleep(0.05)
        raise AssertionError(f"callback {row_id} still {row.state} after {timeout_s} s: {row.outcome!r}")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_the_opening_says_who_calls_and_why():
    assert opening("Acme", "your refund.") == \
        "Hello, this is Acme calling you back about your refund, as promised. How can I help?"
    assert "about your call," in opening("Acme", "")
    assert "about your call," in opening("Acme", "callback_request")  # the intent that booked it, as stored
    assert "about your complaint," in opening("Acme", "complaint")


@pytest.fixture
def records(tmp_path):
    """A records database of its own, and the one bound before it bound again afterwards."""
    before = database.obj
    db = open_database(tmp_path / "appliance.db")
    yield db
    db.close()
    if before is not None:
        database.initialize(before)


def test_with_no_trunk_known_an_attempt_fails_and_is_recorded(records):
    settings = settings_module.Settings()
    row = due_now()

    async def run():
        sip = await SipServer("127.0.0.1", 0, rtp_ports="23000-23099").start()
        try:
            dialer = CallbackDialer(SimpleNamespace(active={}), sip, settings, retry_delay_s=60)
            assert sip.last_trunk is None and not settings.line.sip_trunk
            await dialer.sweep()
            return await asyncio.gather(*dialer.dialling.values())
        finally:
            await sip.close()

    assert asyncio.run(asyncio.wait_for(run(), 20)) == ["failed: no trunk"]
    row = Callback.get_by_id(row.id)
    assert (row.state, row.attempts, row.outcome) == ("due", 1, "failed: no trunk")
    assert row.at_utc > datetime.now(timezone.utc).isoformat()  # tried again later


def test_no_callback_is_dialled_while_every_call_slot_is_taken(records):
    settings = settings_module.Settings()
    row = due_now()
    full = SimpleNamespace(active={1: "a call", 2: "another"})

    async def run():
        dialer = CallbackDialer(full, SimpleNamespace(last_trunk=("127.0.0.1", 9)), settings)
        assert dialer.free_slots() == 0
        return await dialer.sweep()

    assert asyncio.run(run()) == []
    assert (Callback.get_by_id(row.id).state, Callback.get_by_id(row.id).attempts) == ("due", 0)


def test_a_due_callback_is_dialled_and_the_called_party_hears_who_calls_and_why(running, callee, recorder, whisper):
    uas = callee("uas.xml", sets={"phone": PHONE, "hold": 15000}, rtpport=recorder.port)
    row = due_now(reason="your refund")
    dialer = CallbackDialer(running.service, running.sip, through(running.service.settings, uas), poll_s=0.2)
    row, first_s = running.call(settle(dialer, row.id, 90), timeout=120)
    status = uas.wait(30)
    audio = recorder.stop()
    assert status == 0, uas.output()
    assert f"request-uri user {PHONE}" in uas.output()
    assert first_s < 5, f"dialled only {first_s:.1f} s after it was due"
    assert (row.state, row.attempts, row.outcome) == ("done", 1, "answered")
    voiced = np.abs(audio.astype(np.int32)) > 1000
    assert voiced.sum() > 8000, f"only {voiced.sum() / 8000:.1f} s of voiced audio reached the called party"
    heard = words(whisper.transcribe(audio, 8000).text)
    # Whisper may hear "calling you" as "call and you" at 8 kHz: the words that say who calls and why count.
    assert any(w.startswith("call") for w in heard) and "back" in heard and "refund" in heard, " ".join(heard)
    call = Call.select().where(Call.caller_id == PHONE).order_by(Call.id.desc()).get()
    first_turn = Turn.select().where(Turn.call == call.id).order_by(Turn.number).get()
    assert first_turn.kind == "greeting" and "calling you back about your refund" in first_turn.spoken


def test_a_busy_number_is_tried_callback_attempts_times_then_failed(running, callee, caplog):
    attempts = running.service.settings.actions.callback_attempts
    uas = callee("uas_busy.xml", calls=attempts)
    row = due_now(phone="+15550124")
    dialer = CallbackDialer(running.service, running.sip, through(running.service.settings, uas),
                            retry_delay_s=1.0, poll_s=0.1)
    with caplog.at_level(logging.INFO, logger="appliance.callbacks"):
        row, _ = running.call(settle(dialer, row.id, 60), timeout=90)
    status = uas.wait(30)
    assert status == 0, uas.output()
    assert (row.state, row.attempts, row.outcome) == ("failed", attempts, "busy")
    tries = [r for r in caplog.records if r.name == "appliance.callbacks" and "attempt" in r.getMessage()]
    assert [r.getMessage().rsplit(": ", 1)[1] for r in tries] == ["busy (due)"] * (attempts - 1) + ["busy (failed)"]
    gaps = [later.created - earlier.created for earlier, later in zip(tries, tries[1:])]
    assert all(gap >= 0.95 for gap in gaps), gaps  # each retry waited its delay
