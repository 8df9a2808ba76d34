"""The line board's serial side: an RP2040 on USB serial between an analog phone line and the sound device.

The board hears the rings, reads caller ID, goes off hook and on, hears the caller hang up and the keys they press,
and watches the line's voltage; the call's audio runs on the sound device beside it. They speak JSON lines, one
object a line, '\\n' terminated. The board says `{"ev": ...}`: boot, ring, ring-end, cid, hook, hangup, dtmf, line.
The host sends `{"cmd": "answer"|"hangup"|"status"|"version", "id": N}`, each answered `{"id": N, "ok": true, ...}`
or `{"id": N, "ok": false, "error": "..."}`.

`BoardProtocol` is that codec with no I/O (bytes in, events out; a command out as bytes), so it is tested from
bytes. `Board` runs it on the serial port on the event loop: events go to `on_event`, a command waits COMMAND_S
for its answer. The port's errors, and a board that does not answer, become BoardError here.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field

from appliance.errors import ApplianceError
from appliance.line import within
from appliance.modem.driver import ModemError, SerialPort

log = logging.getLogger(__name__)

COMMAND_S = 2.0  # the board answers a command in milliseconds; this long without an answer, it has hung
MAX_LINE_BYTES = 1024  # a longer line is noise on the wire (or the wrong device), not the board speaking
COMMANDS = ("answer", "hangup", "status", "version")


class BoardError(ApplianceError):
    """The board is gone (`line-board-io`), does not answer (`line-board-silent`) or refused (`line-board-refused`)."""


# What the board says


@dataclass(frozen=True)
class Boot:
    """The board (re)started: its firmware and the ring cadence it listens for (`na`, `uk`, ...)."""

    version: str
    cadence: str = ""


@dataclass(frozen=True)
class Ring:
    """The `n`th ring of a call (from 1)."""

    n: int


@dataclass(frozen=True)
class RingEnd:
    """A ring's burst ended."""


@dataclass(frozen=True)
class CallerId:
    """The caller's number and name as the exchange sent them (`format`: sdmf, mdmf, v23, dtmf); `absent` says
    why there is no number (private, out-of-area)."""

    number: str = ""
    name: str = ""
    time: str = ""  # MMDDHHMM
    format: str = ""
    absent: str = ""


@dataclass(frozen=True)
class Hook:
    """The board went off hook (`off`: True) or back on."""

    off: bool


@dataclass(frozen=True)
class HungUp:
    """The caller hung up: the loop current dropped, or the exchange's disconnect tone was heard."""

    why: str


@dataclass(frozen=True)
class Key:
    """The caller pressed a key (DTMF heard by the board)."""

    digit: str


@dataclass(frozen=True)
class LineState:
    """The phone line's voltage: `ok` False when it is lost (unplugged, cut, or the exchange's fault)."""

    ok: bool
    volts: float | None = None


@dataclass(frozen=True)
class Reply:
    """The board's answer to command `id`."""

    id: int
    ok: bool
    error: str = ""
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Malformed:
    """A line that is not one of the board's messages, and why."""

    line: bytes
    why: str


@dataclass(frozen=True)
class BoardLost:
    """The board's serial port failed: unplugged, or reset."""

    reason: str


def _event(message: dict):
    """A board event from its decoded JSON object; ValueError says what is wrong with it."""
    kind = message.get("ev")
    if kind == "boot":
        return Boot(str(message["version"]), str(message.get("cadence", "")))
    if kind == "ring":
        if type(message.get("n")) is not int or message["n"] < 1:
            raise ValueError("a ring's n is a count from 1")
        return Ring(message["n"])
    if kind == "ring-end":
        return RingEnd()
    if kind == "cid":
        return CallerId(*(str(message.get(name) or "") for name in ("number", "name", "time", "format", "absent")))
    if kind == "hook" and message.get("state") in ("off", "on"):
        return Hook(message["state"] == "off")
    if kind == "hangup":
        return HungUp(str(message.get("why", "")))
    if kind == "dtmf" and isinstance(message.get("digit"), str) and len(message["digit"]) == 1 \
            and message["digit"] in "0123456789*#ABCD":
        return Key(message["digit"])
    if kind == "line" and message.get("state") in ("lost", "ok"):
        volts = message.get("volts")
        return LineState(message["state"] == "ok", float(volts) if isinstance(volts, (int, float)) else None)
    raise ValueError(f"not an event the board sends: {kind!r}")


class BoardProtocol:
    """The JSON-lines codec: `receive_data(bytes)` gives what the board said, `command(name)` the bytes to send."""

    def __init__(self):
        self._buffer = bytearray()
        self._next_id = 0

    def receive_data(self, data: bytes) -> list:
        """Events, replies and Malformed lines in `data` and what came before it; a partial line waits for more."""
        self._buffer += data
        out = []
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end]).strip()
            del self._buffer[:end + 1]
            if line:
                out.append(self._decode(line))
        if len(self._buffer) > MAX_LINE_BYTES:
            out.append(Malformed(bytes(self._buffer[:80]), f"no end of line in {len(self._buffer)} bytes"))
            self._buffer.clear()
        return out

    @staticmethod
    def _decode(line: bytes):
        try:
            message = json.loads(line)
        except ValueError:
            return Malformed(line, "not JSON")
        if not isinstance(message, dict):
            return Malformed(line, "not a JSON object")
        if "id" in message:
            if type(message["id"]) is not int or not isinstance(message.get("ok"), bool):
                return Malformed(line, "an answer needs an integer id and ok true or false")
            data = {key: value for key, value in message.items() if key not in ("id", "ok", "error")}
            return Reply(message["id"], message["ok"], str(message.get("error", "")), data)
        try:
            return _event(message)
        except (KeyError, TypeError, ValueError) as exc:
            return Malformed(line, str(exc))

    def command(self, name: str) -> tuple[int, bytes]:
        """The next command's id and its line."""
        if name not in COMMANDS:
            raise ValueError(f"the board has no command {name!r}")
        self._next_id += 1
        return self._next_id, json.dumps({"cmd": name, "id": self._next_id}).encode() + b"\n"


class Board:
    """The board on its serial port: `open()`, then `command(name)` → the answer's fields; everything it says
    unasked goes to `on_event`, ending with BoardLost when the port fails."""

    def __init__(self, path: str, on_event, command_s: float = COMMAND_S):
        self.path = path
        self.on_event = on_event
        self.command_s = command_s
        self.protocol = BoardProtocol()
        self.malformed = 0  # lines that were not the board's messages
        self.lost: BoardError | None = None
        self._port: SerialPort | None = None
        self._waiting: dict[int, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None

    async def open(self) -> "Board":
        """Open the serial port and start listening."""
        try:
            self._port = SerialPort(self.path)
        except ModemError as exc:
            raise BoardError("line-board-io", exc.message.replace("modem", "board")) from None
        self._reader = asyncio.create_task(self._read())
        return self

    async def command(self, name: str) -> dict:
        """Send a command and return the fields of the board's answer; BoardError when it refuses, is silent for
        command_s, or is gone."""
        if self.lost is not None or self._port is None:
            raise self.lost or BoardError("line-board-io", f"{self.path} is not open")
        number, line = self.protocol.command(name)
        answer = self._waiting[number] = asyncio.get_running_loop().create_future()
        try:
            self._port.write(line)
            if not await within(answer, self.command_s):
                raise BoardError("line-board-silent", f"the board on {self.path} did not answer {name!r} within "
                                                      f"{self.command_s:g} s")
        finally:
            self._waiting.pop(number, None)
        reply = answer.result()
        if not reply.ok:
            raise BoardError("line-board-refused", f"the board refused {name!r}: {reply.error or 'no reason given'}")
        return reply.data

    async def _read(self) -> None:
        try:
            while True:
                for said in self.protocol.receive_data(await self._port.read()):
                    self._take(said)
        except ModemError as exc:
            self.lost = BoardError("line-board-io", f"the board on {self.path} is gone ({exc.message})")
            for answer in self._waiting.values():
                if not answer.done():
                    answer.set_exception(self.lost)
            self.on_event(BoardLost(self.lost.message))

    def _take(self, said) -> None:
        if isinstance(said, Reply):
            answer = self._waiting.get(said.id)
            if answer is not None and not answer.done():
                answer.set_result(said)
            else:
                log.info("line board: an answer to no command waiting: %s", said)
        elif isinstance(said, Malformed):
            self.malformed += 1
            log.warning("line-board-malformed: %s: %r", said.why, said.line)
        else:
            self.on_event(said)

    async def close(self) -> None:
        """Stop listening and let go of the port; closing twice is harmless."""
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        if self._port is not None:
            self._port.close()
        self.lost = self.lost or BoardError("line-board-io", f"{self.path} is closed")
        for answer in self._waiting.values():
            if not answer.done():
                answer.set_exception(self.lost)
