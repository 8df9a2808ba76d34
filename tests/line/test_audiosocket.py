"""AudioSocket as Asterisk speaks it: the framing from bytes, the caller-ID convention, and real TCP calls."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import numpy as np
import pytest

from appliance.errors import ApplianceError
from appliance.line import FRAME_SAMPLES
from appliance.line.audiosocket import (Audio, AudioSocketParser, AudioSocketServer, CallUuid, Dtmf, ErrorFrame,
                                        Hangup, caller_id_from_uuid, caller_uuid, encode_audio, encode_dtmf,
                                        encode_error, encode_hangup, encode_uuid)

WAIT_S = 3.0
CALL = uuid.UUID("ca11e71d-0042-8fff-8fff-fffff5551234")  # caller 5551234


def parse(data: bytes, chunk: int | None = None) -> list:
    parser = AudioSocketParser()
    events = []
    for offset in range(0, len(data), chunk or max(len(data), 1)):
        parser.receive_data(data[offset:offset + (chunk or len(data))])
        events.extend(parser.next_frames())
    return events


def plain(events: list) -> list:
    """Events with audio as lists, so they compare."""
    return [("audio", event.pcm.tolist()) if isinstance(event, Audio) else event for event in events]


def tone(value: int, samples: int = FRAME_SAMPLES) -> np.ndarray:
    return np.full(samples, value, dtype=np.int16)


# The framing, from bytes.

STREAM = (encode_uuid(CALL) + encode_audio(np.arange(-160, 160, dtype=np.int16) * 100) + encode_dtmf("#")
          + encode_audio(tone(-32768, 80)) + encode_error(0x02) + encode_error() + encode_hangup())
EVENTS = [CallUuid(CALL), ("audio", (np.arange(-160, 160) * 100).tolist()), Dtmf("#"), ("audio", [-32768] * 80),
          ErrorFrame(2), ErrorFrame(None), Hangup()]


def test_frames_are_the_documented_bytes():
    assert encode_hangup() == b"\x00\x00\x00"
    assert encode_uuid(CALL) == b"\x01\x00\x10" + CALL.bytes
    assert encode_dtmf("5") == b"\x03\x00\x015"
    assert encode_audio(np.array([1, -2], np.int16)) == b"\x10\x00\x04\x01\x00\xfe\xff"
    assert encode_error(4) == b"\xff\x00\x01\x04"
    assert len(encode_audio(tone(1))) == 3 + 320


def test_several_frames_in_one_read():
    assert plain(parse(STREAM)) == EVENTS


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 17, 322])
def test_frames_split_across_reads(chunk):
    assert plain(parse(STREAM, chunk)) == EVENTS


def test_a_partial_frame_waits_for_the_rest():
    parser = AudioSocketParser()
    parser.receive_data(encode_audio(tone(7))[:100])
    assert parser.next_event() is None
    parser.receive_data(encode_audio(tone(7))[100:])
    assert parser.next_event().pcm.tolist() == [7] * FRAME_SAMPLES
    assert parser.next_event() is None


def test_any_even_audio_length_is_audio():
    assert [len(e.pcm) for e in parse(encode_audio(tone(1, 80)) + encode_audio(tone(1, 480)))] == [80, 480]
    assert parse(encode_audio(tone(1, 0))) == []  # no samples, no frame: Asterisk refuses empty audio
    assert [len(e.pcm) for e in parse(encode_audio(tone(1, 20000)))] == [8000, 8000, 4000]


@pytest.mark.parametrize("data, reason", [
    (b"\x42\x00\x00", "unknown frame type 0x42"),
    (b"GET / HTTP/1.1\r\n", "unknown frame type 0x47"),
    (b"\x12\x01\x40", "above 8 kHz"),
    (b"\x01\x00\x0f" + bytes(15), "expected 16"),
    (b"\x01\x00\x11" + bytes(17), "expected 16"),
    (b"\x10\x01\x41", "pairs of bytes"),
    (b"\x10\xff\xff", "at most 16000"),  # refused from the header alone, not after waiting for 64 KiB
    (b"\x00\x00\x01\x00", "expected 0"),
    (b"\x03\x00\x01x", "not a phone key"),
    (b"\x03\x00\x02" + b"12", "expected 1"),
])
def test_malformed_frames(data, reason):
    with pytest.raises(ApplianceError) as raised:
        parse(data)
    assert raised.value.code == "audiosocket-malformed"
    assert reason in raised.value.message


# The caller-ID convention.

@pytest.mark.parametrize("number, caller_id", [
    ("5551234", "5551234"),
    ("+44 20 7946 0958", "442079460958"),
    ("0049 30 1234567", "0049301234567"),  # leading zeros survive
    ("123456789012345678", "123456789012345678"),
    ("99123456789012345678", "123456789012345678"),  # the last 18 digits, as the dialplan keeps them
    ("", None),
    ("anonymous", None),
    (None, None),
])
def test_caller_id_through_the_uuid(number, caller_id):
    call = caller_uuid(number, tag=0xBEEF)
    assert call.version == 8 and call.variant == uuid.RFC_4122
    assert str(call).startswith("ca11e71d-beef-8")
    assert caller_id_from_uuid(call) == caller_id


def dialplan_uuid(callerid_num: str, uniqueid: str) -> str:
    """The README's two dialplan lines, evaluated the way Asterisk does (`${X:-18:3}` is X[-18:-15])."""
    import hashlib

    as_cid = "f" * 18 + "".join(c for c in callerid_num if c in "0123456789")  # ${FILTER(0-9,...)}
    tag = hashlib.md5(uniqueid.encode()).hexdigest()[0:4]  # ${MD5(${UNIQUEID}):0:4}
    return f"ca11e71d-{tag}-8{as_cid[-18:][:3]}-8{as_cid[-15:][:3]}-{as_cid[-12:]}"


def test_the_dialplan_lines_make_a_uuid_that_carries_the_number():
    text = dialplan_uuid("+1 (555) 010-9999", "1700000000.42")
    assert len(text) == 36 and [len(group) for group in text.split("-")] == [8, 4, 4, 4, 12]
    assert caller_id_from_uuid(uuid.UUID(text)) == "15550109999"
    assert uuid.UUID(text) == caller_uuid("15550109999", int(text[9:13], 16))
    assert caller_id_from_uuid(uuid.UUID(dialplan_uuid("", "1700000000.43"))) is None


def test_random_uuids_carry_no_number():
    assert all(caller_id_from_uuid(uuid.uuid4()) is None for _ in range(2000))
    assert caller_id_from_uuid(uuid.UUID("ca11e71d-0000-4000-8000-000005551234")) is None  # version 4
    assert caller_id_from_uuid(uuid.UUID("ca11e71d-0000-8000-8000-00000555123a")) is None  # not digits
    assert caller_id_from_uuid(uuid.UUID("00000000-0000-8000-8000-000005551234")) is None  # no mark


# Real calls over TCP, the client speaking as Asterisk does.

class Asterisk:
    """The Asterisk side of one AudioSocket connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.parser = AudioSocketParser()
        self.audio_at: list[tuple[float, np.ndarray]] = []  # when each audio frame came, and what it held
        self.hangups = 0

    @classmethod
    async def dial(cls, port: int, call: uuid.UUID | None = CALL) -> "Asterisk":
        asterisk = cls(*await asyncio.open_connection("127.0.0.1", port))
        if call is not None:
            asterisk.send(encode_uuid(call))
        return asterisk

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def stream(self, frames: list[np.ndarray]) -> None:
        """Send frames every 20 ms on the clock, as the AudioSocket() application does."""
        start = time.monotonic()
        for index, pcm in enumerate(frames):
            self.send(encode_audio(pcm))
            await self.writer.drain()
            await asyncio.sleep(max(0.0, start + (index + 1) * 0.020 - time.monotonic()))

    async def listen(self) -> None:
        """Collect what the appliance sends until it closes the connection."""
        while data := await self.reader.read(4096):
            self.parser.receive_data(data)
            for event in self.parser.next_frames():
                if isinstance(event, Audio):
                    self.audio_at.append((time.monotonic(), event.pcm))
                elif isinstance(event, Hangup):
                    self.hangups += 1

    def close(self) -> None:
        self.writer.close()


@pytest.fixture
async def serve():
    """`await serve(on_call)` starts an AudioSocketServer on a free loopback port; all are closed after the test."""
    servers = []

    async def start(on_call, **options) -> AudioSocketServer:
        server = AudioSocketServer("127.0.0.1", 0, on_call, **options)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


class Echo:
    """An on_call that plays each caller frame back, keeps the keys, and hangs up after '#'."""

    def __init__(self):
        self.lines = []
        self.keys: list[str] = []
        self.ended = asyncio.Event()

    async def __call__(self, line) -> None:
        self.lines.append(line)
        async for frame in line.audio():
            line.play(frame)
            self.keys.extend(line.take_keys())
            if "#" in self.keys:
                await line.hangup()
        self.ended.set()


async def test_an_echo_call_in_real_time(serve):
    echo = Echo()
    server = await serve(echo)
    assert server.port > 0
    asterisk = await Asterisk.dial(server.port, caller_uuid("+1 555 010 9999", tag=7))
    listening = asyncio.create_task(asterisk.listen())
    sent = [tone(1000 + 10 * index) for index in range(50)]  # 1 s of audio, each frame told apart by its level
    await asterisk.stream(sent)
    asterisk.send(encode_dtmf("#"))
    await asyncio.wait_for(listening, WAIT_S)  # the appliance hung up and closed the connection
    await asyncio.wait_for(echo.ended.wait(), WAIT_S)
    asterisk.close()

    line = echo.lines[0]
    assert line.call_uuid == caller_uuid("15550109999", tag=7) and line.caller_id == "15550109999"
    assert echo.keys == ["#"] and line.hung_up_by == "appliance"
    assert asterisk.hangups == 1

    times = [at for at, _ in asterisk.audio_at]
    assert all(len(pcm) == FRAME_SAMPLES for _, pcm in asterisk.audio_at)
    assert len(times) >= 45
    frames_per_s = (len(times) - 1) / (times[-1] - times[0])
    assert 40 < frames_per_s < 60, frames_per_s  # one frame per 20 ms tick, not a burst
    echoed = [int(pcm[0]) for _, pcm in asterisk.audio_at if pcm[0]]
    assert echoed == sorted(echoed) and len(echoed) >= 45  # the caller's frames came back, in order
    assert set(echoed) <= {int(pcm[0]) for pcm in sent}


class Listener:
    """An on_call that only listens, and notes how the line ended."""

    def __init__(self):
        self.lines = []
        self.frames = 0
        self.ended = asyncio.Event()

    async def __call__(self, line) -> None:
        self.lines.append(line)
        async for _ in line.audio():
            self.frames += 1
        self.ended.set()


@pytest.mark.parametrize("how", ["hangup frame", "socket closed", "error frame"])
async def test_the_caller_hanging_up_ends_the_audio(serve, how):
    listener = Listener()
    server = await serve(listener)
    asterisk = await Asterisk.dial(server.port)
    listening = asyncio.create_task(asterisk.listen())
    await asterisk.stream([tone(500)] * 10)
    if how == "hangup frame":
        asterisk.send(encode_hangup())
    elif how == "error frame":
        asterisk.send(encode_error(0x01))
    else:
        asterisk.writer.write_eof()
    await asyncio.wait_for(listener.ended.wait(), WAIT_S)
    await asyncio.wait_for(listening, WAIT_S)
    asterisk.close()
    assert listener.lines[0].hung_up_by == "caller"
    assert listener.lines[0].caller_id == "5551234"
    assert asterisk.hangups == 0  # no hangup frame back to a caller who has gone


async def test_garbage_is_disconnected_and_the_next_caller_is_served(serve, caplog):
    caplog.set_level(logging.INFO, "appliance.line.audiosocket")
    listener = Listener()
    server = await serve(listener)

    rude = await Asterisk.dial(server.port)
    await rude.stream([tone(500)] * 3)
    rude.send(b"GET / HTTP/1.1\r\nHost: appliance\r\n\r\n")
    await asyncio.wait_for(rude.listen(), WAIT_S)  # the server closed the connection
    await asyncio.wait_for(listener.ended.wait(), WAIT_S)
    rude.close()
    assert listener.lines[0].hung_up_by == "caller"
    assert "audiosocket-malformed" in caplog.text

    nameless = await Asterisk.dial(server.port, call=None)
    nameless.send(b"\x10\x00\x02\x00\x00")  # audio before any UUID
    await asyncio.wait_for(nameless.listen(), WAIT_S)
    nameless.close()
    assert len(listener.lines) == 1  # no call was started for it

    listener.ended.clear()
    polite = await Asterisk.dial(server.port, uuid.UUID("ca11e71d-0001-8fff-8fff-fff000000000"))
    listening = asyncio.create_task(polite.listen())
    await polite.stream([tone(500)] * 10)
    polite.send(encode_hangup())
    await asyncio.wait_for(listener.ended.wait(), WAIT_S)
    await asyncio.wait_for(listening, WAIT_S)
    polite.close()
    assert len(listener.lines) == 2 and listener.lines[1].caller_id == "000000000"
    assert len(polite.audio_at) >= 5  # the line sent its (silent) frames on the clock


async def test_a_connection_that_never_says_its_uuid_is_closed(serve, caplog):
    listener = Listener()
    server = await serve(listener, uuid_timeout_s=0.2)
    silent = await Asterisk.dial(server.port, call=None)
    await asyncio.wait_for(silent.listen(), WAIT_S)
    silent.close()
    assert listener.lines == []
    assert "audiosocket-no-uuid" in caplog.text


async def test_closing_the_server_ends_calls_in_progress(serve):
    listener = Listener()
    server = await serve(listener)
    asterisk = await Asterisk.dial(server.port)
    listening = asyncio.create_task(asterisk.listen())
    while not listener.lines:
        await asyncio.sleep(0.01)
    await asyncio.wait_for(server.close(), WAIT_S)
    await asyncio.wait_for(listening, WAIT_S)
    asterisk.close()
    assert asterisk.hangups == 1
