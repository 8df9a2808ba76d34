"""Callbacks that really dial: sipp is the called party (a person, a busy line, a voicemail), the whole appliance
places and holds the call."""

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
from appliance.callbacks import CallbackDialer, opening, voicemail_message
from appliance.line.callers import PiperCaller
from appliance.line.sip import SipServer
from appliance.records import open_database
from appliance.records.models import Call, Callback, Turn, database

from sipp.pcap import speech_pcap
from speech import heard_as

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


def test_the_voicemail_message_says_who_calls_why_and_how_to_call_back():
    text = voicemail_message("Acme", "complaint", "+1 555 0199")
    assert text.startswith("Hello, this is Acme calling you back about your complaint, as promised.")
    assert "Please call us back on 1, 5 5 5, 0 1 9 9." in text and "again" not in text
    assert "We'll also try you again later." in voicemail_message("Acme", "", "+1 555 0199", again=True)
    assert "We'll try you again later." in voicemail_message("Acme", "your refund", again=True)
    assert "Please call us back when it suits you." in voicemail_message("Acme", "your refund")


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


def test_a_voicemail_reached_is_the_callback_done_or_with_retry_dialled_again_with_no_second_message(records):
    settings = settings_module.Settings()
    done = CallbackDialer(SimpleNamespace(active={}), None, settings, retry_delay_s=60)
    row = due_now()
    assert "Please call us back" in done.message(row, 1)
    assert done._record(row, 1, "voicemail") == "done" and Callback.get_by_id(row.id).outcome == "voicemail"
    retry = dataclasses.replace(settings, actions=dataclasses.replace(settings.actions, callback_voicemail="retry"))
    again = CallbackDialer(SimpleNamespace(active={}), None, retry, retry_delay_s=60)
    row = due_now(phone="+15550126")
    assert "try you again later" in again.message(row, 1)
    assert again._record(row, 1, "voicemail") == "due"
    assert Callback.get_by_id(row.id).at_utc > datetime.now(timezone.utc).isoformat()  # tried again later
    assert again.message(row, 2) == ""  # the voicemail has this callback's message already
    assert again._record(row, retry.actions.callback_attempts, "voicemail") == "failed"  # attempts spent


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
    # Whisper may hear "calling you" as "call and you" at 8 kHz, and Piper's noise differs on every render: about one
    # render in five of "refund" is heard as "reefn" or "reef and" (tests/tts/test_piper.py).
    assert heard_as(heard, "calling") and heard_as(heard, "back") and heard_as(heard, "refund"), " ".join(heard)
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


@pytest.fixture(scope="module")
def voice(store):
    """Speech as a person (or a voicemail's recorded greeting) sounds on the line, voiced by Piper."""
    return PiperCaller(store.checked_path("tts"))


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(8000 * seconds), np.int16)


def test_a_callback_that_reaches_a_voicemail_leaves_its_message_after_the_beep(running, callee, recorder, whisper,
                                                                                voice, tmp_path):
    phone = "+15550127"
    greeting = voice("Hi, you've reached the Lee family. We can't come to the phone right now. "
                     "Please leave a message after the tone.")
    t = np.arange(4000) / 8000
    beep = (np.sin(2 * np.pi * 1000 * t) * 0.3 * 32767).astype(np.int16)  # half a second at 1 kHz
    pcap = speech_pcap(tmp_path / "voicemail.pcap", np.concatenate([greeting, silence(0.6), beep, silence(60)]))
    uas = callee("uas_voicemail.xml", sets={"phone": phone}, rtpport=recorder.port, pcap=pcap, timeout=150)
    row = due_now(phone=phone, reason="your refund")
    settings = through(running.service.settings, uas)
    settings = dataclasses.replace(settings, company=dataclasses.replace(settings.company, phone="+1 555 0199"))
    dialer = CallbackDialer(running.service, running.sip, settings, poll_s=0.2)
    start = time.time()
    row, _ = running.call(settle(dialer, row.id, 150), timeout=200)
    status = uas.wait(30)  # the voicemail got the appliance's BYE once the message was left
    audio = recorder.stop()
    assert status == 0, uas.output()
    assert (row.state, row.attempts, row.outcome) == ("done", 1, "voicemail")  # [actions] callback_voicemail = done
    events = [(e.kind, e.data) for e in running.service.bus.recent if e.at >= start]
    assert ("voicemail-message", {"after": "beep", "left": True}) in events, events  # it spoke once it recorded
    call = Call.select().where(Call.caller_id == phone).get()
    turns = list(Turn.select().where(Turn.call == call.id).order_by(Turn.number))
    assert call.ended_by == "voicemail" and [turn.kind for turn in turns] == ["voicemail"]
    left = turns[0]
    assert "calling you back about your refund" in left.spoken and "call us back on 1, 5 5 5, 0 1 9 9" in left.spoken
    assert "message" in left.heard.lower(), left.heard  # the greeting, as Whisper heard it
    heard = words(whisper.transcribe(audio, 8000).text)
    company = running.service.company.name.lower()[:4]  # Whisper may write the name as one word or two
    assert heard_as(heard, company) and heard_as(heard, "refund") and heard_as(heard, "back"), " ".join(heard)


def test_a_person_who_answers_hello_and_waits_is_no_voicemail_and_hears_who_calls_and_why(running, callee,
                                                                                          recorder, whisper, voice,
                                                                                          tmp_path):
    phone = "+15550128"
    pcap = speech_pcap(tmp_path / "hello.pcap", np.concatenate([silence(0.4), voice("Hello?"), silence(30)]))
    uas = callee("uas_agent.xml", sets={"phone": phone, "hold": 16000}, rtpport=recorder.port, pcap=pcap)
    row = due_now(phone=phone, reason="complaint")
    dialer = CallbackDialer(running.service, running.sip, through(running.service.settings, uas), poll_s=0.2)
    row, _ = running.call(settle(dialer, row.id, 90), timeout=120)
    status = uas.wait(30)
    audio = recorder.stop()
    assert status == 0, uas.output()
    assert (row.state, row.attempts, row.outcome) == ("done", 1, "answered")
    call = Call.select().where(Call.caller_id == phone).get()
    turns = list(Turn.select().where(Turn.call == call.id).order_by(Turn.number))
    assert call.ended_by == "caller" and "voicemail" not in [turn.kind for turn in turns]
    assert turns[0].kind == "greeting" and "calling you back about your complaint" in turns[0].spoken
    heard = words(whisper.transcribe(audio, 8000).text)
    assert heard_as(heard, "back") and heard_as(heard, "complaint") and "message" not in heard, " ".join(heard)
