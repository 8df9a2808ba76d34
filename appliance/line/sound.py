"""`sound://DEVICE[?board=SERIAL&rate=HZ]`: calls on a sound device, with the line board's ring, hook and keys.

DEVICE is a PortAudio device: its index, its name or a part of it (`sound://USB`, `sound://default`). It is opened
at its own default rate (or `rate=`) and converted to the line's 8 kHz; its callback clock paces both ways of the
call (sound_port), and the echo of the appliance's own voice is cancelled and gated before the call hears it.

Without a board the line is always connected, a demo table with a headset: the first call starts as soon as the
device opens (serve's start, or the device back after it went), the next one when someone speaks into it, those
first words being the call's first. With a board (`board=/dev/ttyACM0`, an RP2040 on an analog phone line, see
board.py) a call is the phone's: after `[line] rings` rings the caller ID the board read becomes the call's, the
board is told to answer, and once it is off hook the audio runs; the caller hanging up (the board's hangup or hook
on) ends the call, the appliance's hang-up puts the board on hook, and its keys reach the keyed-entry path.

The field's faults, each said in the line's health (the Health page, data_dir/sound-line.json) and recovered from:
the sound device gone (unplugged: PortAudio stops the stream, or its callbacks stop; reopened, waiting longer
between looks, once PortAudio lists it again), the board gone or silent (reopened and asked its version until it
answers), the phone line lost (the board's voltage report).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import deque
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Awaitable, Callable
from urllib.parse import parse_qs, unquote

import numpy as np

from appliance.audio import FRAME_MS
from appliance.errors import ApplianceError
from appliance.line import voiced, within
from appliance.line.board import (COMMAND_S, Board, BoardError, BoardLost, Boot, CallerId, HungUp, Hook, Key,
                                  LineState, Ring)
from appliance.line.clocked import ClockedLine
from appliance.line.sound_port import STALL_S, SoundError, SoundPort, open_sound_port
from appliance.line.status import LineFault, LineStatus

log = logging.getLogger("appliance.line.sound")

HEALTH_FILE = "sound-line.json"  # in data_dir: serve's account of the line, which scripts/line-check reads
RINGS = 2  # North American caller ID comes between the first and the second ring
HOOK_S = 3.0  # told to answer, the board is off hook within this, or the call is given up
CID_FRESH_S = 15.0  # caller ID heard longer ago than this belongs to an earlier call
STATUS_EVERY_S = 30.0  # how often an idle board is asked how it is (a hung one is found before the next call)
REOPEN_FIRST_WAIT_S = 0.5  # the wait between looks for a device that went, doubling up to REOPEN_MAX_WAIT_S
REOPEN_MAX_WAIT_S = 10.0
VOICE_FRAMES = 5  # 100 ms of voice into an idle headset starts the next call (no board)
PREROLL_FRAMES = 25  # ...and the 500 ms before it are the call's first audio, so its first words are kept
FAULTS = {"device-gone": "sound device gone", "board-gone": "line board gone", "board-silent": "line board silent",
          "line-lost": "phone line lost"}
DEVICE_FIX = "check the sound device's USB cable; scripts/line-check lists the devices the box sees"
BOARD_FIX = "check the line board's USB cable; scripts/line-check --board PATH asks it how it is"
LINE_FIX = "check the phone line's cable into the line board, and the line itself with a phone"


@dataclass(frozen=True)
class SoundUri:
    """A sound line's URI taken apart: the device, the board's serial port, a rate other than the device's own."""

    device: str
    board: str = ""
    rate_hz: int | None = None


def parse_sound_uri(uri: str) -> SoundUri:
    """`sound://USB%20Audio?board=/dev/ttyACM0` → device and board; `line-uri-invalid` if it is not one."""
    shape = "a sound line is sound://DEVICE[?board=SERIAL_PORT&rate=HZ] (DEVICE: a name, part of one, or an index)"
    scheme, sep, rest = uri.strip().partition("://")
    if scheme != "sound" or not sep:
        raise ApplianceError("line-uri-invalid", f"{uri!r}: {shape}")
    device, _, query = rest.partition("?")
    try:
        options = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ApplianceError("line-uri-invalid", f"{uri!r}: {query!r} is not NAME=VALUE&...; {shape}") from None
    unknown = sorted(set(options) - {"board", "rate"})
    if unknown:
        raise ApplianceError("line-uri-invalid", f"{uri!r}: unknown option {', '.join(unknown)}; {shape}")
    if any(len(values) > 1 for values in options.values()):
        raise ApplianceError("line-uri-invalid", f"{uri!r}: an option is given twice")
    device, board, rate = unquote(device).strip(), options.get("board", [""])[0], options.get("rate", [""])[0]
    if not device:
        raise ApplianceError("line-uri-invalid", f"{uri!r}: no device named; {shape}")
    if "board" in options and not board.startswith("/"):
        raise ApplianceError("line-uri-invalid", f"{uri!r}: board= is the board's serial port (/dev/ttyACM0)")
    if rate and not (rate.isdigit() and 8000 <= int(rate) <= 192000):
        raise ApplianceError("line-uri-invalid", f"{uri!r}: rate= is a sample rate in Hz (8000 to 192000)")
    return SoundUri(device, board, int(rate) if rate else None)


class SoundFault(LineFault):
    """A fault of the sound line: `kind` is a FAULTS key."""

    NAMES = FAULTS


@dataclass(frozen=True)
class SoundCall:
    """One call the line carried: the caller's number and how it ended."""

    number: str | None
    outcome: str  # answered, device-gone
    ended_by: str | None = None  # caller, appliance, line (as the line's hung_up_by)


class SoundLine(ClockedLine):
    """One call's audio on the sound device: each 20 ms the device hears is the caller's frame, and the reply's next
    frame goes out in the same tick. It cannot hand the caller over to someone."""

    can_transfer = False

    def __init__(self, port: SoundPort, caller_id: str | None = None,
                 end_call: Callable[[], Awaitable[None]] | None = None, preroll: list[np.ndarray] = ()):
        super().__init__(caller_id=caller_id)
        self.port = port
        self.end_call = end_call  # the board back on hook
        self.failure: ApplianceError | None = None  # the device error that ended the call, if one did
        self._preroll = list(preroll)

    async def audio(self):
        """Caller frames on the device's clock, until either side hangs up or the device goes."""
        if self.on_answer is not None:
            answer, self.on_answer = self.on_answer, None
            answer()
        for frame in self._preroll:  # heard before the call began: given at once, with nothing to send for them
            self.position_ms += FRAME_MS
            yield frame
        self._preroll = []
        while self.hung_up_by is None:
            try:
                frame = await self.port.read_frame()
            except ApplianceError as exc:
                self.lost(exc)
                return
            self.send_frame(self.playback.next_frame(self.position_ms))
            self.position_ms += FRAME_MS
            yield frame

    @property
    def waiting_ms(self) -> float:
        """Caller audio the device has heard and the call not yet."""
        return self.port.waiting_frames * FRAME_MS

    def send_frame(self, frame: np.ndarray) -> None:
        """Queue one frame of reply audio on the device."""
        if self.hung_up_by is not None:
            return
        try:
            self.port.write_frame(frame)
        except ApplianceError as exc:
            self.lost(exc)

    def lost(self, exc: ApplianceError | None = None) -> None:
        """The device failed: the call is over for the appliance."""
        self.failure = self.failure or exc
        self.hung_up_by = self.hung_up_by or "line"

    async def close(self) -> None:
        """The appliance hangs up: the board goes on hook."""
        if self.end_call is not None:
            await self.end_call()


class SoundLineServer:
    """Answers calls on a sound device, with or without a line board, and runs each on `on_call(line)`;
    `on_status(LineStatus)` hears the line's health, which also goes to `health_path` when given."""

    def __init__(self, device: str, on_call=None, *, rate_hz: int | None = None, board_path: str = "",
                 rings: int = RINGS, uri: str = "", on_status=None, health_path: str | Path | None = None,
                 stall_s: float = STALL_S, command_s: float = COMMAND_S, status_every_s: float = STATUS_EVERY_S):
        self.device = device
        self.on_call = on_call
        self.rate_hz = rate_hz
        self.board_path = board_path
        self.rings = max(1, rings)
        self._uri = uri
        self.on_status = on_status or (lambda status: None)
        self.health_path = Path(health_path) if health_path else None
        self.stall_s = stall_s
        self.command_s = command_s
        self.status_every_s = status_every_s
        self.status: LineStatus | None = None
        self.last_fault: SoundFault | None = None
        self.calls: list[SoundCall] = []  # every call, newest last
        self.port: SoundPort | None = None
        self.board: Board | None = None
        self.line: SoundLine | None = None  # the call in progress
        self.board_version = ""
        self.hook_off = False
        self.volts: float | None = None
        self._faults: dict[str, SoundFault] = {}  # what is wrong now, by part: device, board, line
        self._caller_id: tuple[float, str | None] | None = None  # (when, number) of the last caller ID heard
        self._answering: asyncio.Task | None = None
        self._answered = asyncio.Event()  # the board is off hook for a call: the device's loop starts it
        self._answered_number: str | None = None
        self._off_hook = asyncio.Event()
        self._board_down = asyncio.Event()  # the board went: its keeper opens it again now
        self._keys: list[str] = []  # keys heard between answering and the call's line
        self._tasks: set[asyncio.Task] = set()
        self._started = False

    @property
    def uri(self) -> str:
        """The line's name, as `[line] listen` gives it."""
        board = f"?board={self.board_path}" if self.board_path else ""
        return self._uri or f"sound://{self.device}{board}"

    # Starting and stopping

    async def start(self) -> "SoundLineServer":
        """Open the device (and the board), and keep them open. A device or board that is not there yet is not an
        error: the line says which is missing and keeps looking."""
        self._started = True
        await self._open_device()
        if self.board_path:
            await self._open_board()
        self._report_ready()
        self._spawn(self._keep_device())
        if self.board_path:
            self._spawn(self._keep_board())
        return self

    async def stopping(self) -> None:
        """Serve is stopping: with no board nobody would ever end the call in progress, so it ends now; a phone call
        on the board finishes as a SIP call does."""
        if not self.board_path and self.line is not None:
            await self.line.hangup()

    async def close(self) -> None:
        """Stop answering: the call in progress is hung up, the device and the board let go."""
        self._started = False
        line = self.line
        if line is not None:
            await line.hangup()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.port is not None:
            self.port.close()
            self.port = None
        if self.board is not None:
            await self.board.close()
            self.board = None

    # The sound device

    async def _open_device(self) -> bool:
        try:
            self.port = await open_sound_port(self.device, self.rate_hz, stall_s=self.stall_s)
        except SoundError as exc:
            if "device" not in self._faults:
                self._fault("device", "device-gone", exc.message)
            return False
        self._recovered("device")
        return True

    async def _keep_device(self) -> None:
        """Run the device until it fails, then look for it, waiting longer between looks, until it is back."""
        wait_s, attempt = REOPEN_FIRST_WAIT_S, 0
        while True:
            if self.port is None:
                attempt += 1
                if not await self._open_device():
                    self._report_ready(f"attempt {attempt}, next look in {wait_s:g} s")
                    await asyncio.sleep(wait_s)
                    wait_s = min(wait_s * 2, REOPEN_MAX_WAIT_S)
                    continue
                log.warning("sound line: %s is back", self.port.name)
                self._report_ready()
            wait_s, attempt = REOPEN_FIRST_WAIT_S, 0
            try:
                await self._run_device(self.port)
            except ApplianceError as exc:
                self._fault("device", "device-gone", exc.message)
            finally:
                self.port.close()
                self.port = None
            await self._on_hook()  # a caller on the phone line hears nothing now: let them go
            self._report_ready()

    async def _run_device(self, port: SoundPort) -> None:
        """Listen to the device between calls and run each call on it; returns by the device's error."""
        start_now = not self.board_path  # always connected: a call as soon as the device opens
        preroll: deque[np.ndarray] = deque(maxlen=PREROLL_FRAMES)
        voice = 0
        while True:
            if self._answered.is_set():
                self._answered.clear()
                await self._call(port, self._answered_number)
            elif start_now:
                start_now = False
                await self._call(port, None)
            frame = await port.read_frame()
            if self.board_path:
                continue
            preroll.append(frame)
            voice = voice + 1 if voiced(frame) else 0
            if voice >= VOICE_FRAMES:
                await self._call(port, None, list(preroll))
                preroll.clear()
                voice = 0

    async def _call(self, port: SoundPort, number: str | None, preroll: list[np.ndarray] = ()) -> None:
        """One call on the device, run as a task of its own (serve waits for its calls' tasks when it stops, never for
        the device's loop)."""
        await asyncio.create_task(self._carry(port, number, preroll))

    async def _carry(self, port: SoundPort, number: str | None, preroll: list[np.ndarray]) -> None:
        """The call, from its first frame to its clean-up."""
        port.discard()
        line = self.line = SoundLine(port, number, end_call=self._on_hook, preroll=preroll)
        keys, self._keys = self._keys, []
        for key in keys:
            line.key(key)
        log.info("sound line: call from %s", number or ("withheld" if self.board_path else "the device"))
        try:
            if self.on_call is not None:
                await self.on_call(line)
        except Exception:
            log.exception("call-failed: the call on %s", self.uri)
        finally:
            if line.hung_up_by is None:
                await line.hangup()
            elif line.hung_up_by != "appliance":
                await self._on_hook()
            self.line = None
            self.calls.append(SoundCall(number, "device-gone" if line.failure else "answered", line.hung_up_by))
            if line.failure is None:
                self._report_ready()

    # The board

    async def _open_board(self) -> bool:
        """Open the board and ask its version and state; False (the fault recorded) when it is gone or silent."""
        board = Board(self.board_path, self._board_event, self.command_s)
        try:
            await board.open()
            self.board_version = str((await board.command("version")).get("version", ""))
            self._board_state(await board.command("status"))
        except BoardError as exc:
            await board.close()
            if "board" not in self._faults or self._faults["board"].detail != exc.message:
                self._fault("board", "board-silent" if exc.code == "line-board-silent" else "board-gone", exc.message)
            return False
        self.board = board
        self._board_down.clear()
        self._recovered("board")
        return True

    async def _keep_board(self) -> None:
        """Keep the board: ask how it is every status_every_s; when it is gone or silent, open it again, waiting
        longer between tries, until it answers."""
        wait_s, attempt = REOPEN_FIRST_WAIT_S, 0
        while True:
            if self.board is None:
                attempt += 1
                if not await self._open_board():
                    self._report_ready(f"attempt {attempt}, next in {wait_s:g} s")
                    await asyncio.sleep(wait_s)
                    wait_s = min(wait_s * 2, REOPEN_MAX_WAIT_S)
                    continue
                log.warning("sound line: the board on %s answers again", self.board_path)
                self._report_ready()
            wait_s, attempt = REOPEN_FIRST_WAIT_S, 0
            if await within(self._board_down.wait(), self.status_every_s):
                continue  # it went: open it again
            board = self.board
            if board is None:
                continue
            try:
                self._board_state(await board.command("status"))
            except BoardError as exc:
                await self._board_failed(exc)

    async def _board_failed(self, exc: BoardError) -> None:
        """The board is gone or does not answer: the call it carried is over, and it is opened again."""
        board, self.board = self.board, None
        self._board_down.set()
        if board is not None:
            await board.close()
        self._fault("board", "board-silent" if exc.code == "line-board-silent" else "board-gone", exc.message)
        if self.line is not None:
            self.line.remote_hangup()  # without the board the appliance cannot hear the caller hang up
        self.hook_off = False
        self._report_ready()

    def _board_state(self, state: dict) -> None:
        """What `status` answered: the hook and the line's voltage."""
        if state.get("hook") in ("off", "on"):
            self.hook_off = state["hook"] == "off"
        line, volts = state.get("line"), state.get("volts")
        self._line_state(LineState(line != "lost", float(volts) if isinstance(volts, (int, float)) else None))

    def _board_event(self, event) -> None:
        """What the board said unasked (never blocks)."""
        line = self.line
        match event:
            case Ring(n=n):
                if n >= self.rings and line is None and self._answering is None and not self._answered.is_set():
                    if self.port is None:
                        log.warning("sound line: ring %d, but the sound device is gone: not answered", n)
                    else:
                        self._answering = asyncio.create_task(self._answer())
                        self._answering.add_done_callback(self._answer_done)
            case CallerId(number=number):
                self._caller_id = (time.monotonic(), number or None)
            case Hook(off=off):
                self.hook_off = off
                if off:
                    self._off_hook.set()
                elif line is not None:
                    line.remote_hangup()
            case HungUp():
                if line is not None:
                    line.remote_hangup()
                elif self._answering is not None:  # gone before the call began
                    self._answering.cancel()
                    self._spawn(self._on_hook())
            case Key(digit=digit):
                if line is not None:
                    line.key(digit)
                elif self._answering is not None or self._answered.is_set():
                    self._keys.append(digit)
            case LineState():
                self._line_state(event)
                self._report_ready()
            case Boot(version=version):
                self.board_version, self.hook_off = version, False
                log.warning("sound line: the board started (firmware %s)", version)
                if line is not None:
                    line.remote_hangup()  # a restarted board is on hook: the call is gone
                self._report_ready()
            case BoardLost():
                self._spawn(self._board_failed(self.board.lost if self.board else BoardError("line-board-io",
                                                                                               event.reason)))

    async def _answer(self) -> None:
        """Take the caller ID heard for this call, answer on the board, and once it is off hook start the call."""
        heard = self._caller_id
        self._caller_id = None
        if self.board is None:
            return
        number = heard[1] if heard and time.monotonic() - heard[0] < CID_FRESH_S else None
        self._off_hook.clear()
        try:
            await self.board.command("answer")
        except BoardError as exc:
            log.warning("sound line: could not answer: %s", exc.message)
            if exc.code != "line-board-refused":
                await self._board_failed(exc)
            return
        if not await within(self._off_hook.wait(), HOOK_S):
            log.warning("sound line: the board answered but was not off hook within %g s", HOOK_S)
            await self._on_hook()
            return
        self._answered_number = number
        self._answered.set()

    def _answer_done(self, task: asyncio.Task) -> None:
        if self._answering is task:
            self._answering = None

    async def _on_hook(self) -> None:
        """Put the board back on hook, when it is off (the appliance hung up, or the call's device went)."""
        if self.board is None or not self.hook_off:
            return
        try:
            await self.board.command("hangup")
            self.hook_off = False
        except BoardError as exc:
            await self._board_failed(exc)

    def _line_state(self, state: LineState) -> None:
        self.volts = state.volts if state.volts is not None else self.volts
        if not state.ok:
            if "line" not in self._faults:
                volts = f" ({state.volts:g} V)" if state.volts is not None else ""
                self._fault("line", "line-lost", f"the board sees no phone line{volts}")
        else:
            self._recovered("line")

    # Faults and health

    def _fault(self, part: str, kind: str, detail: str) -> None:
        self._faults[part] = self.last_fault = SoundFault(kind, detail, time.time())
        log.warning("line-%s: %s", kind, detail)
        self._report_ready()

    def _recovered(self, part: str) -> None:
        fault = self._faults.pop(part, None)
        if fault is not None and self.last_fault is fault:
            self.last_fault = replace(fault, recovered_at=time.time())

    def _report_ready(self, trying: str = "") -> None:
        """Say how the line stands: failed while a part is missing (the worst first), else listening."""
        trying = f" ({trying})" if trying else ""
        for part, fix in (("device", DEVICE_FIX), ("board", BOARD_FIX), ("line", LINE_FIX)):
            fault = self._faults.get(part)
            if fault is not None:
                wait = trying if part in ("device", "board") else ""
                self._report("failed", f"{FAULTS[fault.kind]}: {fault.detail}; waiting for it to come back{wait}", fix)
                return
        port = self.port
        detail = f"answering on {port.name} at {port.rate_hz} Hz" if port else f"answering on {self.device}"
        if self.board_path:
            volts = f", line {self.volts:g} V" if self.volts is not None else ""
            detail += (f"; board {self.board_version or '?'} on {self.board_path}, "
                       f"{'off' if self.hook_off else 'on'} hook{volts}, answers after {self.rings} ring(s)")
        else:
            detail += "; always connected (no board): a call starts when the device opens, the next when someone speaks"
        echo = self.echo_report()
        if echo.get("erle_db") is not None:
            detail += f"; echo {echo['erl_db']:g} dB down, the canceller takes {echo['erle_db']:g} dB more"
        if port is not None and port.canceller_missing:
            detail += f"; no echo canceller ({port.canceller_missing}): echo only gated"
        if self.last_fault is not None:
            detail += f"; last fault: {self.last_fault.describe()}"
        self._report("listening", detail)

    def echo_report(self) -> dict:
        """The echo as measured on the device now open (empty when none is, or nothing came back yet)."""
        gate = self.port.gate if self.port is not None else None
        return asdict(gate.report()) if gate is not None else {}

    def _report(self, state: str, detail: str, fix: str = "") -> None:
        status = LineStatus(self.uri, state, detail, fix)
        if status.same(self.status):
            return
        self.status = status
        try:
            self.on_status(status)
        except Exception:  # whoever listens must not stop the line
            log.exception("line status %r", status)
        if self.health_path is not None:
            self._write_health()

    def _write_health(self) -> None:
        """The line's health for scripts/line-check, which cannot ask the serve process (it holds the device)."""
        port = self.port
        health = {"pid": os.getpid(), "device": self.device, "device_name": port.name if port else "",
                  "rate_hz": port.rate_hz if port else None, "board": self.board_path,
                  "board_version": self.board_version, "hook": "off" if self.hook_off else "on", "volts": self.volts,
                  "status": self.status.to_dict(), "last_fault": asdict(self.last_fault) if self.last_fault else None,
                  "last_fault_text": self.last_fault.describe() if self.last_fault else "", "calls": len(self.calls),
                  "echo": self.echo_report()}
        staged = self.health_path.with_name(f".{self.health_path.name}.new")
        try:
            staged.write_text(json.dumps(health, indent=1))
            os.replace(staged, self.health_path)
        except OSError as exc:
            log.warning("sound line: cannot write %s: %s", self.health_path, exc)

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
