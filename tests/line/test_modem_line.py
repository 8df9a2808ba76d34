"""GSM calls on the modem itself: the SIM7600 twin (and its Quectel dialect) on two real pseudo-terminals, the
line server answering and placing calls on them, the real call service in the calls that talk, and each field
fault injected through the twin and survived.

Timing is only asserted from below (a frame every 20 ms cannot come faster than that); anything else is waited
for, with a generous limit, never raced.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import numpy as np
import pytest

from appliance import settings as settings_module
from appliance.bench import words
from appliance.callbacks import CallbackDialer
from appliance.errors import ApplianceError
from appliance.line import voiced
from appliance.line.modem import ModemCall, ModemLineServer, ModemUri, check_voice, dialled_number, parse_modem_uri
from appliance.modem.owner import ModemOwner
from appliance.modem.simulator import Simulator
from appliance.records.models import Call, Callback, Order
from appliance.service import CallService
from appliance.settings import Modem as ModemSettings

from serving import Serving
from speech import heard_as, phone_speech

WAIT_S = 5.0  # for what takes milliseconds
TALK_S = 90.0  # for what the real models say
CUSTOMER = "+15551234567"
TONE = (np.sin(2 * np.pi * 500 * np.arange(8000) / 8000) * 8000).astype(np.int16)  # 1 s the appliance says


# The URI


def test_a_modem_uri_gives_its_ports_and_dialect():
    assert parse_modem_uri("modem:///dev/ttyUSB2?audio=/dev/ttyUSB4") == ModemUri("/dev/ttyUSB2", "/dev/ttyUSB4")
    assert parse_modem_uri(" modem:///dev/pts/3?audio=/dev/pts/4&dialect=quectel ") == \
        ModemUri("/dev/pts/3", "/dev/pts/4", "quectel")
    assert parse_modem_uri("modem:///dev/ttyUSB2?audio=sound:EC25&dialect=quectel") == \
        ModemUri("/dev/ttyUSB2", "sound:EC25", "quectel")


@pytest.mark.parametrize("uri, says", [
    ("sip://0.0.0.0:5060", "modem://AT_PORT?audio=AUDIO_PORT"),
    ("modem:///dev/ttyUSB2", "audio= names the modem's audio port"),
    ("modem://ttyUSB2?audio=/dev/ttyUSB4", "the AT port is a device path"),
    ("modem:///dev/ttyUSB2?audio=/dev/ttyUSB4&dialect=huawei", "unknown dialect 'huawei'"),
    ("modem:///dev/ttyUSB2?audio=/dev/ttyUSB4&baud=9600", "unknown option baud"),
    ("modem:///dev/ttyUSB2?audio=/dev/a&audio=/dev/b", "given twice"),
    ("modem:///dev/ttyUSB2?audio", "is not NAME=VALUE"),
    ("modem:///dev/ttyUSB2?audio=sound:EC25", "is the Quectel's (add &dialect=quectel)"),
    ("modem:///dev/ttyUSB2?audio=sound:&dialect=quectel", "audio=sound:NAME names the sound card"),
])
def test_a_bad_modem_uri_says_what_is_wrong(uri, says):
    with pytest.raises(ApplianceError) as bad:
        parse_modem_uri(uri)
    assert bad.value.code == "line-uri-invalid" and says in bad.value.message


def test_a_callback_target_is_dialled_as_its_number():
    assert [dialled_number(t) for t in ("+1 (555) 010-9999", "tel:+15550109999", "sip:+15550109999@10.0.0.1:5060")] \
        == ["+15550109999"] * 3


# The twin, the server and a caller that needs no models


@pytest.fixture
async def twin(tmp_path):
    async with Simulator(link_dir=tmp_path / "modem", signal=18) as running:
        running.restart_s = 0.1
        yield running


@pytest.fixture
async def quectel(tmp_path):
    async with Simulator(link_dir=tmp_path / "quectel", dialect="quectel", signal=18) as running:
        running.restart_s = 0.1
        yield running


class Answerer:
    """An on_call that says a tone, keeps the keys, and hangs up after '#'."""

    def __init__(self):
        self.lines = []
        self.keys: list[str] = []

    async def __call__(self, line) -> None:
        self.lines.append(line)
        line.play(TONE)
        async for _ in line.audio():
            self.keys.extend(line.take_keys())
            if "#" in self.keys:
                await line.hangup()


@pytest.fixture
async def servers():
    """`await servers(twin, on_call, statuses=[], **options)`: a line server that opens the twin itself, started;
    each status it reports goes into `statuses`. All are closed after the test."""
    started = []

    async def start(twin, on_call, statuses: list | None = None, **options) -> ModemLineServer:
        statuses = [] if statuses is None else statuses
        started.append(ModemLineServer.open(twin.path, twin.audio_path, on_call, dialect=twin.dialect.name,
                                            timeout_s=WAIT_S, on_status=statuses.append, **options))
        return await started[-1].start()

    yield start
    for server in started:
        await server.close()


async def until(condition, timeout_s: float = WAIT_S) -> None:
    async def poll():
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout_s)


def idle(twin, server) -> bool:
    """No call on the modem, PCM off, nothing left in the line server."""
    return not twin.in_call and not twin.audio_enabled and server.line is None and not server.in_call


async def answered(twin, server, number: str = CUSTOMER):
    """A call rings and the server hands its line to on_call; the line."""
    before = len(server.calls)
    twin.ring(number)
    await until(lambda: server.line is not None and len(server.calls) == before)
    return server.line


async def call_over(twin, server, count: int) -> ModemCall:
    """Wait until the server has cleaned up its `count`th call and the modem is idle; that call."""
    await until(lambda: len(server.calls) >= count and idle(twin, server))
    return server.calls[count - 1]


@pytest.mark.parametrize("dialect", ["sim7600", "quectel"])
async def test_keys_reach_the_line_and_the_appliance_hangs_up(tmp_path, servers, dialect):
    async with Simulator(link_dir=tmp_path / "modem", dialect=dialect) as twin:
        answerer = Answerer()
        server = await servers(twin, answerer)
        line = await answered(twin, server)
        started = time.monotonic()
        assert line.caller_id == CUSTOMER and not line.can_transfer
        await until(lambda: len(twin.heard()) >= 8000)
        assert time.monotonic() - started >= 0.8  # a frame per 20 ms tick, not a burst
        twin.press_keys("12#")
        call = await call_over(twin, server, 1)
        assert answerer.keys == ["1", "2", "#"]
        assert call == ModemCall("in", CUSTOMER, "answered", "appliance")
        assert voiced(twin.heard()[:8000])  # the tone reached the caller


async def test_the_caller_hangs_up(twin, servers):
    server = await servers(twin, Answerer())
    line = await answered(twin, server)
    twin.remote_hang_up()
    assert (await call_over(twin, server, 1)).ended_by == "caller" and line.hung_up_by == "caller"


async def test_a_withheld_number_is_answered_with_no_caller_id(twin, servers):
    server = await servers(twin, Answerer())
    assert (await answered(twin, server, "")).caller_id is None
    twin.remote_hang_up()
    await call_over(twin, server, 1)


@pytest.mark.parametrize("outcome, code", [("busy", "line-busy"), ("no-answer", "line-no-answer"),
                                           ("no-carrier", "line-call-failed")])
async def test_a_dial_that_is_not_answered_says_why_as_sip_does(twin, servers, outcome, code):
    server = await servers(twin, Answerer())
    twin.script_dial("+15550199", outcome, after_s=0.05)
    with pytest.raises(ApplianceError) as failed:
        await server.place_call("+15550199", ring_timeout_s=WAIT_S)
    assert failed.value.code == code
    assert idle(twin, server) and server.calls[-1].outcome == outcome and server.free_calls() == 1


# The field's faults


async def test_one_way_audio_is_hung_up_and_the_modem_reset(twin, servers):
    answerer = Answerer()
    statuses = []
    server = await servers(twin, answerer, statuses=statuses, first_audio_s=1.0)
    twin.mute_audio(to_appliance=True)
    twin.ring(CUSTOMER)
    call = await call_over(twin, server, 1)
    assert call.outcome == "one-way-audio" and answerer.lines == []  # the caller is let go, not left in silence
    await until(lambda: twin.boots == 1 and server.status.state == "listening")  # AT+CRESET, and back
    assert "recovering" in [status.state for status in statuses]
    assert server.last_fault.kind == "one-way-audio" and server.last_fault.recovered_at is not None
    assert "last fault: one-way audio" in server.status.detail

    twin.mute_audio(False, False)  # the restart mended it
    await answered(twin, server)
    twin.remote_hang_up()
    assert (await call_over(twin, server, 2)).outcome == "answered"


async def test_an_audio_port_that_dies_after_the_first_call_is_mended_by_a_reset(twin, servers):
    server = await servers(twin, Answerer(), first_audio_s=1.0)
    twin.audio_dies_after_a_call()
    await answered(twin, server)
    twin.remote_hang_up()
    await call_over(twin, server, 1)

    twin.ring(CUSTOMER)  # says OK to PCM on, carries nothing
    assert (await call_over(twin, server, 2)).outcome == "one-way-audio"
    await until(lambda: twin.boots == 1 and server.status.state == "listening")

    line = await answered(twin, server)
    await until(lambda: voiced(twin.heard()))  # both ways again
    assert line.received or line.position_ms
    twin.remote_hang_up()
    assert (await call_over(twin, server, 3)).outcome == "answered"


async def test_an_audio_port_that_will_not_open_is_mended_by_a_reset(twin, servers):
    server = await servers(twin, Answerer())
    os.unlink(twin.audio_path)  # the audio device node is gone, the AT port still answers
    twin.ring(CUSTOMER)
    assert (await call_over(twin, server, 1)).outcome == "audio-port-failed"
    await until(lambda: twin.boots == 1 and server.status.state == "listening")  # the restart brought it back
    await answered(twin, server)
    twin.remote_hang_up()
    assert (await call_over(twin, server, 2)).outcome == "answered"


async def test_the_modem_re_enumerating_mid_call_ends_the_call_and_it_is_reopened(twin, servers):
    statuses = []
    server = await servers(twin, Answerer(), statuses=statuses)
    line = await answered(twin, server)
    twin.reenumerate(gone_s=0.3)
    call = await call_over(twin, server, 1)  # the modem carried the call on: it was hung up once the ports came back
    assert call.outcome == "modem-gone" and line.hung_up_by == "line"
    await until(lambda: server.status.state == "listening")
    failed = [status for status in statuses if status.state == "failed"]
    assert failed and failed[0].detail.startswith("modem gone") and failed[0].health == "fail"
    assert server.last_fault.kind == "modem-gone" and twin.enumerations == 2 and twin.boots == 0

    await answered(twin, server)
    twin.remote_hang_up()
    assert (await call_over(twin, server, 2)).outcome == "answered"


async def test_a_modem_that_is_not_there_at_start_is_opened_once_it_comes(tmp_path, servers):
    twin = Simulator(link_dir=tmp_path / "modem")  # the paths are known before the modem is plugged in
    server = ModemLineServer.open(str(tmp_path / "modem/at"), str(tmp_path / "modem/audio"), Answerer(),
                                  timeout_s=WAIT_S)
    await server.start()
    try:
        assert server.status.state == "failed" and "modem gone" in server.status.detail
        async with twin:
            await until(lambda: server.status.state == "listening")
            await answered(twin, server)
            twin.remote_hang_up()
            await call_over(twin, server, 1)
    finally:
        await server.close()


async def test_with_the_modem_s_owner_calls_are_answered_texts_go_out_and_a_lost_modem_comes_back(twin):
    owner = ModemOwner(ModemSettings(device=twin.path, timeout_s=WAIT_S), on_event=lambda event: None,
                       reopen_first_s=0.1)
    await owner.start()
    server = ModemLineServer(await owner.opened(), twin.audio_path, Answerer(), open_modem=owner.opened)
    owner.on_call_event, owner.on_reopened = server.handle_event, server.modem_back
    try:
        await server.start()
        assert server.uri == f"modem://{twin.path}?audio={twin.audio_path}" and server.status.state == "listening"
        await answered(twin, server)
        await owner.send_sms("+15550142", "Sent while the caller talks.")
        assert twin.sent[-1].text == "Sent while the caller talks." and twin.in_call
        twin.reenumerate(gone_s=0.2)
        assert (await call_over(twin, server, 1)).outcome == "modem-gone"  # hung up on the modem once it was back
        await until(lambda: server.status.state == "listening" and not owner.gone)
        await answered(twin, server)
        twin.remote_hang_up()
        assert (await call_over(twin, server, 2)).outcome == "answered"
    finally:
        await server.close()
        await owner.close()


async def test_a_call_dropped_mid_answer_ends_cleanly_and_is_recorded_as_dropped(twin, servers):
    server = await servers(twin, Answerer())
    twin.ring(CUSTOMER)
    await until(lambda: twin.in_call, WAIT_S)
    twin.drop_call()  # the network drops it as the appliance picks up
    call = await call_over(twin, server, 1)
    assert call.outcome == "dropped" and call.ended_by in (None, "dropped")
    assert server.last_fault.kind == "call-dropped" and server.status.state == "listening"

    line = await answered(twin, server)  # and dropped mid-call
    twin.drop_call()
    assert (await call_over(twin, server, 2)) == ModemCall("in", CUSTOMER, "dropped", "dropped")
    assert line.hung_up_by == "dropped"


async def test_no_network_is_said_and_callbacks_wait_for_it(twin, servers):
    server = await servers(twin, Answerer())
    twin.set_registration(2)  # searching
    await until(lambda: server.status.state == "failed")
    assert server.status.detail.startswith("no network") and server.free_calls() == 0
    with pytest.raises(ApplianceError) as failed:
        await server.place_call("+15550199")
    assert failed.value.code == "line-no-network" and not twin.dialing
    dialer = CallbackDialer(SimpleNamespace(active={}), server, settings_module.load())
    assert dialer.free_slots() == 0  # due callbacks wait for the network instead of using up their attempts
    twin.set_registration(1)
    await until(lambda: server.status.state == "listening")
    assert server.free_calls() == 1 and dialer.free_slots() == 1 and server.last_fault.recovered_at is not None
    await answered(twin, server)
    twin.remote_hang_up()
    await call_over(twin, server, 1)


async def test_the_voice_check_sees_the_audio_port_and_the_last_fault(twin, servers, tmp_path):
    health = tmp_path / "modem-voice.json"
    status, said = await check_voice(twin.path, twin.audio_path, health_path=health)
    assert status == 0 and f"audio port {twin.audio_path} opens" in said[0] and "AT+CPCMREG? answers +CPCMREG: 0" \
        in said[1]
    server = await servers(twin, Answerer(), health_path=health)
    await answered(twin, server)
    twin.drop_call()
    await call_over(twin, server, 1)
    status, said = await check_voice(twin.path, twin.audio_path, health_path=health)
    assert status == 0 and "appliance serve holds the modem" in said[0] and "call dropped" in said[-1]
    status, said = await check_voice(twin.path, str(tmp_path / "nothing"), health_path=health)
    assert status == 2 and "does not exist" in said[0]


# Whole calls with the real models


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    base = settings_module.load()
    settings = dataclasses.replace(base, paths=dataclasses.replace(base.paths, data_dir=tmp_path_factory.mktemp("gsm")),
                                   line=dataclasses.replace(base.line, max_calls=1, ring_timeout_s=10))
    service = CallService(settings)
    yield service
    service.close()


async def next_event(events: asyncio.Queue, kind: str, timeout_s: float = TALK_S):
    async def first():
        while (event := await events.get()).kind != kind:
            pass
        return event

    return await asyncio.wait_for(first(), timeout_s)


def now(line) -> tuple[float, int]:
    """Where the call is: its position (the caller's timeline) and the reply frames sent so far."""
    return line.position_ms, line.playback.frames_sent


async def said_since(twin, line, mark: tuple[float, int] = (0.0, 0)) -> np.ndarray:
    """Wait until the appliance has said something after `mark` (`now(line)`) and finished; what the caller heard
    of it."""
    mark_ms, mark_frames = mark
    await until(lambda: any(at >= mark_ms for at in line.playback.sent_voiced_at) and not line.playing
                and not line.playback.more_coming, TALK_S)
    sent_samples = line.playback.frames_sent * 160
    await until(lambda: len(twin.heard()) >= sent_samples - 2 * 160)  # the last frames on their way through the pty
    return twin.heard()[mark_frames * 160:]


def heard_words(service, pcm: np.ndarray) -> list[str]:
    return words(service.transcriber.transcribe(pcm, 8000).text)


async def test_a_caller_asks_the_refund_policy_and_hears_it_while_a_text_goes_out(service, twin, servers):
    events = service.bus.listen()
    server = await servers(twin, service.answer)
    line = await answered(twin, server)
    await said_since(twin, line)  # the greeting
    mark = now(line)
    twin.say(phone_speech("What is your refund policy?"))
    references = await server.modem.send_sms("+15550142", "Your ticket number is 4417.")  # the outbox, mid-call
    assert references and twin.sent[-1].text == "Your ticket number is 4417." and twin.in_call
    finished = await next_event(events, "reply-finished")
    assert finished.data["intent"] == "policy_query"
    answer = heard_words(service, await said_since(twin, line, mark))
    answered_s = twin.caller.first_voiced_heard_after(twin.caller.last_voiced_s)
    print(f"voice to voice on the modem twin: {(answered_s - twin.caller.last_voiced_s) * 1000:.0f} ms")  # measured
    assert "30" in answer or "thirty" in answer, " ".join(answer)
    twin.remote_hang_up()
    assert (await call_over(twin, server, 1)).ended_by == "caller"
    ended = await next_event(events, "call-ended", WAIT_S)
    assert ended.data["ended_by"] == "caller" and not service.active
    service.bus.forget(events)


async def test_keyed_digits_reach_the_dialogue_and_a_person_is_offered_as_a_callback(service, quectel, servers):
    Order.create(order_id="48213", phone=CUSTOMER, status="shipped", product="router", estimated_delivery="Friday")
    events = service.bus.listen()
    twin = quectel
    server = await servers(twin, service.answer)
    line = await answered(twin, server)
    await said_since(twin, line)
    mark = now(line)
    twin.press_keys("48213#")
    heard = await next_event(events, "caller-heard")
    assert heard.data["keyed"] and heard.data["text"] == "48213"
    assert (await next_event(events, "reply-finished")).data["intent"] == "order_status"
    reply = heard_words(service, await said_since(twin, line, mark))
    assert heard_as(reply, "shipped") or heard_as(reply, "friday"), " ".join(reply)

    twin.say(phone_speech("Can I speak to a human please?"))
    mark = now(line)
    asked = (await next_event(events, "caller-heard")).data["text"]
    # A GSM line cannot transfer: the dialogue offers a callback from the person instead of "connecting you".
    assert (await next_event(events, "reply-finished")).data["intent"] == "callback_request", asked
    offer = heard_words(service, await said_since(twin, line, mark))
    assert "back" in offer and any(word.startswith("call") for word in offer), " ".join(offer)
    twin.remote_hang_up()
    await call_over(twin, server, 1)
    service.bus.forget(events)


async def test_a_due_callback_is_dialled_with_atd_and_the_callee_hears_who_calls_and_why(service, twin, servers):
    number = "+15550123"
    moment = datetime.now(timezone.utc) - timedelta(seconds=1)
    row = Callback.create(phone=number, at=moment.isoformat(), at_utc=moment.isoformat(timespec="seconds"),
                          reason="order_status")
    server = await servers(twin, service.answer)
    twin.script_dial(number, "answered", after_s=0.2)
    dialer = CallbackDialer(service, server, service.settings)
    attempt = (await dialer.sweep())[0]
    await until(lambda: server.line is not None, WAIT_S)
    line = server.line
    assert line.caller_id == number
    heard = heard_words(service, await said_since(twin, line))
    company = service.company.name.lower()[:4]  # Whisper may write the name as one word or two
    assert heard_as(heard, "back") and heard_as(heard, "order") and heard_as(heard, company), " ".join(heard)
    twin.remote_hang_up()
    assert await asyncio.wait_for(attempt, WAIT_S) == "answered"
    assert Callback.get_by_id(row.id).state == "done"
    assert (await call_over(twin, server, 1)) == ModemCall("out", number, "answered", "caller")
    assert Call.select().where(Call.caller_id == number).count() == 1


# `appliance serve` itself on the modem line


async def test_appliance_serve_answers_the_twin_and_its_worker_texts_go_through_it(service, twin, tmp_path):
    """The README's command for a SIM-only office, as a user runs it: serve holds the modem, answers a caller on it
    from audio, and takes the worker's texts on its socket."""
    uri = f"modem://{twin.path}?audio={twin.audio_path}"
    env = {**os.environ, "APPLIANCE_PATHS_DATA_DIR": str(tmp_path / "data"), "APPLIANCE_LINE_LISTEN": uri}
    serving = await Serving.start(env)

    draining = None
    try:
        await asyncio.wait_for(serving.read_until("knowledge:"), TALK_S)  # ready, and the refund policy indexed
        draining = asyncio.create_task(serving.read_until("never said"))  # a full pipe would stop serve mid-sentence
        twin.ring(CUSTOMER)
        await until(lambda: twin.in_call and twin.audio_enabled, TALK_S)
        await until(lambda: voiced(twin.heard()[-1600:]), TALK_S)  # the greeting
        await until(lambda: not voiced(twin.heard()[-8000:]), TALK_S)  # ...and a second of quiet after it
        mark, logged = len(twin.heard()), len(serving.said)
        twin.say(phone_speech("What is your refund policy?"))
        # serve logs each call event: once the reply is finished and has been heard out, what the caller heard
        await until(lambda: serving.logged_since(logged, "reply-finished"), 2 * TALK_S)
        await until(lambda: not voiced(twin.heard()[-8000:]), TALK_S)
        answer = heard_words(service, twin.heard()[mark:])
        assert "30" in answer or "thirty" in answer, " ".join(answer)

        from appliance.actions.sms import ModemTexter

        texter = ModemTexter(dataclasses.replace(service.settings.modem, owner="serve", device=twin.path),
                             socket_path=tmp_path / "data" / "modem.sock")
        sent = await texter.send(SimpleNamespace(recipient="+15550142", body="Your callback is booked."))
        assert sent.startswith("sms:")  # the worker's text, mid-call, through serve
        assert twin.sent[-1].text == "Your callback is booked." and twin.in_call
        twin.remote_hang_up()
        await until(lambda: not twin.in_call and not twin.audio_enabled)
    finally:
        await serving.stop(draining, TALK_S)
