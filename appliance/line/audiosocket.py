"""`audiosocket://HOST:PORT`: calls from Asterisk over AudioSocket, its TCP stream of 8 kHz 16-bit audio.

The wire (https://docs.asterisk.org/Configuration/Channel-Drivers/AudioSocket/) is a stream of frames, each
`type (1 byte) | payload length (2 bytes, big-endian) | payload`:

    0x00 hangup   length 0; closing the socket means the same
    0x01 UUID     16 bytes, the call's UUID in binary; Asterisk sends it first
    0x03 DTMF     1 byte, the ASCII key (added in 2025, in the 20, 21 and 22 releases since)
    0x10 audio    signed linear 16-bit little-endian mono 8 kHz, 320 bytes (20 ms) from the AudioSocket() app
    0xff error    optional code; Asterisk's are bit flags: 0x01 caller hung up, 0x02 frame forwarding, 0x04 memory

Newer Asterisk also has 0x11-0x18 for audio at 12-192 kHz (the channel driver with another codec); this line
takes 8 kHz only and treats them as malformed. Asterisk itself accepts only audio and hangup frames from us;
anything else ends its side of the call, so the appliance sends nothing else.

`AudioSocketParser` and the `encode_*` functions are the protocol with no I/O (h11's shape);
`AudioSocketLine` is a `ClockedLine` on one connection; `AudioSocketServer` accepts Asterisk's connections
and hands each call's line to the call service.

Caller ID. AudioSocket carries only the UUID, so the dialplan writes the caller's number into it: the
appliance reads a UUID of the form

    ca11e71d-TTTT-8DDD-8DDD-DDDDDDDDDDDD

as a call from the digits D (the last 18 digits of the number, right-aligned, padded on the left with `f`,
so leading zeros survive). `ca11e71d` marks the convention, `8` in the third and fourth groups makes it an
RFC 9562 version-8 ("vendor-specific") UUID, so a random version-4 UUID is never read as a number, and
TTTT is any four hex digits, a per-call tag that keeps two calls from one number apart in the logs. Any
other UUID, or one whose digits are all padding (a withheld number), gives a call with no caller ID.

README snippet (extensions.conf; the appliance listening on 127.0.0.1:9092):

    [appliance]
    exten => s,1,Answer()
     same => n,Set(AS_CID=ffffffffffffffffff${FILTER(0-9,${CALLERID(num)})})
     same => n,AudioSocket(ca11e71d-${MD5(${UNIQUEID}):0:4}-8${AS_CID:-18:3}-8${AS_CID:-15:3}-${AS_CID:-12},127.0.0.1:9092)
     same => n,Hangup()

`FILTER` keeps the digits of the number (`+44 20 7946 0958` becomes `442079460958`), the eighteen `f`s pad
it, and the three substrings cut its last 18 characters into the UUID's groups; `MD5` of the channel's
`UNIQUEID` gives the tag. With the channel driver, the same UUID goes in
`Dial(AudioSocket/127.0.0.1:9092/<uuid>)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import uuid
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterator, Union

import numpy as np

from appliance.errors import ApplianceError
from appliance.line.clocked import ClockedLine

log = logging.getLogger(__name__)

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_AUDIO = 0x10
KIND_ERROR = 0xFF
HIGHER_RATE_KINDS = range(0x11, 0x19)  # slin12 ... slin192: audio this line does not take

HEADER = struct.Struct(">BH")
MAX_AUDIO_BYTES = 16000  # 1 s at 8 kHz; Asterisk sends 20 ms, so a longer frame is a stream out of step
MAX_ERROR_BYTES = 256
PAYLOAD_BYTES = {KIND_HANGUP: (0, 0), KIND_UUID: (16, 16), KIND_DTMF: (1, 1), KIND_AUDIO: (0, MAX_AUDIO_BYTES),
                 KIND_ERROR: (0, MAX_ERROR_BYTES)}  # the payload lengths each type may have, least and most
DTMF_KEYS = "0123456789*#ABCD"
UUID_TIMEOUT_S = 5.0  # how long a new connection may take to say which call it is
MAX_UNSENT_BYTES = 50 * (HEADER.size + 320)  # 1 s of reply audio; past it a stalled socket loses frames

CALLER_MARK = "ca11e71d"
CALLER_DIGITS = 18


@dataclass(frozen=True)
class Hangup:
    """The far end ended the call."""


@dataclass(frozen=True)
class CallUuid:
    """The call's UUID, the first frame of every connection."""

    uuid: uuid.UUID


@dataclass(frozen=True)
class Dtmf:
    """The caller pressed a key."""

    digit: str


@dataclass(frozen=True, eq=False)
class Audio:
    """Caller audio: 8 kHz int16 samples."""

    pcm: np.ndarray


@dataclass(frozen=True)
class ErrorFrame:
    """The far end reports an error; Asterisk's code is a bit set (0x01 caller hung up, 0x02 forwarding, 0x04
    memory), None when the frame has no payload."""

    code: int | None


Event = Union[Hangup, CallUuid, Dtmf, Audio, ErrorFrame]


class AudioSocketMalformed(ApplianceError):
    """A stream that does not follow the AudioSocket framing: the one error the parser and `decode` raise."""

    def __init__(self, reason: str):
        super().__init__("audiosocket-malformed", reason)


def malformed(reason: str) -> AudioSocketMalformed:
    return AudioSocketMalformed(reason)


class AudioSocketParser:
    """Bytes in, events out: `receive_data` what the socket read, then take `next_event` until None."""

    def __init__(self):
        self._buffer = bytearray()

    def receive_data(self, data: bytes) -> None:
        """Add bytes read from the stream (any amount: part of a frame or several)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise malformed(f"the stream is bytes, not {type(data).__name__}")
        self._buffer += data

    def next_event(self) -> Event | None:
        """The next whole frame as an event, or None until more bytes arrive; raises audiosocket-malformed."""
        if len(self._buffer) < HEADER.size:
            return None
        kind, length = HEADER.unpack_from(self._buffer)
        check_header(kind, length)
        end = HEADER.size + length
        if len(self._buffer) < end:
            return None
        payload = bytes(self._buffer[HEADER.size:end])
        del self._buffer[:end]
        return decode(kind, payload)

    def next_frames(self) -> Iterator[Event]:
        """Every whole frame received so far, as events."""
        while (event := self.next_event()) is not None:
            yield event


def check_header(kind: int, length: int) -> None:
    """Reject a frame from its header alone, before waiting for a payload that may never be real."""
    if kind in HIGHER_RATE_KINDS:
        raise malformed(f"frame type 0x{kind:02x} is audio above 8 kHz; use AudioSocket() or the slin codec")
    if kind not in PAYLOAD_BYTES:
        raise malformed(f"unknown frame type 0x{kind:02x}")
    low, high = PAYLOAD_BYTES[kind]
    if not low <= length <= high:
        size = f"{low}" if low == high else f"at most {high}"
        raise malformed(f"frame type 0x{kind:02x} with {length} payload bytes, expected {size}")
    if kind == KIND_AUDIO and length % 2:
        raise malformed(f"audio frame of {length} bytes: 16-bit samples come in pairs of bytes")


def decode(kind: int, payload: bytes) -> Event:
    """The event for one frame: its type and payload (checked as `check_header` does, so any input is an event or
    `AudioSocketMalformed`)."""
    if not isinstance(kind, int) or not isinstance(payload, (bytes, bytearray)):
        raise malformed(f"a frame is a type number and bytes, not {type(kind).__name__} and {type(payload).__name__}")
    check_header(kind, len(payload))
    payload = bytes(payload)
    if kind == KIND_AUDIO:
        return Audio(np.frombuffer(payload, dtype="<i2").astype(np.int16))
    if kind == KIND_UUID:
        return CallUuid(uuid.UUID(bytes=payload))
    if kind == KIND_DTMF:
        digit = chr(payload[0]).upper()
        if digit not in DTMF_KEYS:
            raise malformed(f"DTMF frame with byte 0x{payload[0]:02x}, not a phone key")
        return Dtmf(digit)
    if kind == KIND_ERROR:
        return ErrorFrame(payload[0] if payload else None)
    return Hangup()


def frame(kind: int, payload: bytes = b"") -> bytes:
    """One frame on the wire."""
    return HEADER.pack(kind, len(payload)) + payload


def encode_audio(pcm: np.ndarray) -> bytes:
    """Audio frames for int16 samples (split at 1 s; nothing for no samples, which Asterisk would refuse)."""
    data = np.asarray(pcm, dtype="<i2").tobytes()
    return b"".join(frame(KIND_AUDIO, data[i:i + MAX_AUDIO_BYTES]) for i in range(0, len(data), MAX_AUDIO_BYTES))


def encode_hangup() -> bytes:
    """The hangup frame."""
    return frame(KIND_HANGUP)


def encode_uuid(call_uuid: uuid.UUID | str) -> bytes:
    """The UUID frame that opens a connection (what Asterisk sends; for clients and tests)."""
    return frame(KIND_UUID, uuid.UUID(str(call_uuid)).bytes)


def encode_dtmf(digit: str) -> bytes:
    """A DTMF frame (what Asterisk sends; for clients and tests)."""
    if len(digit) != 1 or digit.upper() not in DTMF_KEYS:
        raise ValueError(f"{digit!r} is not a phone key")
    return frame(KIND_DTMF, digit.encode("ascii"))


def encode_error(code: int | None = None) -> bytes:
    """An error frame (what Asterisk sends; for clients and tests)."""
    return frame(KIND_ERROR, b"" if code is None else bytes([code]))


def caller_id_from_uuid(call_uuid: uuid.UUID) -> str | None:
    """The caller's number written into the UUID by the dialplan (see the module docstring), else None."""
    hex_digits = call_uuid.hex
    if not hex_digits.startswith(CALLER_MARK) or hex_digits[12] != "8" or hex_digits[16] != "8":
        return None
    number = (hex_digits[13:16] + hex_digits[17:32]).lstrip("f")
    return number if number.isdigit() else None


def caller_uuid(number: str | None, tag: int = 0) -> uuid.UUID:
    """The UUID the README's dialplan makes for a caller's number (its last 18 digits) and a 16-bit tag."""
    digits = ("f" * CALLER_DIGITS + "".join(c for c in number or "" if c in "0123456789"))[-CALLER_DIGITS:]
    return uuid.UUID(f"{CALLER_MARK}-{tag:04x}-8{digits[:3]}-8{digits[3:6]}-{digits[6:]}")


class AudioSocketLine(ClockedLine):
    """One call over one AudioSocket connection: reply audio goes out as 20 ms audio frames on the clock."""

    def __init__(self, writer: asyncio.StreamWriter, call_uuid: uuid.UUID | None = None, keep: bool = False):
        super().__init__(caller_id=caller_id_from_uuid(call_uuid) if call_uuid else None, keep=keep)
        self.writer = writer
        self.call_uuid = call_uuid
        self.dropped_frames = 0  # reply frames lost because the socket would not take them

    def send_frame(self, frame: np.ndarray) -> None:
        """Write one audio frame, once the call's UUID is known and while the socket is open."""
        if self.call_uuid is None or self.writer.is_closing():
            return
        if self.writer.transport.get_write_buffer_size() > MAX_UNSENT_BYTES:
            self.dropped_frames += 1  # late audio is worse than lost audio
            return
        self.writer.write(encode_audio(frame))

    async def close(self) -> None:
        """Send a hangup frame (unless the caller hung up) and close the connection."""
        if self.writer.is_closing():
            return
        if self.hung_up_by != "caller":
            self.writer.write(encode_hangup())
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


class AudioSocketServer:
    """Accepts Asterisk's AudioSocket connections; each call's line is handed to `on_call`, which runs the call."""

    def __init__(self, host: str, port: int, on_call: Callable[[AudioSocketLine], Awaitable[None]],
                 uuid_timeout_s: float = UUID_TIMEOUT_S):
        self.host = host
        self.port = port  # the bound port once started (port 0 picks a free one)
        self.on_call = on_call
        self.uuid_timeout_s = uuid_timeout_s
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task] = set()

    async def start(self) -> None:
        """Listen for connections."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("AudioSocket listening on %s:%d", self.host, self.port)

    async def close(self) -> None:
        """Stop listening and end the calls in progress."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """asyncio's callback for a connection: its call runs in a task of its own, which `close` cancels."""
        call = asyncio.create_task(self._call(reader, writer))
        self._connections.add(call)
        call.add_done_callback(self._connections.discard)
        await asyncio.wait([call])

    async def _call(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = AudioSocketParser()
        try:
            line = await self._answer(reader, writer, parser)
            if line is not None:
                await self._run(line, reader, parser)
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      parser: AudioSocketParser) -> AudioSocketLine | None:
        """The line for a new connection once its UUID frame came, or None for a connection that is no call."""
        peer = writer.get_extra_info("peername")
        try:
            first = await asyncio.wait_for(first_event(reader, parser), self.uuid_timeout_s)
            if first is None:
                log.info("AudioSocket connection from %s closed before its UUID", peer)
                return None
            if not isinstance(first, CallUuid):
                raise malformed(f"the first frame is {type(first).__name__}, not the call's UUID")
        except asyncio.TimeoutError:
            log.warning("AudioSocket connection from %s dropped: audiosocket-no-uuid: no UUID frame in %g s",
                        peer, self.uuid_timeout_s)
            return None
        except (ApplianceError, ConnectionError, OSError) as error:
            log.warning("AudioSocket connection from %s dropped: %s", peer, error)
            return None
        line = AudioSocketLine(writer, first.uuid)
        log.info("AudioSocket call %s from %s, caller %s", line.call_uuid, peer, line.caller_id or "unknown")
        return line

    async def _run(self, line: AudioSocketLine, reader: asyncio.StreamReader, parser: AudioSocketParser) -> None:
        """Feed the caller's side into the line while `on_call` runs the call; then close the connection."""
        reading = asyncio.create_task(read_caller(reader, parser, line))
        try:
            await self.on_call(line)
        except Exception:
            log.exception("AudioSocket call %s failed", line.call_uuid)
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            await line.close()


async def first_event(reader: asyncio.StreamReader, parser: AudioSocketParser) -> Event | None:
    """Read until the first whole frame; None if the connection closes before it."""
    while (event := parser.next_event()) is None:
        data = await reader.read(4096)
        if not data:
            return None
        parser.receive_data(data)
    return event


async def read_caller(reader: asyncio.StreamReader, parser: AudioSocketParser, line: AudioSocketLine) -> None:
    """Feed the connection into the line until the caller hangs up, the socket closes or the stream is garbage."""
    try:
        while True:
            for event in parser.next_frames():
                if isinstance(event, Audio):
                    line.receive(event.pcm)
                elif isinstance(event, Dtmf):
                    line.key(event.digit)
                elif isinstance(event, CallUuid):
                    log.warning("AudioSocket call %s: a second UUID %s ignored", line.call_uuid, event.uuid)
                else:
                    if isinstance(event, ErrorFrame):
                        log.warning("AudioSocket call %s: Asterisk reports error %s", line.call_uuid, event.code)
                    line.remote_hangup()
                    return
            data = await reader.read(4096)
            if not data:
                line.remote_hangup()
                return
            parser.receive_data(data)
    except ApplianceError as error:
        log.warning("AudioSocket call %s dropped: %s", line.call_uuid, error)
        line.remote_hangup()
        line.writer.close()
    except (ConnectionError, OSError) as error:
        log.info("AudioSocket call %s: connection lost: %s", line.call_uuid, error)
        line.remote_hangup()
