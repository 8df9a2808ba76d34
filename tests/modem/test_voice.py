"""Voice calls on the modem: the twin (SIM7600 and Quectel EC25 dialects) and the driver together over real
pseudo-terminals through pyserial, the call's audio on the second terminal through AudioPort.

Timing is only ever asserted from below (a frame every 20 ms cannot arrive faster than that); anything a
slow machine could delay is waited for, never raced.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import numpy as np
import pytest

from appliance.modem import at
from appliance.modem.audio_port import AudioPort
from appliance.modem.driver import (CallEnded, CallStarted, IncomingCall, KeyPressed, ModemError, ModemLost, Status,
                                    open_serial)
from appliance.modem.sim7600 import Sim7600
from appliance.modem.simulator import Simulator
from appliance.modem.voice_twin import VoiceChannel, call_time

WAIT_S = 2.0  # how long a test waits for something that takes milliseconds
QUIET_S = 0.3  # how long a test listens to be sure nothing comes (15 audio ticks)
CUSTOMER = "+15551234567"
SHOP = "+15557654321"
# The caller's voice: ten frames of a sawtooth with negative samples (a byte-order mistake shows), then silence.
VOICE = ((np.arange(1600) * 37) % 20000 - 10000).astype(np.int16)
# What the appliance says: ten frames of a 500 Hz tone.
TONE = (np.sin(2 * np.pi * 500 * np.arange(1600) / 8000) * 12000).astype(np.int16)


@pytest.fixture(params=["sim7600", "quectel"])
async def twin(request, tmp_path):
    """The modem twin with stable port names, as udev gives a real one: tmp_path/modem/at and .../audio."""
    async with Simulator(link_dir=tmp_path / "modem", dialect=request.param, signal=18) as running:
        running.restart_s = 0.1
        yield running


@pytest.fixture
async def phone(twin):
    """The driver on the twin's AT port, speaking its dialect."""
    async with open_serial(twin.path, dialect=twin.dialect.name, timeout_s=WAIT_S) as modem:
        yield modem


@pytest.fixture
async def audio(twin):
    """The appliance's end of the twin's audio port."""
    port = AudioPort(twin.audio_path)
    yield port
    port.close()


async def event(modem, kind):
    """The next event of that kind, passing over others; fails after WAIT_S."""
    async def first():
        while not isinstance(found := await modem.events.get(), kind):
            pass
        return found

    return await asyncio.wait_for(first(), WAIT_S)


def waiting(modem) -> list:
    """The events that came and were not taken yet."""
    found = []
    while not modem.events.empty():
        found.append(modem.events.get_nowait())
    return found


async def until(condition) -> None:
    """Wait for `condition()` to hold; fails after WAIT_S."""
    async def poll():
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), WAIT_S)


async def frames(port: AudioPort, count: int) -> np.ndarray:
    return np.concatenate([await asyncio.wait_for(port.read_frame(), WAIT_S) for _ in range(count)])


async def no_frame(port: AudioPort) -> bool:
    """Whether the audio goes quiet: a few frames already on their way are read, then none comes for QUIET_S."""
    for _ in range(15):
        try:
            await asyncio.wait_for(port.read_frame(), QUIET_S)
        except asyncio.TimeoutError:
            return True
    return False


async def answered(twin, phone) -> None:
    """A call from CUSTOMER rings and the appliance picks it up."""
    twin.ring(CUSTOMER)
    assert await event(phone, IncomingCall) == IncomingCall(CUSTOMER)
    await phone.answer()
    await event(phone, CallStarted)
    assert twin.in_call


# Calls and their audio


async def test_an_answered_call_carries_audio_both_ways_in_20_ms_frames(twin, phone, audio):
    await answered(twin, phone)
    twin.say(VOICE)
    await phone.start_audio()
    started = time.monotonic()
    heard = [await asyncio.wait_for(audio.read_frame(), WAIT_S) for _ in range(25)]
    elapsed = time.monotonic() - started
    assert all(frame.dtype == np.int16 and frame.shape == (160,) for frame in heard)
    received = np.concatenate(heard)
    assert np.array_equal(received[:len(VOICE)], VOICE)
    assert not received[len(VOICE):].any()  # then silence
    assert elapsed >= 0.3  # 25 frames take 24 ticks of 20 ms: paced, not a burst

    before = time.monotonic()
    for frame in TONE.reshape(-1, 160):
        audio.write_frame(frame)
    await until(lambda: len(twin.heard()) >= len(TONE))
    assert np.array_equal(twin.heard(), TONE)
    stamps = [at_s for at_s, _ in twin.caller.heard_chunks]
    assert stamps == sorted(stamps) and before <= stamps[0] <= time.monotonic()


async def test_the_caller_hangs_up_and_the_audio_stops(twin, phone, audio):
    await answered(twin, phone)
    await phone.start_audio()
    await frames(audio, 2)
    twin.remote_hang_up()
    ended = await event(phone, CallEnded)
    assert ended.reason == "remote"
    assert ended.duration_s == (0 if twin.dialect.name == "sim7600" else None)  # VOICE CALL: END: 000000
    assert not twin.in_call and not twin.audio_on
    assert await no_frame(audio)


async def test_the_appliance_hangs_up(twin, phone):
    await answered(twin, phone)
    await phone.hang_up()
    ended = await event(phone, CallEnded)
    assert ended.reason == "local" and not twin.in_call
    assert (ended.duration_s is not None) == (twin.dialect.name == "sim7600")
    await phone.hang_up()  # no call: OK, and nothing ends
    await phone.command("AT")
    assert not [found for found in waiting(phone) if isinstance(found, CallEnded)]


async def test_refusing_a_ringing_call(twin, phone):
    twin.ring(CUSTOMER)
    await event(phone, IncomingCall)
    await phone.hang_up()
    assert await event(phone, CallEnded) == CallEnded("local")
    assert twin.ringing_from is None and not twin.in_call


async def test_sim7600_ath_does_nothing_until_cvhu_0(tmp_path):
    async with Simulator() as twin, open_serial(twin.path, timeout_s=WAIT_S) as phone:
        await answered(twin, phone)
        await phone.command("ATH")
        assert twin.in_call  # AT+CVHU=1, the factory setting: ATH is ignored, OK given
        await phone.command("AT+CVHU=0")
        await phone.command("ATH")
        assert not twin.in_call
        assert (await event(phone, CallEnded)).reason == "local"  # AT+CEER: Client ended call


async def test_keys_are_reported_once_detection_is_on(twin, phone):
    await answered(twin, phone)
    twin.press_keys("9")
    await asyncio.sleep(0.05)
    await phone.command("AT")
    assert not [found for found in waiting(phone) if isinstance(found, KeyPressed)]
    await phone.enable_keys()
    twin.press_keys("1#*", at_s=(0, 0.02, 0.04))
    assert [(await event(phone, KeyPressed)).key for _ in range(3)] == ["1", "#", "*"]
    assert twin.keys_pressed == ["9", "1", "#", "*"]


async def test_sim7600_starts_pcm_only_in_a_call_and_quectel_before_it(twin, phone, audio):
    if twin.dialect.name == "sim7600":
        with pytest.raises(ModemError) as refused:
            await phone.start_audio()
        assert refused.value.code == "modem-error"
        await answered(twin, phone)
        await phone.start_audio()
    else:
        await phone.start_audio()  # AT+QPCMV=1,0: voice over the USB port, armed before the call
        assert twin.audio_enabled and not twin.audio_on
        assert await no_frame(audio)
        await answered(twin, phone)
    assert len(await frames(audio, 3)) == 480
    await phone.stop_audio()
    assert await no_frame(audio)


# Dialling out


@pytest.mark.parametrize("outcome", ["answered", "busy", "no-answer", "no-carrier"])
async def test_dialling_out_returns_what_happened(twin, phone, outcome):
    twin.script_dial(SHOP, outcome, after_s=0.05)
    assert await phone.dial(SHOP) == outcome
    if outcome == "answered":
        await event(phone, CallStarted)
        assert twin.in_call
        await phone.hang_up()
    else:
        assert await event(phone, CallEnded) == CallEnded(outcome)
        assert not twin.in_call and twin.dialing is None


async def test_dialling_with_no_network_is_no_carrier(twin, phone):
    twin.set_registration(0)
    assert await phone.dial(SHOP) == "no-carrier"
    assert not twin.in_call


async def test_a_dial_the_modem_refuses_failed(twin, phone):
    twin.sim_present = False  # +CME ERROR: 10
    assert await phone.dial(SHOP) == "failed"


async def test_a_number_that_is_not_one_is_refused_before_the_modem_is_asked(twin, phone):
    with pytest.raises(ModemError) as refused:
        await phone.dial("call me")
    assert (refused.value.code, refused.value.permanent) == ("modem-dial-invalid", True)


async def test_an_unanswered_dial_is_hung_up_after_the_timeout(twin, phone):
    twin.script_dial(SHOP, "answered", after_s=10)  # rings on and on
    assert await phone.dial(SHOP, timeout_s=0.2) == "no-answer"
    assert twin.dialing is None and not twin.in_call


# Faults


async def test_the_network_drops_a_call(twin, phone):
    await answered(twin, phone)
    twin.drop_call()
    assert (await event(phone, CallEnded)).reason == "network"  # AT+CEER: Lower-layer ended call


async def test_losing_registration_drops_the_call(twin, phone):
    await answered(twin, phone)
    twin.set_registration(2)
    assert (await event(phone, CallEnded)).reason == "network"
    assert await phone.dial(SHOP) == "no-carrier"


@pytest.mark.parametrize("to_appliance, from_appliance", [(True, False), (False, True)])
async def test_one_way_audio(twin, phone, audio, to_appliance, from_appliance):
    twin.mute_audio(to_appliance, from_appliance)
    await answered(twin, phone)
    await phone.start_audio()  # OK all the same
    audio.write_frame(TONE[:160])
    if to_appliance:
        assert await no_frame(audio)
        await until(lambda: len(twin.heard()) == 160)
    else:
        assert len(await frames(audio, 3)) == 480
        await asyncio.sleep(QUIET_S)
        assert len(twin.heard()) == 0


async def test_an_audio_port_that_dies_after_the_first_call_until_a_reset(twin, phone, audio):
    twin.audio_dies_after_a_call()
    await answered(twin, phone)
    await phone.start_audio()
    assert len(await frames(audio, 2)) == 320
    await phone.hang_up()

    await answered(twin, phone)
    await phone.start_audio()  # says OK, carries nothing
    assert await no_frame(audio)
    await phone.hang_up()

    await phone.reset(timeout_s=WAIT_S)
    audio.close()  # the restart took the audio port away too
    async with AudioPort(twin.audio_path) as again:
        await answered(twin, phone)
        await phone.start_audio()
        assert len(await frames(again, 2)) == 320


async def test_re_enumeration_breaks_both_ports_and_they_reopen_at_the_same_paths(twin, phone, audio):
    await answered(twin, phone)
    await phone.start_audio()
    await frames(audio, 1)
    paths = twin.path, twin.audio_path
    twin.reenumerate(gone_s=0.1)

    assert isinstance(await event(phone, ModemLost), ModemLost)
    with pytest.raises(ModemError) as failed:
        await phone.command("AT")
    assert failed.value.code == "modem-io"
    with pytest.raises(ModemError) as failed:
        while True:
            await asyncio.wait_for(audio.read_frame(), WAIT_S)
    assert failed.value.code == "modem-audio-io"
    with pytest.raises(ModemError):
        audio.write_frame(TONE[:160])

    assert await phone.reopen(timeout_s=WAIT_S) == Status("ready", "home", -77)
    assert (twin.path, twin.audio_path) == paths and twin.enumerations == 2
    async with AudioPort(twin.audio_path) as again:  # the same path, a new device behind it
        assert len(await frames(again, 2)) == 320  # the call went on meanwhile
    await phone.hang_up()
    assert (await event(phone, CallEnded)).reason == "local"


async def test_reset_restarts_the_modem_and_sets_it_up_again(twin, phone):
    await answered(twin, phone)
    await phone.start_audio()
    assert await phone.reset(timeout_s=WAIT_S) == Status("ready", "home", -77)
    assert (twin.boots, twin.enumerations) == (1, 2)  # the ports went away and came back
    assert not twin.in_call and not twin.audio_enabled
    assert (twin.echo, twin.cmee, twin.clip, twin.cnmi[1]) == (False, 1, 1, 1)  # set up again from scratch
    assert not [found for found in waiting(phone) if isinstance(found, ModemLost)]
    twin.ring(CUSTOMER)
    assert await event(phone, IncomingCall) == IncomingCall(CUSTOMER)


async def test_reset_gives_up_on_a_modem_that_does_not_come_back(twin, phone):
    twin.restart_s = 60
    with pytest.raises(ModemError) as gone:
        await phone.reset(timeout_s=0.5)
    assert gone.value.code == "modem-gone"


# The twin's lines, byte for byte, as the manuals give them


class Captured(Sim7600):
    """The twin with no terminal: what it says is kept."""

    def __init__(self, **options):
        super().__init__(**options)
        self.said = bytearray()

    def output(self, data: bytes) -> None:
        self.said += data

    async def enter(self, line: str, wait_s: float = 0.0) -> bytes:
        """Type a command line; returns what the twin said within wait_s."""
        self.said.clear()
        self.receive(line.encode() + b"\r")
        await asyncio.sleep(wait_s)
        return bytes(self.said)


async def test_sim7600_call_lines():
    twin = Captured()
    await twin.enter("ATE0")
    twin.ring(CUSTOMER)
    assert await twin.enter("ATA", wait_s=0.01) == b"\r\nOK\r\n\r\nVOICE CALL: BEGIN\r\n"  # 3.6 ATA
    assert await twin.enter("AT+CPCMREG?") == b"\r\n+CPCMREG: 0\r\n\r\nOK\r\n"
    assert await twin.enter("AT+CPCMREG=1") == b"\r\nOK\r\n"
    await twin.enter("AT+DDET=1")
    twin.press_keys("5")
    assert await twin.enter("AT", wait_s=0.01) == b"\r\nOK\r\n\r\n+RXDTMF: 5\r\n"
    assert await twin.enter("AT+CHUP") == b"\r\nVOICE CALL: END: 000000\r\n\r\nOK\r\n"  # 6.2 AT+CHUP
    assert await twin.enter("AT+CHUP") == b"\r\nOK\r\n"  # no call
    twin.ring(CUSTOMER)
    twin.said.clear()
    twin.remote_hang_up()
    assert twin.said.endswith(b"\r\nVOICE CALL: END: 000000\r\n\r\nNO CARRIER\r\n")
    assert await twin.enter("AT+CEER") == b"\r\n+CEER: Normal call clearing\r\n\r\nOK\r\n"
    twin.script_dial(SHOP, "busy", after_s=0)
    assert await twin.enter(f"ATD{SHOP};", wait_s=0.01) == b"\r\nOK\r\n\r\nBUSY\r\n"  # OK at once, the outcome after
    twin.stop()


async def test_quectel_call_lines():
    twin = Captured(dialect="quectel")
    await twin.enter("ATE0")
    twin.ring(CUSTOMER)
    assert await twin.enter("ATA", wait_s=0.01) == b"\r\nOK\r\n"  # no VOICE CALL lines
    assert await twin.enter("AT+QPCMV=1,0") == b"\r\nOK\r\n"
    assert await twin.enter("AT+QPCMV?") == b"\r\n+QPCMV: 1,0\r\n\r\nOK\r\n"
    await twin.enter("AT+QTONEDET=1")
    twin.press_keys("5")
    assert await twin.enter("AT", wait_s=0.01) == b"\r\nOK\r\n\r\n+QTONEDET: 53\r\n"  # the key's ASCII code
    twin.said.clear()
    twin.remote_hang_up()
    assert bytes(twin.said) == b"\r\nNO CARRIER\r\n"
    twin.script_dial(SHOP, "answered", after_s=0.01)
    assert await twin.enter(f"ATD{SHOP};") == b""  # the final result waits for the outcome
    await asyncio.sleep(0.05)
    assert bytes(twin.said) == b"\r\nOK\r\n" and twin.in_call
    assert await twin.enter("AT+CRESET") == b"\r\nERROR\r\n"  # Quectel restarts with AT+CFUN=1,1
    twin.stop()


@pytest.mark.parametrize("dialect, boot", [
    ("sim7600", b"\r\nRDY\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n\r\nPB DONE\r\n"),
    ("quectel", b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n\r\n+QIND: SMS DONE\r\n"
                b"\r\n+QIND: PB DONE\r\n"),
])
async def test_a_restart_answers_ok_then_boots(dialect, boot):
    twin = Captured(dialect=dialect)
    twin.cmee, twin.echo = 2, False
    restart = "AT+CFUN=1,1" if dialect == "quectel" else "AT+CRESET"
    assert await twin.enter(restart, wait_s=twin.restart_delay_s + 0.05) == b"\r\nOK\r\n" + boot
    assert (twin.boots, twin.cmee, twin.echo) == (1, 0, True)  # factory settings again
    twin.stop()


# The parts, without terminals


@pytest.mark.parametrize("data, expected", [
    (b"\r\nVOICE CALL: BEGIN\r\n", [at.VoiceCallBegan()]),
    (b"\r\nVOICE CALL:END:000017\r\n", [at.VoiceCallEnded(17)]),  # as the manual's own example writes it
    (b"\r\nVOICE CALL: END: 012345\r\n", [at.VoiceCallEnded(3600 + 23 * 60 + 45)]),
    (b"\r\nVOICE CALL: END: soon\r\n", [at.VoiceCallEnded(None)]),
    (b"\r\n+RXDTMF: #\r\n+RXDTMF: b\r\n", [at.KeyReported("#"), at.KeyReported("B")]),
    (b"\r\n+QTONEDET: 42\r\n+QTONEDET: 65\r\n", [at.KeyReported("*"), at.KeyReported("A")]),
    (b"\r\n+QTONEDET: 7\r\n+RXDTMF: Z\r\n", [at.Unsolicited("+QTONEDET: 7"), at.Unsolicited("+RXDTMF: Z")]),
    (b"\r\nBUSY\r\n\r\nNO ANSWER\r\n", [at.CallResult("BUSY"), at.CallResult("NO ANSWER")]),
])
def test_the_parser_reads_call_lines(data, expected):
    assert at.AtParser().feed(data) == expected


def test_a_call_end_inside_an_answer_is_still_an_event():
    parser = at.AtParser()
    parser.command("AT+CHUP")
    assert parser.feed(b"\r\nVOICE CALL: END: 000003\r\n\r\nOK\r\n") == [at.VoiceCallEnded(3), at.Final("OK")]
    parser.command("AT+QTONEDET?")
    assert parser.feed(b"\r\n+QTONEDET: 1\r\n\r\nOK\r\n") == [at.Info("+QTONEDET: 1"), at.Final("OK")]


def test_the_voice_channel_says_its_script_then_silence_and_keeps_what_it_hears():
    channel = VoiceChannel()
    channel.say(VOICE[:200])
    first, second, third = channel.next_frame(), channel.next_frame(), channel.next_frame()
    assert np.array_equal(np.frombuffer(first + second[:80], "<i2"), VOICE[:200])
    assert second[80:] == bytes(240) and third == bytes(320)
    channel.hear(TONE[:3].astype("<i2").tobytes() + b"\x01", 1.0)
    assert np.array_equal(channel.heard(), TONE[:3])  # the odd byte waits for its pair
    assert call_time(3723.9) == "010203"


# The console


async def test_a_technician_runs_a_call_from_the_console(tmp_path):
    links = tmp_path / "modem"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "appliance.modem.simulator", "--quectel", "--link-dir", str(links),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        path = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
        audio_path = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
        assert (path, audio_path) == (str(links / "at"), str(links / "audio"))
        assert os.readlink(audio_path).startswith("/dev/pts/")
        process.stdin.write(b"help\n")
        await process.stdin.drain()
        help_text = b""
        while b"sent" not in help_text:
            help_text += await asyncio.wait_for(process.stderr.readline(), 10)
        for command in (b"say WAV", b"keys DIGITS", b"dial NUMBER OUTCOME", b"drop", b"mute", b"replug"):
            assert command in help_text
        async with open_serial(path, dialect="quectel", timeout_s=WAIT_S) as phone:
            process.stdin.write(b"dial +15550001111 busy\n")
            await process.stdin.drain()
            assert b"busy" in await asyncio.wait_for(process.stderr.readline(), 10)
            assert await phone.dial("+15550001111") == "busy"
    finally:
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 10) == 0
