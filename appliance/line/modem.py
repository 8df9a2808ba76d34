"""`modem://AT_PORT?audio=AUDIO_PORT`: GSM calls answered and placed on the modem itself, their audio on its PCM port
(or, on a Quectel, `audio=sound:NAME`: its USB sound card, through PortAudio).

`ModemLineServer` answers a ringing call (IncomingCall → ATA → CallStarted → PCM on), hands its `ModemLine`
to the call service, and cleans up however the call ends (AT+CHUP if the modem still has it, PCM off). It
places calls too (ATD, for callbacks). A GSM modem carries one call, so there is at most one at a time.

It takes a driver `Modem` that someone else opened (the process's modem owner, which passes it the call
events through `handle_event`), or opens one itself (`ModemLineServer.open`, for tests and technicians).

The field's faults, each detected, said in the line's health and recovered from without anyone's help:
no caller audio within FIRST_AUDIO_S of PCM on (PCM is restarted once; still silent: the call is hung up,
"one-way audio", and the modem reset), an audio port that cannot be opened or read (hung up, reset), the
ports vanishing (ModemLost: "modem gone", reopened with a growing wait until both are back, and a call
the modem carried on through it hung up), the network dropping a call (recorded as dropped), and no
network (said in the health; callbacks wait for it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Awaitable, Callable
from urllib.parse import parse_qs

import numpy as np

from appliance.errors import ApplianceError
from appliance.line import serve_holds
from appliance.line.clocked import ClockedLine
from appliance.line.status import LineFault, LineStatus
from appliance.modem.audio_port import FRAME_BYTES, SOUND, AudioPort, audio_port_present, open_audio_port
from appliance.modem.driver import (DIALECTS, CallEnded, CallStarted, IncomingCall, KeyPressed, Modem, ModemError,
                                    ModemLost, NetworkChanged, open_serial)

log = logging.getLogger("appliance.line.modem")

FIRST_AUDIO_S = 2.0  # PCM on and not one caller frame within this: the audio path is silent
AUDIO_LOST_S = 3.0  # a call whose caller frames stop this long mid-call has lost its audio path
ANSWER_S = 5.0  # ATA answered and no connection within this: the call is given up
RESET_TIMEOUT_S = 60.0  # how long a restarted modem may take to answer again
REOPEN_TRY_S = 5.0  # each attempt at reopening a vanished modem waits this long for it
REOPEN_FIRST_WAIT_S = 0.5  # the wait between attempts, doubling up to REOPEN_MAX_WAIT_S
REOPEN_MAX_WAIT_S = 30.0
MAX_UNSENT_BYTES = 50 * FRAME_BYTES  # 1 s of reply audio the port has not taken: later frames are dropped
REGISTERED = ("home", "roaming")
GONE = ("modem-io", "modem-timeout", "modem-gone")  # a modem that failed so is opened again (a hung one too)
FAULTS = {"one-way-audio": "one-way audio", "audio-port-failed": "audio port failed", "modem-gone": "modem gone",
          "no-network": "no network", "call-dropped": "call dropped"}
HEALTH_FILE = "modem-voice.json"  # in data_dir: serve's account of the voice path, which scripts/modem-check reads
MODEM_FIX = "check the modem's USB cable and power; scripts/modem-check shows what the box sees"
NETWORK_FIX = "check the SIM card, the antenna and the operator's coverage (scripts/modem-check)"


@dataclass(frozen=True)
class ModemUri:
    """A modem line's URI taken apart: the AT port, the audio port and the AT dialect."""

    at_path: str
    audio_path: str
    dialect: str = "sim7600"


def parse_modem_uri(uri: str) -> ModemUri:
    """`modem:///dev/ttyUSB2?audio=/dev/ttyUSB4&dialect=quectel` → paths and dialect; `line-uri-invalid` if not."""
    shape = "a modem line is modem://AT_PORT?audio=AUDIO_PORT|sound:NAME[&dialect=sim7600|quectel]"
    scheme, sep, rest = uri.strip().partition("://")
    if scheme != "modem" or not sep:
        raise ApplianceError("line-uri-invalid", f"{uri!r}: {shape}")
    at_path, _, query = rest.partition("?")
    try:
        options = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ApplianceError("line-uri-invalid", f"{uri!r}: {query!r} is not NAME=VALUE&...; {shape}") from None
    unknown = sorted(set(options) - {"audio", "dialect"})
    if unknown:
        raise ApplianceError("line-uri-invalid", f"{uri!r}: unknown option {', '.join(unknown)}; {shape}")
    if any(len(values) > 1 for values in options.values()):
        raise ApplianceError("line-uri-invalid", f"{uri!r}: an option is given twice")
    audio_path, dialect = options.get("audio", [""])[0], options.get("dialect", ["sim7600"])[0]
    if not at_path.startswith("/"):
        raise ApplianceError("line-uri-invalid", f"{uri!r}: the AT port is a device path (/dev/ttyUSB2); {shape}")
    if audio_path.startswith(SOUND):
        if dialect != "quectel":
            raise ApplianceError("line-uri-invalid", f"{uri!r}: audio on a USB sound card (audio=sound:NAME) is the "
                                                     "Quectel's (add &dialect=quectel); a SIM7600 gives its PCM on a "
                                                     "serial port")
        if not audio_path[len(SOUND):]:
            raise ApplianceError("line-uri-invalid", f"{uri!r}: audio=sound:NAME names the sound card")
    elif not audio_path.startswith("/"):
        raise ApplianceError("line-uri-invalid", f"{uri!r}: audio= names the modem's audio port (/dev/ttyUSB4); "
                                                 f"{shape}")
    if dialect not in DIALECTS:
        raise ApplianceError("line-uri-invalid", f"{uri!r}: unknown dialect {dialect!r}: known are "
                                                 f"{', '.join(DIALECTS)}")
    return ModemUri(at_path, audio_path, dialect)


def dialled_number(target: str) -> str:
    """The number in what a caller of place_call gives: `+15551234`, `tel:+15551234` or `sip:+15551234@trunk`."""
    number = re.sub(r"^(sips?|tel):", "", target.strip()).partition("@")[0].partition(";")[0]
    return re.sub(r"[\s().-]", "", number)


class ModemFault(LineFault):
    """A fault of the voice path: `kind` is a FAULTS key."""

    NAMES = FAULTS


@dataclass(frozen=True)
class ModemCall:
    """One call the line carried or tried to: in or out, the other number, and how it went."""

    direction: str  # in, out
    number: str | None
    outcome: str  # answered, dropped, one-way-audio, audio-port-failed, modem-gone, not-connected, busy, ...
    ended_by: str | None = None  # caller, appliance, dropped, line (as the line's hung_up_by)


class ModemLine(ClockedLine):
    """One GSM call's audio over the modem's audio port: caller frames in as they come, the reply out one 20 ms
    frame per tick of the line's monotonic clock. It cannot hand the caller over to someone (no REFER)."""

    can_transfer = False  # a GSM modem carries one call and cannot transfer it: the caller is offered a callback

    def __init__(self, audio: AudioPort, caller_id: str | None = None,
                 end_call: Callable[[], Awaitable[None]] | None = None, keep: bool = False):
        super().__init__(caller_id=caller_id, keep=keep)
        self.port = audio  # the modem's audio port (`audio()` is the caller's frames, as on every line)
        self.end_call = end_call  # AT+CHUP and PCM off
        self.on_release = None  # the line server's clean-up, once whoever placed the call lets go of it
        self.failure: ModemError | None = None  # the audio port error that ended the call, if one did
        self.dropped_frames = 0  # reply frames the port would not take in time

    def send_frame(self, frame: np.ndarray) -> None:
        """Write one frame of reply audio to the modem (dropped, not delayed, while the port is 1 s behind)."""
        if self.hung_up_by is not None:
            return
        if self.port.pending_bytes > MAX_UNSENT_BYTES:
            self.dropped_frames += 1
            return
        try:
            self.port.write_frame(frame)
        except ModemError as exc:
            self.lost(exc)

    def lost(self, exc: ModemError | None = None) -> None:
        """The audio path failed: the call is over for the appliance (the server hangs it up on the modem)."""
        self.failure = self.failure or exc
        self.hung_up_by = self.hung_up_by or "line"

    def dropped(self) -> None:
        """The network dropped the call."""
        self.hung_up_by = self.hung_up_by or "dropped"

    async def close(self) -> None:
        """The appliance hangs up: AT+CHUP, then PCM off."""
        if self.end_call is not None:
            await self.end_call()

    def release(self) -> None:
        """Let go of a call the appliance placed (its audio port closes); harmless for the others."""
        release, self.on_release = self.on_release, None
        if release is not None:
            release()


class _Call:
    """The call in progress on the modem, from the ring (or ATD) to its clean-up."""

    def __init__(self, direction: str, number: str | None):
        loop = asyncio.get_running_loop()
        self.direction, self.number = direction, number
        self.connected: asyncio.Future = loop.create_future()
        self.ended: asyncio.Future[str] = loop.create_future()  # why: remote, local, network, modem-gone, ...
        self.line: ModemLine | None = None
        self.audio: AudioPort | None = None
        self.audio_on = False
        self.reader: asyncio.Task | None = None
        self.keys: list[str] = []  # keys reported before the line was made
        self.outcome = "not-connected"
        self.finished = False

    @property
    def over(self) -> bool:
        return self.ended.done()

    def end(self, reason: str) -> None:
        if not self.ended.done():
            self.ended.set_result(reason)


class ModemLineServer:
    """Answers GSM calls on a modem and runs each on `on_call(line)`; `on_status(LineStatus)` hears the line's health.

    `modem`: the open driver (None until `open_modem` gives one); its call events must reach `handle_event`
    (the driver's `on_event`, or passed on by the modem's owner). `open_modem()`: opens the modem, or opens it
    again after it was lost, and returns the driver (the owner's `ModemOwner.opened`; default: `modem.reopen`);
    the server calls it after ModemLost, waiting longer between tries, until both ports are back. An owner that
    reopens the modem on its own may call `modem_back()` once it answers again. A restart after an audio fault
    (AT+CRESET) is always this server's.
    """

    dials_numbers = True  # place_call takes a phone number: CallbackDialer needs no SIP trunk for it

    def __init__(self, modem: Modem | None, audio_path: str, on_call=None, *,
                 open_modem: Callable[[], Awaitable[Modem]] | None = None, dialect: str | None = None,
                 at_path: str = "", uri: str = "", on_status=None, health_path: str | Path | None = None,
                 on_other_event: Callable[[object], None] | None = None,
                 first_audio_s: float = FIRST_AUDIO_S, audio_lost_s: float = AUDIO_LOST_S):
        self.modem = modem
        self.audio_path = audio_path
        self.at_path = at_path or getattr(getattr(modem, "port", None), "device", "")
        self.dialect = dialect or (modem.dialect if modem is not None else "sim7600")
        self._uri = uri
        self.on_call = on_call
        self.on_status = on_status or (lambda status: None)
        self.on_other_event = on_other_event or (lambda event: log.debug("modem line: %s not for calls", event))
        self.health_path = Path(health_path) if health_path else None
        self.first_audio_s = first_audio_s
        self.audio_lost_s = audio_lost_s
        self.status: LineStatus | None = None
        self.last_fault: ModemFault | None = None
        self.registration = "unknown"
        self.signal_dbm: int | None = None
        self.calls: list[ModemCall] = []  # every call, newest last
        self.line: ModemLine | None = None  # the call in progress, once its audio flows
        self._open_modem = open_modem or self._reopen_modem
        self._owns_modem = False  # opened by this server (ModemLineServer.open): closed with it
        self._call: _Call | None = None
        self._gone: str | None = None  # why the modem is gone, until it is back
        self._reset_for: ModemFault | None = None  # the fault a restart is due for, once the call is cleaned up
        self._recovery: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._started = False

    @classmethod
    def open(cls, at_path: str, audio_path: str, on_call=None, *, dialect: str = "sim7600",
             timeout_s: float = 10.0, **options) -> "ModemLineServer":
        """A server that opens the modem on `at_path` itself (at start(), and again after it vanished)."""
        server = cls(None, audio_path, on_call, at_path=at_path, dialect=dialect, **options)

        async def open_modem() -> Modem:
            if server.modem is not None:
                return await server._reopen_modem()
            modem = open_serial(at_path, dialect=dialect, timeout_s=timeout_s, on_event=server.handle_event)
            try:
                await modem.open()
            except BaseException:
                await modem.close()
                raise
            return modem

        server._open_modem, server._owns_modem = open_modem, True
        return server

    async def _reopen_modem(self) -> Modem:
        await self.modem.reopen(timeout_s=REOPEN_TRY_S)
        return self.modem

    @property
    def uri(self) -> str:
        """The line's name, as `[line] listen` gives it: modem://AT_PORT?audio=AUDIO_PORT."""
        dialect = f"&dialect={self.dialect}" if self.dialect != "sim7600" else ""
        return self._uri or f"modem://{self.at_path}?audio={self.audio_path}{dialect}"

    # Starting and stopping

    async def start(self) -> "ModemLineServer":
        """Open the modem if this server owns it, turn on caller ids and key reports, and say how the line stands. A
        modem that is not there yet is not an error: the line says "modem gone" and keeps trying."""
        self._started = True
        try:
            if self.modem is None:
                self.modem = await self._open_modem()
            await self._set_up()
        except ModemError as exc:
            self._modem_lost(exc.message)
            return self
        self._report_ready()
        return self

    async def close(self) -> None:
        """Stop answering: the call in progress is hung up, and a modem this server opened is let go."""
        self._started = False
        for task in list(self._tasks) + ([self._recovery] if self._recovery else []):
            task.cancel()
        await asyncio.gather(*self._tasks, *([self._recovery] if self._recovery else []), return_exceptions=True)
        call = self._call
        if call is not None:
            if call.line is not None:
                call.line.hung_up_by = call.line.hung_up_by or "appliance"
            await self._finish(call)
        if self._owns_modem and self.modem is not None:
            await self.modem.close()

    async def _set_up(self) -> None:
        """Caller ids and key reports on, and the SIM and network as the modem sees them now."""
        await self.modem.enable_caller_id()
        await self._try(self.modem.enable_keys(), "turn on key reports")
        status = await self.modem.status()
        self.signal_dbm = status.signal_dbm
        if not status.sim_ready:
            self._fault("no-network", f"the SIM is {status.sim}")
            self.registration = "not-registered"
        else:
            self._registration(status.registration)

    # Events from the modem

    def handle_event(self, event) -> None:
        """A modem event (the driver's `on_event`, or passed on by the modem's owner); never blocks."""
        call = self._call
        match event:
            case IncomingCall(caller_id=caller_id):
                if call is None and self._can_take_calls():
                    self._call = _Call("in", caller_id)
                    self._spawn(self._answer(self._call))
                elif call is None:
                    log.info("modem line: a call from %s rings while the modem recovers", caller_id or "withheld")
            case CallStarted():
                if call is not None and not call.connected.done():
                    call.connected.set_result(True)
            case CallEnded(reason=reason):
                if call is not None:
                    call.end(reason)
                    if call.line is not None:
                        if reason == "network":
                            call.line.dropped()
                        elif reason == "local":
                            call.line.lost()  # the appliance's own AT+CHUP, or the modem ended it by itself
                        else:
                            call.line.remote_hangup()
            case KeyPressed(key=key):
                if call is not None and call.line is not None:
                    call.line.key(key)
                elif call is not None:
                    call.keys.append(key)
            case ModemLost(reason=reason):
                self._modem_lost(reason)
            case NetworkChanged(registration=registration):
                self._network(registration)
            case _:
                self.on_other_event(event)

    def _network(self, registration: str) -> None:
        """The network registration changed (+CREG): said in the line's health."""
        self._registration(registration)
        if self._gone is None and self._recovery is None:
            self._report_ready()

    def _registration(self, registration: str) -> None:
        was, self.registration = self.registration, registration
        last = self.last_fault
        if registration not in REGISTERED:
            if was in REGISTERED or last is None or last.kind != "no-network" or last.recovered_at is not None:
                self._fault("no-network", f"the modem is {registration} for a network")
        elif last is not None and last.kind == "no-network" and last.recovered_at is None:
            self.last_fault = replace(last, recovered_at=time.time())

    def _can_take_calls(self) -> bool:
        return self._started and self._gone is None and self._recovery is None and self.modem is not None

    @property
    def in_call(self) -> bool:
        """Whether a call is being set up, is up, or is being cleaned up."""
        return self._call is not None

    def free_calls(self) -> int:
        """Calls that may be placed now: one when the modem is idle, here and registered, else none."""
        return int(not self.in_call and self._can_take_calls() and self.registration in REGISTERED)

    # Answering

    async def _answer(self, call: _Call) -> None:
        """Pick up a ringing call, run it on on_call, and clean up whatever way it ends."""
        try:
            await self.modem.answer()
            await asyncio.wait({call.connected, call.ended}, timeout=ANSWER_S, return_when=asyncio.FIRST_COMPLETED)
            if not call.connected.done():
                self._ended_early(call)
                log.warning("modem line: the call from %s ended before it connected (%s)", call.number or "withheld",
                            call.outcome)
                return
            line = await self._connect_audio(call)
            if line is None:
                return
            log.info("modem line: call from %s answered", call.number or "withheld")
            if self.on_call is not None:
                await self.on_call(line)
        except ModemError as exc:
            self._command_failed(call, exc)
        except Exception:
            log.exception("call-failed: the modem call from %s", call.number or "withheld")
        finally:
            await self._finish(call)

    async def _connect_audio(self, call: _Call) -> ModemLine | None:
        """PCM on and the caller heard: the call's line; None (the reason recorded) when no audio comes."""
        try:
            call.audio = await open_audio_port(self.audio_path)
        except ModemError as exc:
            self._audio_failed(call, exc)
            return None
        sound_card = self.audio_path.startswith(SOUND)
        await self.modem.start_audio(sound_card)
        call.audio_on = True
        first = await self._first_frame(call)
        if first is None and not call.over and self._gone is None:
            log.warning("modem line: no caller audio %g s after PCM on; turning PCM off and on again",
                        self.first_audio_s)
            await self.modem.stop_audio()
            await self.modem.start_audio(sound_card)
            first = await self._first_frame(call)
        if first is None:
            if call.over or self._gone is not None:
                self._ended_early(call)
                return None
            call.outcome = "one-way-audio"
            self._reset_for = self._fault(
                "one-way-audio", f"no caller audio within {self.first_audio_s:g} s of PCM on, nor after turning it "
                                 f"off and on; the call was hung up")
            return None
        line = ModemLine(call.audio, call.number, end_call=lambda: self._hang_up(call))
        line.receive(first)
        for key in call.keys:
            line.key(key)
        call.line = self.line = line
        call.outcome = "answered"
        call.reader = asyncio.create_task(self._read(call))
        return line

    async def _first_frame(self, call: _Call) -> np.ndarray | None:
        """The first caller frame within first_audio_s, or None (silence, or the call ended meanwhile)."""
        reading = asyncio.ensure_future(call.audio.read_frame())
        try:
            await asyncio.wait({reading, call.ended}, timeout=self.first_audio_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not reading.done():
                reading.cancel()
                await asyncio.gather(reading, return_exceptions=True)
        if reading.cancelled():
            return None
        if reading.exception() is not None:
            self._audio_failed(call, reading.exception())
            return None
        return reading.result()

    async def _read(self, call: _Call) -> None:
        """Feed the caller's frames into the line until the call ends or its audio stops."""
        line = call.line
        try:
            while line.hung_up_by is None:
                line.receive(await asyncio.wait_for(call.audio.read_frame(), self.audio_lost_s))
        except asyncio.TimeoutError:
            if not call.over and line.hung_up_by is None and self._gone is None:
                call.outcome = "one-way-audio"
                stopped = f"the caller's audio stopped for {self.audio_lost_s:g} s mid-call; the call was hung up"
                self._reset_for = self._fault("one-way-audio", stopped)
            line.lost()
        except ModemError as exc:
            if not call.over and line.hung_up_by is None:
                self._audio_failed(call, exc)
            line.lost(exc)

    @staticmethod
    def _ended_early(call: _Call) -> None:
        """The call ended before its audio flowed: why, for the record."""
        if call.outcome in ("one-way-audio", "audio-port-failed", "modem-gone"):
            return
        reason = call.ended.result() if call.over else "timeout"
        call.outcome = {"network": "dropped", "modem-gone": "modem-gone", "timeout": "not-connected"}.get(
            reason, "ended-early")

    def _audio_failed(self, call: _Call, exc: ModemError) -> None:
        """The audio port would not open or read: gone with the AT port (the modem vanished), or alone (a reset)."""
        if self.at_path and not os.path.exists(self.at_path):
            self._modem_lost(f"its ports vanished ({exc.message})")
        elif self._gone is None:
            call.outcome = "audio-port-failed"
            self._reset_for = self._fault("audio-port-failed", f"{exc.message}; the call was hung up")

    def _command_failed(self, call: _Call, exc: ModemError) -> None:
        if exc.code in GONE or self._gone is not None:
            self._modem_lost(exc.message)
            call.outcome = "modem-gone"
        else:
            log.warning("modem line: call from %s failed: %s", call.number or "withheld", exc)
            call.outcome = call.outcome if call.outcome != "not-connected" else "failed"

    # Ending

    async def _hang_up(self, call: _Call) -> None:
        """The appliance ends the call: AT+CHUP while the modem has it, then PCM off."""
        if self._gone is None and self.modem is not None:
            if not call.over:
                await self._try(self.modem.hang_up(), "hang up")
                call.end("local")
            if call.audio_on:
                call.audio_on = False
                await self._try(self.modem.stop_audio(), "turn PCM off")

    async def _finish(self, call: _Call) -> None:
        """Whatever way the call ended: the line ended, the call hung up on the modem, PCM off, the port closed."""
        if call.finished:
            return
        call.finished = True
        try:
            if call.reader is not None:
                call.reader.cancel()
                await asyncio.gather(call.reader, return_exceptions=True)
            if call.line is not None and call.line.hung_up_by is None:
                call.line.hung_up_by = "appliance"
            await self._hang_up(call)
        finally:
            if call.audio is not None:
                call.audio.close()
            if call.over and call.ended.result() == "network" and call.outcome == "answered":
                call.outcome = "dropped"
            if call.outcome == "dropped":
                self._fault("call-dropped", f"the network dropped the call {'from' if call.direction == 'in' else 'to'}"
                                            f" {call.number or 'a withheld number'}", recovered=True)
            self.calls.append(ModemCall(call.direction, call.number, call.outcome,
                                        call.line.hung_up_by if call.line is not None else None))
            if self._call is call:
                self._call = self.line = None
        if self._gone is not None or self._reset_for is not None:
            self._start_recovery()
        elif self._recovery is None:
            self._report_ready()

    # Placing calls

    async def place_call(self, target: str, ring_timeout_s: float = 30.0, display_name: str | None = None,
                         caller_id: str | None = None) -> ModemLine:
        """Call `target` (a number, or a `tel:`/`sip:` URI whose user part is one) and return its line once answered
        and its audio flows; `ApplianceError` says why not, with SIP's codes: line-busy, line-no-answer,
        line-call-failed, and line-no-network or line-modem-gone (both passing). `display_name` cannot go over GSM.
        Whoever placed the call hangs it up and calls `line.release()`."""
        number = dialled_number(target)
        if self._gone is not None or self.modem is None:
            raise ApplianceError("line-modem-gone", f"cannot call {number}: the modem is gone ({self._gone})")
        if self.registration not in REGISTERED:
            raise ApplianceError("line-no-network", f"cannot call {number}: the modem is {self.registration} for a "
                                                    "network")
        if self._call is not None or self._recovery is not None:
            raise ApplianceError("line-modem-busy", f"cannot call {number}: the modem carries a call already")
        call = self._call = _Call("out", caller_id or number)
        try:
            outcome = await self.modem.dial(number, timeout_s=ring_timeout_s)
            call.outcome = outcome
            if outcome == "busy":
                raise ApplianceError("line-busy", f"{number} is busy")
            if outcome == "no-answer":
                raise ApplianceError("line-no-answer", f"{number} did not answer within {ring_timeout_s:.0f} s")
            if outcome == "no-carrier":  # no service? (an owner may keep +CREG changes to itself: ask)
                self._network((await self.modem.status()).registration)
                if self.registration not in REGISTERED:
                    raise ApplianceError("line-no-network", f"{number}: the modem is {self.registration} for a network")
            if outcome != "answered":
                raise ApplianceError("line-call-failed", f"{number}: {outcome} (the network or the modem would not "
                                                         "connect the call)")
            if not call.connected.done():
                call.connected.set_result(True)
            line = await self._connect_audio(call)
            if line is None:
                raise ApplianceError("line-call-failed", f"{number}: answered, but "
                                     f"{FAULTS.get(call.outcome, call.outcome)}")
        except ModemError as exc:  # the modem refused a command, or its port failed
            self._command_failed(call, exc)
            await self._finish(call)
            raise ApplianceError("line-modem-gone" if self._gone else "line-call-failed",
                                 f"{number}: {exc.message}") from None
        except BaseException:
            await self._finish(call)
            raise
        line.caller_id = caller_id or number
        line.on_release = lambda: self._spawn(self._finish(call))
        log.info("modem line: %s answered", number)
        return line

    # Faults and recovery

    def _fault(self, kind: str, detail: str, recovered: bool = False) -> ModemFault:
        fault = ModemFault(kind, detail, time.time(), time.time() if recovered else None)
        self.last_fault = fault
        log.warning("modem-%s: %s", kind, detail)
        return fault

    def _modem_lost(self, reason: str) -> None:
        """The modem's ports failed: the call (if any) is over, and the modem is reopened once it is cleaned up."""
        if self._gone is None:
            self._fault("modem-gone", reason)
        self._gone = reason
        call = self._call
        if call is not None:
            call.end("modem-gone")
            if call.outcome in ("answered", "not-connected"):
                call.outcome = "modem-gone"
            if call.line is not None:
                call.line.lost()
        self._report("failed", f"modem gone: {reason}; waiting for {self.at_path or 'its AT port'} and "
                               f"{self.audio_path} to come back", MODEM_FIX)
        if call is None and self._started:
            self._start_recovery()

    def _start_recovery(self) -> None:
        if self._recovery is None and self._started:
            self._recovery = asyncio.create_task(self._recover())
            self._recovery.add_done_callback(self._recovered)

    def _recovered(self, task: asyncio.Task) -> None:
        if self._recovery is task:
            self._recovery = None
        if not task.cancelled() and task.exception() is not None:
            log.error("modem line: recovery failed", exc_info=task.exception())

    async def _recover(self) -> None:
        """Restart the modem after an audio fault, or reopen it after it vanished, until it answers with both ports
        back; then end any call it carried on through it, and take calls again."""
        while True:
            fault = self._reset_for
            if self._gone is None and fault is not None:
                self._report("recovering", f"{fault.describe()}; restarting the modem", MODEM_FIX)
                try:
                    await self.modem.reset(timeout_s=RESET_TIMEOUT_S)
                except ModemError as exc:
                    self._modem_lost(f"it did not come back after a restart: {exc.message}")
            if self._gone is not None:
                await self._reopen()
            await self._wait_for(self.audio_path)
            if await self._back():
                return

    async def _reopen(self) -> None:
        """Open the modem again, waiting longer between tries, until it answers."""
        wait_s, attempt = REOPEN_FIRST_WAIT_S, 0
        while True:
            attempt += 1
            if not self.at_path or os.path.exists(self.at_path):
                try:
                    self.modem = await self._open_modem()
                    self._gone = None
                    return
                except ModemError as exc:
                    log.info("modem line: reopening failed (attempt %d): %s", attempt, exc.message)
            self._report("failed", f"modem gone: {self._gone}; {self.at_path or 'the AT port'} does not answer yet "
                                   f"(attempt {attempt}, next in {wait_s:g} s)", MODEM_FIX)
            await asyncio.sleep(wait_s)
            wait_s = min(wait_s * 2, REOPEN_MAX_WAIT_S)

    async def _wait_for(self, path: str) -> None:
        """Wait, longer between looks, until the device `path` exists again (the audio port after the AT port)."""
        wait_s = REOPEN_FIRST_WAIT_S / 5
        while not await audio_port_present(path):
            self._report("failed", f"modem gone: the AT port is back, the audio port {path} not yet", MODEM_FIX)
            await asyncio.sleep(wait_s)
            wait_s = min(wait_s * 2, REOPEN_MAX_WAIT_S)

    async def modem_back(self) -> None:
        """The modem's owner opened the modem again after ModemLost: end what it carried on, and take calls again
        (nothing to do unless the modem was lost and this server's own recovery is not at it already)."""
        if self._gone is None or self._recovery is not None:
            return
        self._gone = None
        await self._wait_for(self.audio_path)
        await self._back()

    async def _back(self) -> bool:
        """End a call the modem carried on (it does through a re-enumeration), PCM off, set up again; whether all
        of that worked (False: the modem went again)."""
        try:
            await self._try(self.modem.hang_up(), "end a call left over")
            await self._try(self.modem.stop_audio(), "turn PCM off")
            if self._gone is None:
                await self._set_up()
        except ModemError as exc:
            self._modem_lost(exc.message)
        if self._gone is not None:
            return False
        fault = self.last_fault
        if fault is not None and fault.recovered_at is None and fault.kind != "no-network":
            self.last_fault = replace(fault, recovered_at=time.time())
        self._reset_for = None
        log.warning("modem line: the modem answers again")
        self._report_ready()
        return True

    # Health

    def _report_ready(self) -> None:
        fault = self.last_fault
        if self.registration not in REGISTERED:
            detail = f"no network: the modem is {self.registration} for a network"
            if fault is not None and fault.kind == "no-network":
                detail = f"no network: {fault.detail}"
            self._report("failed", f"{detail}; calls cannot come in and callbacks wait", NETWORK_FIX)
            return
        signal = f", signal {self.signal_dbm} dBm" if self.signal_dbm is not None else ""
        detail = (f"answering GSM calls on {self.at_path or 'the modem'} (audio {self.audio_path}, {self.dialect}); "
                  f"network {self.registration}{signal}")
        if fault is not None:
            detail += f"; last fault: {fault.describe()}"
        self._report("listening", detail)

    def _report(self, state: str, detail: str, fix: str = "") -> None:
        self.status = LineStatus(self.uri, state, detail, fix)
        try:
            self.on_status(self.status)
        except Exception:  # whoever listens must not stop the line
            log.exception("line status %r", self.status)
        if self.health_path is not None:
            self._write_health()

    def _write_health(self) -> None:
        """The line's health for scripts/modem-check, which cannot ask the serve process (it holds the ports)."""
        health = {"pid": os.getpid(), "at_path": self.at_path, "audio_path": self.audio_path, "dialect": self.dialect,
                  "status": self.status.to_dict(), "last_fault": asdict(self.last_fault) if self.last_fault else None,
                  "last_fault_text": self.last_fault.describe() if self.last_fault else "", "calls": len(self.calls)}
        staged = self.health_path.with_name(f".{self.health_path.name}.new")
        try:
            staged.write_text(json.dumps(health, indent=1))
            os.replace(staged, self.health_path)
        except OSError as exc:
            log.warning("modem line: cannot write %s: %s", self.health_path, exc)

    # Helpers

    async def _try(self, command: Awaitable, what: str) -> bool:
        """Run a modem command whose failure must not stop the clean-up; a port that failed marks the modem gone."""
        try:
            await command
            return True
        except ModemError as exc:
            if exc.code in GONE:
                self._modem_lost(exc.message)
            else:
                log.warning("modem line: could not %s: %s", what, exc)
            return False

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


# The voice path's check, for scripts/modem-check


async def check_voice(at_path: str, audio_path: str, dialect: str = "sim7600",
                      health_path: str | Path | None = None) -> tuple[int, list[str]]:
    """The voice path as far as it can be seen without a call: returns an exit status (0 fine, 1 a fault, 2 no
    modem) and the lines to print. While `appliance serve` holds the ports, its health file says how they are."""
    health = None
    if health_path and Path(health_path).is_file():
        try:
            health = json.loads(Path(health_path).read_text())
        except (OSError, ValueError):
            health = None
    said, status = [], 0
    if not await audio_port_present(audio_path):
        said.append(f"voice: audio port {audio_path} does not exist")
        status = 2
    if serve_holds(health):
        line = health.get("status") or {}
        said.append(f"voice: appliance serve holds the modem (pid {health['pid']}): {line.get('state')}: "
                    f"{line.get('detail')}")
        no_network = str(line.get("detail", "")).startswith("no network")
        status = max(status, {"listening": 0, "recovering": 1}.get(line.get("state"), 1 if no_network else 2))
    elif status == 0:
        try:
            (await open_audio_port(audio_path)).close()
            said.append(f"voice: audio port {audio_path} opens")
        except ModemError as exc:
            said.append(f"voice: audio port {audio_path} does not open: {exc.message}")
            status = 2
        query = "AT+QPCMV?" if dialect == "quectel" else "AT+CPCMREG?"
        try:
            async with open_serial(at_path, dialect=dialect, timeout_s=5.0) as modem:
                answer = " ".join(await modem.command(query)) or "OK"
            state = answer.rpartition(":")[2].strip()
            idle = state.startswith("0")
            said.append(f"voice: {query} answers {answer}" + ("" if idle else " (PCM left on with no call)"))
            status = max(status, 0 if idle else 1)
        except ModemError as exc:
            said.append(f"voice: {query} failed: {exc.message}")
            status = max(status, 1 if exc.code not in ("modem-io", "modem-timeout") else 2)
        said.append("voice: PCM itself flows only during a call (the SIM7600 refuses AT+CPCMREG=1 without one); "
                    "call the box to hear it")
    if health and health.get("last_fault_text"):
        said.append(f"voice: last fault: {health['last_fault_text']}")
    elif health is not None:
        said.append("voice: no fault since serve started")
    return status, said


def main(argv: list[str] | None = None) -> int:
    """`python -m appliance.line.modem check AT_PORT AUDIO_PORT`: what scripts/modem-check runs."""
    parser = argparse.ArgumentParser(prog="python -m appliance.line.modem",
                                     description="Check a GSM modem's voice path without a call.")
    parser.add_argument("command", choices=["check"])
    parser.add_argument("at_path")
    parser.add_argument("audio_path")
    parser.add_argument("--dialect", default="sim7600", choices=list(DIALECTS))
    parser.add_argument("--health", help=f"the health file appliance serve writes (data_dir/{HEALTH_FILE})")
    arguments = parser.parse_args(argv)
    status, said = asyncio.run(check_voice(arguments.at_path, arguments.audio_path, arguments.dialect,
                                           arguments.health))
    print("\n".join(said))
    return status


if __name__ == "__main__":
    sys.exit(main())
