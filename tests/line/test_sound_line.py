"""Calls on a sound device: a real PortAudio device with no sound card (the ALSA twin: the `file` plugin over `null`,
paced by the twin's clock through a FIFO), the line board's JSON lines from a peer on a real pseudo-terminal, the
device unplugged and plugged back, and the echo of the appliance's own voice coming back through a hybrid.

Timing is only asserted from below (a frame every 20 ms of the device's clock cannot come faster); anything else
is waited for, with a generous limit, never raced.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import tty
from pathlib import Path

import numpy as np
import pytest

from appliance.audio.echo import EchoGate
from appliance.errors import ApplianceError
from appliance.line import voiced
from appliance.line.board import (Boot, BoardProtocol, CallerId, Hook, HungUp, Key, LineState, Malformed, Reply,
                                  Ring, RingEnd)
from appliance.line.sound import SoundCall, SoundLineServer, SoundUri, parse_sound_uri
from appliance.line.sound_port import SoundError, find_device, open_sound_port, scan
from appliance.line.sound_twin import SoundCardTwin
from appliance.modem.simulator import Simulator

WAIT_S = 5.0  # for what takes milliseconds
NUMBER = "+15551234567"
TONE = (np.sin(2 * np.pi * 500 * np.arange(8000) / 8000) * 8000).astype(np.int16)  # 1 s at the line rate


async def until(condition, timeout_s: float = WAIT_S) -> None:
    async def poll():
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout_s)


# The URI


def test_a_sound_uri_gives_its_device_board_and_rate():
    assert parse_sound_uri("sound://default") == SoundUri("default")
    assert parse_sound_uri(" sound://USB%20Audio?board=/dev/ttyACM0&rate=48000 ") == \
        SoundUri("USB Audio", "/dev/ttyACM0", 48000)
    assert parse_sound_uri("sound://2") == SoundUri("2")


@pytest.mark.parametrize("uri, says", [
    ("modem:///dev/ttyUSB2", "sound://DEVICE"),
    ("sound://", "no device named"),
    ("sound://USB?board=ttyACM0", "board= is the board's serial port"),
    ("sound://USB?rate=fast", "rate= is a sample rate"),
    ("sound://USB?volume=3", "unknown option volume"),
    ("sound://USB?board=/dev/a&board=/dev/b", "given twice"),
])
def test_a_bad_sound_uri_says_what_is_wrong(uri, says):
    with pytest.raises(ApplianceError) as bad:
        parse_sound_uri(uri)
    assert bad.value.code == "line-uri-invalid" and says in bad.value.message


def test_the_settings_and_serve_take_a_sound_line():
    from appliance import settings as settings_module
    from appliance.serve import parse_line_uri

    assert parse_line_uri("sound://USB?board=/dev/ttyACM0")[0] == "sound"
    loaded = settings_module.load(environ={"APPLIANCE_LINE_LISTEN": "sound://USB", "APPLIANCE_LINE_RINGS": "3"})
    assert loaded.line.listen == "sound://USB" and loaded.line.rings == 3
    with pytest.raises(Exception, match="board= is the board's serial port"):
        settings_module.load(environ={"APPLIANCE_LINE_LISTEN": "sound://USB?board=tty"})


# The board's words, from bytes


def test_the_board_s_events_are_read_from_json_lines_in_any_chunks():
    protocol = BoardProtocol()
    wire = (b'{"ev":"boot","version":"1.0.0","cadence":"na"}\n{"ev":"ring","n":1}\r\n{"ev":"ring-end"}\n'
            b'{"ev":"cid","number":"5551234567","name":"SMITH JOHN","time":"12071030","format":"mdmf"}\n'
            b'{"ev":"cid","time":"12071031","format":"sdmf","absent":"private"}\n{"ev":"hook","state":"off"}\n'
            b'{"ev":"dtmf","digit":"#"}\n{"ev":"hangup","why":"loop-drop"}\n{"ev":"line","state":"lost","volts":0.4}\n'
            b'{"id":3,"ok":true,"version":"1.0.0"}\n{"id":4,"ok":false,"error":"not ringing"}\n')
    said = []
    for start in range(0, len(wire), 7):  # USB delivers whatever chunks it likes
        said += protocol.receive_data(wire[start:start + 7])
    assert said == [Boot("1.0.0", "na"), Ring(1), RingEnd(),
                    CallerId("5551234567", "SMITH JOHN", "12071030", "mdmf"),
                    CallerId("", "", "12071031", "sdmf", "private"), Hook(True), Key("#"), HungUp("loop-drop"),
                    LineState(False, 0.4), Reply(3, True, data={"version": "1.0.0"}),
                    Reply(4, False, "not ringing")]


@pytest.mark.parametrize("line, why", [
    (b"RING", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"ev":"ring","n":0}', "a ring's n is a count from 1"),
    (b'{"ev":"hook","state":"sideways"}', "not an event the board sends"),
    (b'{"ev":"dtmf","digit":"12"}', "not an event the board sends"),
    (b'{"ev":"boot"}', "'version'"),
    (b'{"id":"7","ok":true}', "an answer needs an integer id"),
])
def test_a_malformed_line_is_said_to_be_one_and_the_next_line_is_read(line, why):
    protocol = BoardProtocol()
    first, second = protocol.receive_data(line + b'\n{"ev":"ring","n":2}\n')
    assert isinstance(first, Malformed) and why in first.why and second == Ring(2)


def test_a_runaway_line_is_dropped_and_commands_are_numbered():
    protocol = BoardProtocol()
    [runaway] = protocol.receive_data(b"x" * 2000)
    assert isinstance(runaway, Malformed) and protocol.receive_data(b'{"ev":"ring-end"}\n') == [RingEnd()]
    assert protocol.command("answer") == (1, b'{"cmd": "answer", "id": 1}\n')
    assert protocol.command("status")[0] == 2
    with pytest.raises(ValueError):
        protocol.command("dial")


# The echo gate, frame by frame (no device)


def speechlike(seconds: float, seed: int = 1) -> np.ndarray:
    """Noise shaped in syllables: loud and quiet every 200 ms or so, as speech is."""
    rng = np.random.default_rng(seed)
    samples = int(seconds * 8000)
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * (4 + seed) * np.arange(samples) / 8000 + seed)
    return (rng.normal(0, 3000, samples) * envelope).astype(np.int16)


def longest_voiced(frames: list[np.ndarray]) -> int:
    """The most voiced frames in a row."""
    longest = run = 0
    for frame in frames:
        run = run + 1 if voiced(frame) else 0
        longest = max(longest, run)
    return longest


def test_the_gate_silences_echo_from_the_first_frame_and_lets_a_louder_caller_through():
    gate = EchoGate()
    played = speechlike(4)
    echo = np.concatenate([np.zeros(240, np.int16), (played[:-240] * 0.5).astype(np.int16)])  # -6 dB, 30 ms late
    heard = [gate.frame(echo[at:at + 160], played[at:at + 160], echo[at:at + 160]) for at in range(0, 32000, 160)]
    assert not any(voiced(frame) for frame in heard)  # not one frame of its own voice reaches the VAD
    assert gate.report().erl_db == pytest.approx(6, abs=1.5) and gate.report().coupling_db < -3
    caller = speechlike(1, seed=2) * 2  # a caller speaking up over the appliance
    mixed = (caller[:8000].astype(np.int32) + echo[:8000]).clip(-32768, 32767).astype(np.int16)
    passed = [gate.frame(mixed[at:at + 160], played[at:at + 160], mixed[at:at + 160]) for at in range(0, 8000, 160)]
    # Its syllables pass from the first (the canceller, left out here, takes the echo down further in a real line);
    # what is quieter than twice the expected echo is silenced with it.
    assert voiced(passed[0]) and sum(voiced(frame) for frame in passed) >= 15


def test_the_gate_passes_everything_while_the_appliance_is_silent():
    gate = EchoGate()
    quiet = np.zeros(160, np.int16)
    caller = speechlike(0.2)[:160]
    assert np.array_equal(gate.frame(caller, quiet, caller), caller) and gate.report().erl_db is None


# The ALSA twin as a PortAudio device


@pytest.fixture
def twins(tmp_path, monkeypatch):
    """`twins(**options)`: a started sound card twin that this process sees (ALSA_CONFIG_PATH); stopped after."""
    started = []

    def start(**options) -> SoundCardTwin:
        twin = SoundCardTwin(tmp_path / f"sound{len(started)}", **options).start()
        monkeypatch.setenv("ALSA_CONFIG_PATH", str(twin.config))
        started.append(twin)
        return twin

    yield start
    for twin in started:
        twin.stop()


@pytest.fixture
def twin(twins):
    return twins()


def test_portaudio_lists_the_twin_and_finds_it_by_part_of_its_name(twin):
    devices = scan()
    found = find_device("TWIN", devices)
    assert found is not None and found["name"] == twin.name and found["default_samplerate"] == 44100
    assert find_device(str(found["index"]), devices) == found and find_device("nothing", devices) is None


async def test_a_device_that_is_not_there_is_a_sound_error_naming_what_is_there(twin):
    with pytest.raises(SoundError) as missing:
        await open_sound_port("headset")
    assert missing.value.code == "line-sound-io" and twin.name in missing.value.message


@pytest.mark.parametrize("rate_hz", [8000, 16000, 44100, 48000])
async def test_frames_flow_both_ways_on_the_device_s_clock_at_its_rate(twins, rate_hz):
    twin = twins(rate_hz=rate_hz)
    port = await open_sound_port(twin.name, rate_hz, echo=False)
    try:
        assert port.rate_hz == rate_hz
        twin.say(TONE)
        started, heard = time.monotonic(), []
        for index in range(100):
            heard.append(await port.read_frame())
            port.write_frame(TONE[index * 160:(index + 1) * 160])
        assert time.monotonic() - started >= 1.5  # 100 frames: 2 s of the device's clock, not a burst
        assert sum(voiced(frame) for frame in heard) >= 40  # the caller's tone came through
        await until(lambda: np.abs(twin.heard()).max() > 6000)  # and the appliance's reached the device
        for signal in (np.concatenate(heard), twin.heard()):
            assert 6000 < np.abs(signal).max() < 9000  # converted both ways, neither clipped nor lost
    finally:
        port.close()


# The line without a board: always connected


class Answerer:
    """An on_call that says a tone, keeps the keys and what it heard, and hangs up after '#' or `hang_up_after`."""

    def __init__(self, hang_up_after: int | None = None):
        self.lines = []
        self.keys: list[str] = []
        self.heard: list[np.ndarray] = []
        self.hang_up_after = hang_up_after

    async def __call__(self, line) -> None:
        self.lines.append(line)
        line.play(TONE)
        async for frame in line.audio():
            self.heard.append(frame)
            self.keys.extend(line.take_keys())
            if "#" in self.keys or (self.hang_up_after and len(self.heard) >= self.hang_up_after):
                await line.hangup()


@pytest.fixture
async def servers():
    """`await servers(device, on_call, statuses=[], **options)`: a started line server, closed after the test."""
    started = []

    async def start(device, on_call, statuses: list | None = None, **options) -> SoundLineServer:
        statuses = [] if statuses is None else statuses
        started.append(SoundLineServer(device, on_call, on_status=statuses.append, **options))
        return await started[-1].start()

    yield start
    for server in started:
        await server.close()


async def test_without_a_board_a_call_starts_at_once_and_the_next_when_someone_speaks(twin, servers, tmp_path):
    answerer = Answerer(hang_up_after=50)
    health = tmp_path / "sound-line.json"
    server = await servers(twin.name, answerer, health_path=health)
    await until(lambda: len(server.calls) == 1)  # greeted at once, hung up after a second
    assert answerer.lines[0].caller_id is None and not answerer.lines[0].can_transfer
    assert server.calls[0] == SoundCall(None, "answered", "appliance")
    assert voiced(twin.heard()[:16000])  # the tone reached the headset
    await asyncio.sleep(1.0)
    assert len(server.calls) == 1  # an idle headset starts nothing
    twin.say(TONE)
    await until(lambda: len(server.calls) == 2)
    assert any(voiced(frame) for frame in answerer.heard[50:75])  # the words that started the call are its first
    assert server.status.state == "listening" and "always connected" in server.status.detail
    written = json.loads(health.read_text())
    assert written["device_name"] == twin.name and written["rate_hz"] == 44100 and written["pid"] == os.getpid()


async def test_an_unplugged_device_is_a_fault_in_the_health_and_is_reopened_when_it_is_back(twin, servers, tmp_path):
    answerer = Answerer()
    statuses = []
    health = tmp_path / "sound-line.json"
    server = await servers(twin.name, answerer, statuses=statuses, health_path=health, stall_s=1.0)
    await until(lambda: server.line is not None)
    twin.unplug()
    await until(lambda: server.status.state == "failed")
    assert server.calls == [SoundCall(None, "device-gone", "line")]  # the call ended; nothing crashed
    assert server.status.detail.startswith("sound device gone") and server.status.health == "fail"
    written = json.loads(health.read_text())
    assert written["status"]["state"] == "failed" and "sound device gone" in written["last_fault_text"]
    await asyncio.sleep(1.0)
    assert server.status.state == "failed" and server.port is None  # PortAudio no longer lists it: still gone
    twin.plug()
    await until(lambda: server.status.state == "listening", 3 * WAIT_S)
    assert server.last_fault.kind == "device-gone" and server.last_fault.recovered_at is not None
    assert "last fault: sound device gone" in server.status.detail
    await until(lambda: server.line is not None)  # back: connected again, a call at once
    await until(lambda: voiced(twin.heard()[-8000:]))


async def test_a_device_missing_at_start_is_opened_once_it_comes(twin, servers):
    twin.unplug()
    await asyncio.sleep(0.1)
    server = await servers(twin.name, Answerer())
    assert server.status.state == "failed" and "sound device gone" in server.status.detail
    twin.plug()
    await until(lambda: server.line is not None, 3 * WAIT_S)
    assert server.status.state == "listening"


# The line board on a pseudo-terminal


class BoardPeer:
    """The board's side of its USB serial line on a real pseudo-terminal, spoken by the test: it answers commands
    (unless `silent`), goes off hook on `answer` and on on `hangup`, and keeps every command it was sent. `path` is
    a link that lasts while the board is unplugged and plugged back, as the udev link does."""

    def __init__(self, path: Path):
        self.path = path
        self.commands: list[dict] = []
        self.silent = False
        self.volts = 48.0
        self.hook = "on"
        self._master = self._slave = None
        self._buffer = b""

    def plug(self) -> "BoardPeer":
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # raw before the host opens it: nothing it writes is echoed back
        if self.path.is_symlink():
            self.path.unlink()
        self.path.symlink_to(os.ttyname(self._slave))
        asyncio.get_running_loop().add_reader(self._master, self._readable)
        return self

    def unplug(self) -> None:
        asyncio.get_running_loop().remove_reader(self._master)
        self.path.unlink()
        os.close(self._master)
        os.close(self._slave)

    def send(self, message: dict | bytes) -> None:
        os.write(self._master, message if isinstance(message, bytes) else json.dumps(message).encode() + b"\n")

    def ring(self, count: int, number: str | None = NUMBER) -> None:
        """`count` rings, North American style: the caller ID between the first and the second."""
        for n in range(1, count + 1):
            self.send({"ev": "ring", "n": n})
            self.send({"ev": "ring-end"})
            if n == 1:
                self.send({"ev": "cid", "number": number, "name": "SMITH JOHN", "time": "12071030", "format": "mdmf"}
                          if number else {"ev": "cid", "time": "12071030", "format": "sdmf", "absent": "private"})

    def names(self) -> list[str]:
        return [command["cmd"] for command in self.commands]

    def _readable(self) -> None:
        try:
            self._buffer += os.read(self._master, 4096)
        except OSError:
            return
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            command = json.loads(line)
            self.commands.append(command)
            if self.silent:
                continue
            name, answer = command["cmd"], {"id": command["id"], "ok": True}
            if name == "version":
                answer["version"] = "1.0.0"
            elif name == "status":
                answer.update(hook=self.hook, line="ok" if self.volts > 5 else "lost", volts=self.volts)
            self.send(answer)
            if name in ("answer", "hangup"):
                self.hook = "off" if name == "answer" else "on"
                self.send({"ev": "hook", "state": self.hook})


@pytest.fixture
async def board(tmp_path):
    peer = BoardPeer(tmp_path / "board").plug()
    yield peer
    if peer.path.is_symlink():
        peer.unplug()


async def board_server(servers, twin, board, on_call, **options) -> SoundLineServer:
    server = await servers(twin.name, on_call, board_path=str(board.path), command_s=1.0, **options)
    assert server.status.state == "listening", server.status
    return server


async def test_the_board_answers_after_the_second_ring_with_the_caller_id_and_the_caller_hangs_up(twin, servers,
                                                                                                  board):
    answerer = Answerer()
    server = await board_server(servers, twin, board, answerer)
    assert "board 1.0.0" in server.status.detail and "line 48 V" in server.status.detail
    board.send({"ev": "ring", "n": 1})
    board.send({"ev": "cid", "number": NUMBER, "name": "SMITH JOHN", "time": "12071030", "format": "mdmf"})
    await asyncio.sleep(0.3)
    assert "answer" not in board.names() and server.line is None  # one ring: caller ID time
    board.send({"ev": "ring", "n": 2})
    await until(lambda: server.line is not None)
    line = server.line
    assert line.caller_id == NUMBER and board.names()[-1] == "answer" and board.hook == "off"
    await until(lambda: voiced(twin.heard()[-4000:]))  # the tone on the device
    board.send({"ev": "hangup", "why": "disconnect-tone"})
    await until(lambda: len(server.calls) == 1)
    assert server.calls[0] == SoundCall(NUMBER, "answered", "caller")
    await until(lambda: board.names()[-1] == "hangup")  # the board, still off hook, put back on


async def test_keys_reach_the_call_and_the_appliance_s_hang_up_puts_the_board_on_hook(twin, servers, board):
    answerer = Answerer()
    server = await board_server(servers, twin, board, answerer, rings=3)
    board.ring(3, number=None)
    await until(lambda: server.line is not None)
    assert server.line.caller_id is None  # private: no number, as a withheld SIP caller
    for digit in "12#":
        board.send({"ev": "dtmf", "digit": digit})
    await until(lambda: len(server.calls) == 1)
    assert answerer.keys == ["1", "2", "#"] and server.calls[0].ended_by == "appliance"
    assert board.names()[-1] == "hangup" and board.hook == "on"


async def test_hook_on_ends_the_call_and_junk_on_the_wire_changes_nothing(twin, servers, board):
    answerer = Answerer()
    server = await board_server(servers, twin, board, answerer)
    board.send(b"\x00\xffgarbage\n{\"ev\":\"ring\"}\nRING\n")
    board.ring(2)
    await until(lambda: server.line is not None)
    assert server.board.malformed == 3 and server.line.caller_id == NUMBER
    board.send({"ev": "hook", "state": "on"})
    await until(lambda: len(server.calls) == 1)
    assert server.calls[0].ended_by == "caller" and server.status.state == "listening"


async def test_a_lost_phone_line_is_a_fault_until_the_board_sees_it_again(twin, servers, board):
    server = await board_server(servers, twin, board, Answerer())
    board.send({"ev": "line", "state": "lost", "volts": 0.0})
    await until(lambda: server.status.state == "failed")
    assert server.status.detail.startswith("phone line lost") and "phone line" in server.status.fix
    board.send({"ev": "line", "state": "ok", "volts": 47.5})
    await until(lambda: server.status.state == "listening")
    assert "line 47.5 V" in server.status.detail and server.last_fault.recovered_at is not None


async def test_a_silent_board_is_a_fault_and_the_line_recovers_when_it_answers_again(twin, servers, board):
    server = await board_server(servers, twin, board, Answerer(), status_every_s=0.5)
    board.silent = True
    await until(lambda: server.status.state == "failed", 3 * WAIT_S)
    assert server.status.detail.startswith("line board silent") and "did not answer 'status'" in server.status.detail
    board.silent = False
    await until(lambda: server.status.state == "listening", 3 * WAIT_S)
    assert server.last_fault.kind == "board-silent" and server.last_fault.recovered_at is not None
    board.ring(2)
    await until(lambda: server.line is not None)


async def test_a_board_unplugged_mid_call_ends_the_call_and_is_opened_again(twin, servers, board):
    server = await board_server(servers, twin, board, Answerer())
    board.ring(2)
    await until(lambda: server.line is not None)
    board.unplug()
    await until(lambda: server.status.state == "failed")
    assert server.status.detail.startswith("line board gone")
    await until(lambda: len(server.calls) == 1)
    board.plug()
    await until(lambda: server.status.state == "listening", 3 * WAIT_S)
    board.ring(2)
    await until(lambda: server.line is not None)
    assert server.line.caller_id == NUMBER


# A Quectel's USB sound card as the modem line's audio port


async def test_a_quectel_call_s_audio_runs_on_its_usb_sound_card(twin, tmp_path):
    from appliance.line.modem import ModemCall, ModemLineServer

    answerer = Answerer()
    async with Simulator(link_dir=tmp_path / "quectel", dialect="quectel", signal=18) as modem:
        server = ModemLineServer.open(modem.path, f"sound:{twin.name}", answerer, dialect="quectel", timeout_s=WAIT_S)
        await server.start()
        try:
            before = twin.played
            modem.ring(NUMBER)
            await until(lambda: server.line is not None)
            assert modem.audio_enabled and modem.audio_port == 2  # AT+QPCMV=1,2: the USB sound card
            assert server.line.caller_id == NUMBER
            await until(lambda: voiced(twin.heard(before)))  # the tone, through the sound card
            twin.say(TONE)
            await until(lambda: sum(voiced(frame) for frame in answerer.heard) >= 20)  # the caller, through it too
            modem.press_keys("#")
            await until(lambda: len(server.calls) == 1 and not modem.in_call and not modem.audio_enabled)
            assert server.calls[0] == ModemCall("in", NUMBER, "answered", "appliance")
        finally:
            await server.close()


# scripts/line-check's module


async def test_the_technicians_check_hears_the_input_plays_a_tone_and_asks_the_board(twin, board):
    from appliance.line.sound_check import check

    async def ring_once_asked() -> None:
        await until(lambda: "status" in board.names(), 3 * WAIT_S)
        board.ring(2)

    twin.say(TONE)  # 1 s at a peak of 8000: -12.3 dBFS
    before = twin.played
    ringing = asyncio.create_task(ring_once_asked())
    status, said = await check("twin", 2.0, True, str(board.path), 2.0, None)
    await ringing
    text = "\n".join(said)
    assert status == 0, text
    assert f"{twin.name} (in " in text and "<- this line" in text and "takes 8000, 16000" in text
    assert "RMS -18." in text and "peak -12." in text, text  # a second of tone in two
    assert "firmware 1.0.0" in text and "hook on, line ok, 48.0 V" in text
    assert f"2 ring(s) in 2 s; caller ID {NUMBER}" in text
    assert voiced(twin.heard(before))  # the tone was played


async def test_the_technicians_check_leaves_a_device_serve_holds_alone(twin, tmp_path):
    from appliance.line.sound_check import check

    health = tmp_path / "sound-line.json"
    health.write_text(json.dumps({"pid": os.getpid(), "status": {"state": "failed", "detail": "sound device gone"},
                                  "last_fault_text": "sound device gone at 10:00:00: unplugged",
                                  "echo": {"erl_db": 6.1, "erle_db": 10.6}}))
    status, said = await check(twin.name, 2.0, True, "", 0, str(health))
    assert status == 1 and "appliance serve holds appliance-twin" in said[-3]
    assert said[-2].endswith("unplugged") and said[-1] == "line: echo 6.1 dB down, the canceller takes 10.6 dB more"
    status, said = await check("headset", 2.0, True, "", 0, None)
    assert status == 2 and said[-1] == "sound: no device 'headset' that records and plays"


def test_a_canceller_that_loses_the_path_is_not_trusted_and_its_echo_is_still_silenced():
    gate = EchoGate()
    played = speechlike(6)
    echo = np.concatenate([np.zeros(240, np.int16), (played[:-240] * 0.5).astype(np.int16)])  # -6 dB
    for at in range(0, 24000, 160):  # a converged canceller: 30 dB taken away
        gate.frame(echo[at:at + 160], played[at:at + 160], (echo[at:at + 160] * 0.03).astype(np.int16))
    assert gate.report().coupling_db < -30 and not gate.distrust
    lost = []
    for at in range(24000, 48000, 160):  # the delay jumped: its estimate lands beside the echo and adds to it
        wrong = (echo[at:at + 160].astype(np.int32) - echo[at - 160:at]).clip(-32768, 32767).astype(np.int16)
        lost.append(gate.frame(echo[at:at + 160], played[at:at + 160], wrong))
    # The frame or two before it shows are too short for the VAD, which wants 60 ms of voice to start a turn.
    assert longest_voiced(lost) <= 2 and gate.distrust
