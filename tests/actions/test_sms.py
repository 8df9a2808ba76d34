"""Texts through the outbox, the queue and the modem driver to the SIM7600 simulator on a real pseudo-terminal."""

from __future__ import annotations

import dataclasses
import time

import pytest

from appliance.actions import outbox
from appliance.actions.outbox import Message
from appliance.actions.queue import make_queue
from appliance.modem.simulator import SimulatorThread
from appliance.records.models import Lead, Outbox

CALLER = "+919876543210"


@pytest.fixture
def modem():
    running = SimulatorThread(signal=18)
    running.simulator.report_delay_s = 0.05
    yield running
    running.close()


@pytest.fixture
def queue(settings, records, modem):
    with_modem = dataclasses.replace(settings, modem=dataclasses.replace(settings.modem, device=modem.path,
                                                                         timeout_s=3.0))
    made = make_queue(with_modem)
    yield made
    made.close()


def _text(key: str, body: str, to: str = CALLER) -> int:
    row, _ = outbox.put(Message(key, "sms", to, body))
    return row.id


def _until(condition, queue=None, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        if queue is not None:
            queue.drain()
        time.sleep(0.05)
    return True


def test_a_long_and_a_unicode_text_arrive_whole_and_are_reported_delivered(queue, modem):
    long = "TechCorp pricing plans: " + "Basic plan 999 rupees a month, Professional 2,999. " * 8
    hindi = "आपका कॉलबैक कल सुबह 10 बजे है। धन्यवाद! 🙂"
    rows = [_text("long", long), _text("hindi", hindi)]
    for row_id in rows:
        queue.wake(row_id)
    queue.drain()
    assert [(sent.number, sent.text) for sent in modem.sent] == [(CALLER, long), (CALLER, hindi)]
    assert len(modem.sent[0].references) == 3  # 424 GSM-7 characters: three 153-character parts
    assert len(modem.sent[1].references) == 1  # 41 UCS2 characters fit one part
    stored = [Outbox.get_by_id(row_id) for row_id in rows]
    assert all(row.state == "sent" and row.reference.startswith("sms:") for row in stored)
    assert _until(lambda: all(Outbox.get_by_id(r).delivery == "delivered" for r in rows))


def test_a_network_error_is_retried_and_a_bad_number_is_not(queue, modem):
    modem.do("fail_next", "+CMGS", cms=332)  # network timeout: worth another try
    passing = _text("passing", "Your callback is booked for tomorrow at 10 AM.")
    queue.wake(passing)
    queue.drain()
    first = Outbox.get_by_id(passing)
    assert first.state == "queued" and first.attempts == 1 and "332" in first.last_error and modem.sent == []
    assert _until(lambda: Outbox.get_by_id(passing).state == "sent", queue)
    assert [sent.text for sent in modem.sent] == ["Your callback is booked for tomorrow at 10 AM."]

    modem.do("fail_next", "+CMGS", cms=21)  # short message transfer rejected: the same again cannot work
    rejected = _text("rejected", "Hello")
    queue.wake(rejected)
    queue.drain()
    time.sleep(0.3)
    queue.drain()
    row = Outbox.get_by_id(rejected)
    assert row.state == "failed" and row.attempts == 1 and "21" in row.last_error
    assert len(modem.sent) == 1


def test_no_network_keeps_texts_queued_until_the_modem_registers(queue, modem):
    modem.do("set_registration", 2)  # searching
    row_id = _text("searching", "Tracking number TRK123456.")
    queue.wake(row_id)
    queue.drain()
    row = Outbox.get_by_id(row_id)
    assert row.state == "queued" and "no network" in row.last_error and modem.sent == []
    modem.do("set_registration", 1)
    assert _until(lambda: Outbox.get_by_id(row_id).state == "sent", queue)
    assert [sent.text for sent in modem.sent] == ["Tracking number TRK123456."]


def test_a_stop_reply_opts_the_caller_out_while_the_modem_listens(queue, modem):
    queue.channels["sms"].listen()
    assert _until(lambda: queue.channels["sms"]._modem is not None)
    modem.do("deliver_sms", CALLER, "STOP")
    assert _until(lambda: bool(Lead.get_or_none((Lead.phone == CALLER) & (Lead.sms_opt_out == True))))  # noqa: E712
    row_id = _text("after-stop", "One more thing")
    queue.wake(row_id)
    queue.drain()
    assert Outbox.get_by_id(row_id).state == "failed" and modem.sent == []
    assert modem.simulator.storage == {} or all(not stored for stored in modem.simulator.storage.values())


def test_a_missing_modem_keeps_texts_queued(settings, records):
    gone = dataclasses.replace(settings, modem=dataclasses.replace(settings.modem, device="/dev/nonexistent-modem"))
    queue = make_queue(gone)
    try:
        row_id = _text("no-modem", "Hello")
        queue.wake(row_id)
        queue.drain()
        row = Outbox.get_by_id(row_id)
        assert row.state == "queued" and "cannot open /dev/nonexistent-modem" in row.last_error
    finally:
        queue.close()
