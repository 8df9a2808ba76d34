"""One process holds the modem: serve's ModemOwner on the SIM7600 twin (a real pseudo-terminal), the worker's texts
through its real Unix socket, and what comes back (STOP, delivery reports, calls) heard by the owner."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from appliance import settings as settings_module
from appliance.actions import outbox
from appliance.actions.channels import DeliveryError
from appliance.actions.outbox import Message
from appliance.actions.queue import channels_for, deliver, make_queue
from appliance.actions.sms import ModemTexter
from appliance.errors import ApplianceError
from appliance.modem.driver import CallEnded, IncomingCall, ModemLost
from appliance.modem.owner import MODEM_SOCKET, ModemOwner, holder, request
from appliance.modem.report import MODEM_REPORT, read_report
from appliance.modem.simulator import Simulator
from appliance.records import open_database
from appliance.records.models import Lead, Outbox
from appliance.serve import hold_modem
from appliance.settings import Settings

CALLER = "+919876543210"
RINGING = "+15557654321"
WAIT_S = 5.0


@pytest.fixture
def settings(tmp_path, simulator) -> Settings:
    base = Settings()
    return dataclasses.replace(
        base, paths=dataclasses.replace(base.paths, data_dir=tmp_path),
        modem=dataclasses.replace(base.modem, device=simulator.path, timeout_s=3.0, owner="serve"),
        actions=dataclasses.replace(base.actions, retry_first_s=0.2, retry_max_s=0.4, max_attempts=4))


@pytest.fixture
def records(settings):
    db = open_database(settings.paths.data_dir / "appliance.db")
    yield db
    db.close()


def _owner(settings, **options) -> ModemOwner:
    data_dir = settings.paths.data_dir
    return ModemOwner(settings.modem, report_path=data_dir / MODEM_REPORT, socket_path=data_dir / MODEM_SOCKET,
                      **options)


@pytest.fixture
async def owner(settings, records):
    """serve's side: the owner started on this loop, holding the twin and serving modem.sock."""
    held = _owner(settings)
    await held.start()
    assert await _until(lambda: held.modem is not None)
    yield held
    await held.close()


def _texter(settings) -> ModemTexter:
    """The worker's sms channel as channels_for builds it when serve holds the modem."""
    texter = channels_for(settings)["sms"]
    assert texter.socket_path == settings.paths.data_dir / MODEM_SOCKET
    return texter


def _row(key: str, body: str, to: str = CALLER) -> Outbox:
    row, _ = outbox.put(Message(key, "sms", to, body))
    return row


async def _until(condition, seconds: float = WAIT_S) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def _opted_out(number: str) -> bool:
    return Lead.get_or_none((Lead.phone == number) & (Lead.sms_opt_out == True)) is not None  # noqa: E712


async def test_a_text_from_the_worker_process_leaves_through_the_modem_serve_holds(settings, owner, simulator):
    queue = make_queue(settings)
    row = _row("from-worker", "Your callback is booked for tomorrow at 10 AM.")
    queue.wake(row.id)
    env = {**os.environ, "APPLIANCE_PATHS_DATA_DIR": str(settings.paths.data_dir), "APPLIANCE_MODEM_OWNER": "serve",
           "APPLIANCE_MODEM_DEVICE": simulator.path, "APPLIANCE_ACTIONS_RETRY_FIRST_S": "0.2"}
    worker = subprocess.Popen([sys.executable, "-m", "appliance", "worker"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        assert await _until(lambda: Outbox.get_by_id(row.id).state == "sent", 20), Outbox.get_by_id(row.id).last_error
        descriptors = f"/proc/{worker.pid}/fd"
        held = {os.path.realpath(os.path.join(descriptors, fd)) for fd in os.listdir(descriptors)}
        assert os.path.realpath(simulator.path) not in held  # the worker never opened the port
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(timeout=30)
        queue.close()
    assert [(sent.number, sent.text) for sent in simulator.sent] == [
        (CALLER, "Your callback is booked for tomorrow at 10 AM.")]
    assert Outbox.get_by_id(row.id).reference == "sms:" + ",".join(map(str, simulator.sent[0].references))
    # The network's delivery report comes back to the owner, which records it for the worker's row.
    assert await _until(lambda: Outbox.get_by_id(row.id).delivery == "delivered")
    report = read_report(settings.paths.data_dir / MODEM_REPORT)
    assert (report.device, report.sim, report.registration, report.signal_dbm) == (simulator.path, "ready", "home", -77)


async def test_texts_go_out_while_a_call_rings_and_while_it_is_answered(settings, owner, simulator):
    heard = []
    owner.on_call_event = heard.append
    simulator.ring_interval_s = 0.1  # rings keep coming while the texts go
    simulator.ring(RINGING)
    assert await _until(lambda: IncomingCall(RINGING) in heard)
    texter = _texter(settings)
    assert (await texter.send(_row("ringing", "Sent while it rang"))).startswith("sms:")
    await owner.modem.answer()
    assert simulator.in_call and simulator.ringing_from is None
    assert (await texter.send(_row("answered", "Sent during the call"))).startswith("sms:")
    simulator.remote_hang_up()
    assert await _until(lambda: any(isinstance(event, CallEnded) for event in heard))
    assert [sent.text for sent in simulator.sent] == ["Sent while it rang", "Sent during the call"]


async def test_with_serve_down_a_text_waits_with_the_reason_and_goes_once_serve_is_up(settings, records, simulator):
    path = settings.paths.data_dir / MODEM_SOCKET
    queue = make_queue(settings)
    channels, now = queue.channels, datetime.now(timezone.utc)
    row = _row("while-down", "Tracking number TRK123456.")
    assert await deliver(row.id, channels, settings, now) is not None  # a wait before the next try
    waiting = Outbox.get_by_id(row.id)
    assert waiting.state == "queued" and waiting.attempts == 1
    assert waiting.last_error == f"the call service, which holds the modem, is not running (no {path})"

    stale = socket.socket(socket.AF_UNIX)  # what a killed serve leaves: the socket file, nobody listening
    stale.bind(str(path))
    try:
        await deliver(row.id, channels, settings, now + timedelta(hours=1))
        assert Outbox.get_by_id(row.id).last_error == (
            f"the call service, which holds the modem, is not running (nothing answers on {path})")
    finally:
        stale.close()
    assert simulator.sent == []

    held = _owner(settings)
    await held.start()
    try:
        assert await deliver(row.id, channels, settings, now + timedelta(hours=2)) is None
    finally:
        await held.close()
    assert Outbox.get_by_id(row.id).state == "sent"
    assert [sent.text for sent in simulator.sent] == ["Tracking number TRK123456."]
    assert not path.exists()  # serve's socket goes with it


async def test_a_stop_reply_through_the_owner_opts_the_sender_out(settings, owner, simulator):
    simulator.deliver_sms(CALLER, "STOP")
    assert await _until(lambda: _opted_out(CALLER))
    assert await _until(lambda: simulator.storage == {})
    row = _row("after-stop", "One more thing")
    assert await deliver(row.id, channels_for(settings), settings, datetime.now(timezone.utc)) is None
    assert Outbox.get_by_id(row.id).state == "failed" and simulator.sent == []


async def test_texts_that_came_while_the_owner_was_down_are_read_when_it_opens(settings, records, simulator):
    first = _owner(settings)
    await first.start()
    assert await _until(lambda: first.modem is not None)
    await first.close()  # serve stops (a restart, say)
    simulator.deliver_sms(CALLER, "stop")
    simulator.deliver_sms("+447700900123", "Thanks, got it")
    assert len(simulator.storage) == 2 and not _opted_out(CALLER)

    again = _owner(settings)
    await again.start()
    try:
        assert await _until(lambda: _opted_out(CALLER))
        assert await _until(lambda: simulator.storage == {})
        assert not _opted_out("+447700900123")
    finally:
        await again.close()


async def test_modem_errors_map_as_they_always_have_and_a_refused_text_leaves_the_modem_open(settings, owner,
                                                                                           simulator):
    texter = _texter(settings)
    opened = owner.modem
    simulator.fail_next("+CMGS", cms=332)  # network timeout: worth another try
    with pytest.raises(DeliveryError) as temporary:
        await texter.send(_row("timeout", "Hello"))
    assert not temporary.value.permanent and "network timeout" in str(temporary.value) and "332" in str(temporary.value)
    assert owner.modem is opened  # a call on the modem would go on

    simulator.fail_next("+CMGS", cms=21)  # short message transfer rejected: the same again cannot work
    with pytest.raises(DeliveryError) as permanent:
        await texter.send(_row("rejected", "Hello"))
    assert permanent.value.permanent and str(permanent.value).startswith("modem: AT+CMGS=")

    simulator.fail_next("+CMGS", cms=21)  # the same, in process (serve's own use)
    with pytest.raises(DeliveryError) as in_process:
        await owner.send_sms(CALLER, "Hello")
    assert in_process.value.permanent and str(in_process.value) == str(permanent.value)
    simulator.set_registration(2)
    with pytest.raises(DeliveryError, match="no network: the modem is searching") as searching:
        await texter.send(_row("searching", "Hello"))
    assert not searching.value.permanent and simulator.sent == []


async def test_a_modem_that_vanishes_is_opened_again_when_it_comes_back(settings, records, simulator, tmp_path):
    link = tmp_path / "appliance-modem-at"  # as the udev rule names it: the pty behind it changes on a replug
    link.symlink_to(simulator.path)
    held = _owner(dataclasses.replace(settings, modem=dataclasses.replace(settings.modem, device=str(link))),
                  report_every_s=0.2, reopen_first_s=0.05, reopen_wait_s=0.3)
    heard, back = [], []

    async def modem_back() -> None:
        back.append(held.modem)

    held.on_call_event, held.on_reopened = heard.append, modem_back
    await held.start()
    try:
        assert await _until(lambda: held.modem is not None)
        driver = held.modem
        await simulator.close()  # unplugged
        assert await _until(lambda: any(isinstance(event, ModemLost) for event in heard))  # the voice line is told
        assert held.gone and held.report.error
        with pytest.raises(DeliveryError) as gone:
            await held.send_sms(CALLER, "Hello")
        assert not gone.value.permanent and "no modem answered" in str(gone.value)
        async with Simulator() as replugged:
            replugged.deliver_sms(CALLER, "STOP")  # came while the modem was away: read when it is open again
            fresh = tmp_path / "fresh-link"
            fresh.symlink_to(replugged.path)
            os.replace(fresh, link)
            assert await _until(lambda: not held.gone and not held.report.error)
            assert held.modem is driver  # the same driver, for a voice line that holds it
            assert await _until(lambda: back == [driver])  # and the line is told it is back
            assert await held.send_sms(CALLER, "Back again")
            assert [sent.text for sent in replugged.sent] == ["Back again"]
            assert await _until(lambda: _opted_out(CALLER))
    finally:
        await held.close()


async def test_serve_holds_the_modem_only_when_the_settings_give_it(settings, records, simulator):
    auto = dataclasses.replace(settings, modem=dataclasses.replace(settings.modem, owner="auto"))
    assert holder(auto) == "worker"  # sip://0.0.0.0:5060: serve does not answer on the modem
    on_modem = dataclasses.replace(auto, line=dataclasses.replace(
        auto.line, listen=f"sip://0.0.0.0:5060, modem://{simulator.path}?audio=/dev/ttyUSB4"))
    assert holder(on_modem) == "serve"
    assert holder(dataclasses.replace(on_modem, modem=dataclasses.replace(on_modem.modem, owner="worker"))) == "worker"
    assert settings_module.load(environ={"APPLIANCE_MODEM_OWNER": "serve"}, panel_file=False).modem.owner == "serve"
    with pytest.raises(ApplianceError, match="settings-invalid"):
        settings_module.load(environ={"APPLIANCE_MODEM_OWNER": "panel"}, panel_file=False)
    assert channels_for(auto)["sms"].socket_path is None  # the worker holds it, as before

    assert await hold_modem(auto) is None
    held = await hold_modem(settings)
    try:
        path = settings.paths.data_dir / MODEM_SOCKET
        assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o660
        assert await _until(lambda: held.modem is not None)
        answer = await request(path, {"op": "status"}, WAIT_S)
        assert answer["ok"] and answer["open"] and answer["report"]["sim"] == "ready"
        refused = await request(path, {"op": "dial", "number": CALLER}, WAIT_S)
        assert not refused["ok"] and refused["permanent"] and "unknown op" in refused["error"]
    finally:
        await held.close()
