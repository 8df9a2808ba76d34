"""The GSM modem on the event loop: one AT command at a time, SMS out and in, delivery reports and calls as events.

Whatever the modem says unasked (a new message, a report, a ring, a call that began or ended, a key)
becomes an event: it goes to the `on_event` callback when one is given, else into the `events` queue.
Reading a new message takes commands of its own, so it runs as a task that waits for the command
lock like any other caller; so does asking AT+CEER why a call ended. A message that cannot be read
is logged and deleted like the others; it stops nothing.

Voice calls speak one of two dialects: `sim7600` (SIMCom: VOICE CALL: BEGIN/END, AT+CPCMREG, AT+DDET
and +RXDTMF, AT+CRESET) or `quectel` (EC25/EG25: ATD answers OK once connected, AT+QPCMV=1,0,
AT+QTONEDET and +QTONEDET, AT+CFUN=1,1). The call's audio is on a port of its own: see audio_port.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Callable, Protocol

import serial

from appliance.errors import ApplianceError
from appliance.modem import at, sms

log = logging.getLogger(__name__)

REGISTRATION = {0: "not-registered", 1: "home", 2: "searching", 3: "denied", 4: "unknown", 5: "roaming"}
SIM_ANSWERS = {"READY": "ready", "SIM PIN": "pin-required", "SIM PUK": "puk-required"}
SIM_ERRORS = {10: "missing", 13: "failure", 14: "busy", 15: "wrong"}  # +CME ERROR numbers answering AT+CPIN?
# Failures that sending the same message again cannot cure: the number, the subscription or the message is wrong.
PERMANENT_CMS = frozenset({1, 8, 10, 21, 28, 29, 30, 50, 69, 95, 96, 97, 99, 128, 144, 176, 193, 195, 196, 304, 305})
PERMANENT_CME = frozenset({26, 27})  # the dial string is too long or has characters a number cannot have
NEW_MESSAGE_INDICATIONS = "AT+CNMI=2,1,0,1,0"  # +CMTI for each stored message, +CDS for each status report
SETTLE_S = 0.05  # a modem left at the SMS prompt answers the opening ESC within this
DIALECTS = ("sim7600", "quectel")
DIALLABLE = re.compile(r"\+?[0-9*#ABC]{1,40}")  # what ATD takes as a number (SIM7600 manual 3.2)
DIAL_TIMEOUT_S = 90.0  # a network gives up on an unanswered call well before this
# A dial's outcome from ATD's final result (or, after a SIMCom OK, from the result that follows unasked).
DIAL_RESULTS = {"BUSY": "busy", "NO ANSWER": "no-answer", "NO CARRIER": "no-carrier", "NO DIALTONE": "no-carrier"}
# What AT+CEER says when a person ended the call: the other side (27.007 causes 16 and 31) or this one ("client
# ended call"); anything else ended it from within the network (SIM7500/SIM7600 manual 19.2).
REMOTE_RELEASES = ("normal call clearing", "normal, unspecified")
LOCAL_RELEASES = ("client ended call",)
REOPEN_POLL_S = 0.1  # how often reopen tries the device again
PROBE_S = 0.5  # how long a freshly opened port has to answer AT before reopen tries again
GONE_WAIT_S = 10.0  # after AT+CRESET's OK, how long a USB modem may take to drop off (one on a UART never does)


class ModemError(ApplianceError):
    """A modem command failed. `permanent`: sending the same message again cannot work (a bad number, a rejected
    message); otherwise the network, the SIM or the modem may recover. `number` and `meaning` are those of the
    +CMS/+CME error, when there was one."""

    def __init__(self, code: str, message: str, *, permanent: bool = False, number: int | None = None,
                 meaning: str = ""):
        super().__init__(code, message)
        self.permanent = permanent
        self.number = number
        self.meaning = meaning


@dataclass(frozen=True)
class Status:
    """What the modem says of its SIM, its network and its signal."""

    sim: str  # ready, pin-required, puk-required, missing, failure, busy, wrong
    registration: str  # home, roaming, searching, denied, not-registered, unknown
    signal_dbm: int | None  # None when the modem cannot tell

    @property
    def sim_ready(self) -> bool:
        """Whether the SIM is in and unlocked."""
        return self.sim == "ready"

    @property
    def registered(self) -> bool:
        """Whether the modem is on a network (home or roaming) and can send."""
        return self.registration in ("home", "roaming")


@dataclass(frozen=True)
class SmsReceived:
    """A whole text message came in (its parts joined)."""

    number: str
    text: str
    timestamp: datetime | None
    parts: int


@dataclass(frozen=True)
class DeliveryReport:
    """The network's word on a sent part: `reference` is one that send_sms returned."""

    reference: int
    number: str
    status: int  # TP-ST
    state: str  # delivered, pending, failed


@dataclass(frozen=True)
class IncomingCall:
    """The phone rings (once per ring); `caller_id` is None when the number is withheld or unknown."""

    caller_id: str | None


@dataclass(frozen=True)
class CallStarted:
    """The call is connected (answered, or a dialled number picked up): audio can be turned on."""


@dataclass(frozen=True)
class CallEnded:
    """The call is over, or a ringing one stopped. `reason`: remote (the other side hung up), local (the appliance
    did), network (the network dropped it), busy, no-answer, no-carrier (a dial that never connected).
    `duration_s`: how long it was connected, when the modem said (SIMCom's VOICE CALL: END)."""

    reason: str = "remote"
    duration_s: int | None = None


@dataclass(frozen=True)
class KeyPressed:
    """The caller pressed a key (0-9, *, #, A-D), as the modem heard it (enable_keys turns this on)."""

    key: str


@dataclass(frozen=True)
class ModemLost:
    """The modem's port failed (unplugged, re-enumerated, restarted): commands fail until reopen()."""

    reason: str


@dataclass(frozen=True)
class NetworkChanged:
    """The network registration changed (home, roaming, searching, denied, not-registered, unknown)."""

    registration: str


class Port(Protocol):
    """A byte link to a modem: a serial device, or anything else that carries AT commands."""

    async def read(self) -> bytes: ...

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class SerialPort:
    """A serial device on the event loop: pyserial opens and configures it; reading and writing never block."""

    def __init__(self, device: str, baudrate: int = 115200):
        try:
            self.serial = serial.Serial(device, baudrate, timeout=0)
        except (serial.SerialException, ValueError) as exc:
            raise ModemError("modem-io", f"cannot open {device}: {exc}") from None
        self.device = device
        self._fd = self.serial.fileno()
        self._loop = asyncio.get_running_loop()
        self._incoming: asyncio.Queue[bytes | ModemError] = asyncio.Queue()
        self._outgoing = bytearray()
        self._loop.add_reader(self._fd, self._readable)

    def _readable(self) -> None:
        try:
            data = self.serial.read(4096)
        except serial.SerialException as exc:
            self._fail(exc)
            return
        if data:
            self._incoming.put_nowait(data)

    def _fail(self, exc: Exception) -> None:
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._incoming.put_nowait(ModemError("modem-io", f"{self.device}: {exc}"))

    async def read(self) -> bytes:
        """The next bytes from the modem; a ModemError once the device is gone."""
        item = await self._incoming.get()
        if isinstance(item, ModemError):
            self._incoming.put_nowait(item)  # every later read fails the same way
            raise item
        return item

    def write(self, data: bytes) -> None:
        """Queue bytes for the modem; they go out as fast as the device takes them."""
        self._outgoing += data
        self._flush()

    def _flush(self) -> None:
        """Write what the device takes now and wait for it to drain for the rest; this writes the descriptor itself
        because pyserial's zero-timeout write retries a full buffer in a busy loop."""
        try:
            written = os.write(self._fd, self._outgoing)
        except BlockingIOError:
            written = 0
        except OSError as exc:
            self._fail(exc)
            return
        del self._outgoing[:written]
        if self._outgoing:
            self._loop.add_writer(self._fd, self._flush)
        else:
            self._loop.remove_writer(self._fd)

    def close(self) -> None:
        """Let go of the device; closing twice is harmless."""
        if not self.serial.is_open:
            return
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self.serial.close()


def open_serial(device: str, baudrate: int = 115200, **options) -> Modem:
    """A Modem on a serial device (`/dev/ttyUSB2`); call `open()` or use it with `async with`. After a reset or a
    re-enumeration it opens the same path again (give a udev link that survives them, not a ttyUSB number)."""
    return Modem(SerialPort(device, baudrate), reopen=partial(SerialPort, device, baudrate), **options)


async def probe(device: str, baudrate: int = 115200, **options) -> Status:
    """Open the modem on `device`, read its SIM, network and signal, and let it go."""
    async with open_serial(device, baudrate, **options) as modem:
        return await modem.status()


class _Exchange:
    """One command in flight: its information lines, its prompt (if it asks for a body) and its final result."""

    def __init__(self):
        loop = asyncio.get_running_loop()
        self.lines: list[str] = []
        self.prompt: asyncio.Future[bool] = loop.create_future()
        self.body_sent = False
        self.done: asyncio.Future[at.Final] = loop.create_future()


def _settle(future: asyncio.Future, value) -> None:
    if not future.done():
        future.set_result(value)


def _error(line: str, final: at.Final) -> ModemError:
    """The exception for a failed command, permanent only when the message itself cannot go."""
    if final.result in ("+CMS ERROR", "+CME ERROR"):
        kind = final.result[1:4].lower()
        permanent = final.number in (PERMANENT_CMS if kind == "cms" else PERMANENT_CME)
        code = f"modem-{kind}-{final.number if final.number is not None else 'error'}"
        return ModemError(code, f"{line} failed: {final.meaning} ({final.result} {final.number})",
                          permanent=permanent, number=final.number, meaning=final.meaning)
    return ModemError("modem-" + final.result.lower().replace(" ", "-"), f"{line} failed: {final.result}")


def _values(lines: list[str], name: str) -> list[str]:
    """The values of the first `+NAME:` line in an answer."""
    for line in lines:
        try:
            found, values = at.parse_info(line)
        except at.AtError:
            continue
        if found == name:
            return values
    raise ModemError("modem-answer-invalid", f"no {name} line in {lines!r}")


def _number(lines: list[str], name: str, position: int) -> int:
    """One number from a `+NAME:` line of an answer."""
    values = _values(lines, name)
    try:
        return int(values[position])
    except (IndexError, ValueError):
        raise ModemError("modem-answer-invalid", f"no number at {position} in {name}: {values!r}") from None


def signal_dbm(rssi: int) -> int | None:
    """dBm from the +CSQ rssi (0 is -113 dBm or less, 31 is -51 or more, 99 is unknown)."""
    return -113 + 2 * rssi if 0 <= rssi <= 31 else None


class Modem:
    """A GSM modem behind a Port: commands one at a time, each with a timeout; URCs become events."""

    def __init__(self, port: Port, *, timeout_s: float = 10.0, sms_timeout_s: float = 60.0,
                 on_event: Callable[[object], None] | None = None, dialect: str = "sim7600",
                 reopen: Callable[[], Port] | None = None):
        if dialect not in DIALECTS:
            raise ValueError(f"unknown modem dialect {dialect!r}: known are {', '.join(DIALECTS)}")
        self.port = port
        self.dialect = dialect
        self._reopen = reopen  # makes a fresh Port on the same device
        self.timeout_s = timeout_s
        self.sms_timeout_s = sms_timeout_s
        self.events: asyncio.Queue = asyncio.Queue()
        self._emit = on_event or self.events.put_nowait
        self._parser = at.AtParser()
        self._lock = asyncio.Lock()
        self._current: _Exchange | None = None
        self._broken: ModemError | None = None
        self._reader: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._assembler = sms.Assembler()
        self._reference = random.randrange(256)  # concatenation reference; a fresh start makes clashes unlikely
        self._sms_ready = False
        self._caller_id = False
        self._call: str | None = None  # ringing, dialing, active; ended: a VOICE CALL: END whose NO CARRIER may follow
        self._hanging_up = False  # AT+CHUP in flight: the call's end is the appliance's doing
        self._dialled: asyncio.Future[str] | None = None  # the outcome of the dial in flight
        self._port_lost = asyncio.Event()  # the reader met a port that failed
        self._reopening = False

    async def __aenter__(self) -> Modem:
        try:
            await self.open()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def open(self) -> Status:
        """Start talking: leave any half-written SMS (ESC), echo off, numeric errors, network changes told; once the
        SIM is ready, set up SMS (PDU mode, SIM storage, new-message and report indications, caller id) and read
        what is stored."""
        self._reader = asyncio.create_task(self._read_forever())
        return await self._set_up()

    async def _set_up(self) -> Status:
        self.port.write(self._parser.cancel())
        await asyncio.sleep(SETTLE_S)
        await self.command("ATE0")
        await self.command("AT+CMEE=1")
        await self.command("AT+CREG=1")  # +CREG: <stat> unasked when the network registration changes (27.007 7.2)
        status = await self.status()
        if status.sim_ready:
            await self._setup_sms()
            await self.read_stored()
        return status

    async def close(self) -> None:
        """Stop reading and let go of the port."""
        tasks = [task for task in (self._reader, *self._tasks) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.port.close()

    async def reopen(self, *, timeout_s: float = 30.0) -> Status:
        """Let go of the port and open its device again once it is back and answers AT (after a restart or a USB
        re-enumeration), then set up as open() does. ModemError `modem-gone` when it does not answer within
        timeout_s. A call survives a re-enumeration on the modem's side; hang_up() ends it as usual."""
        if self._reopen is None:
            raise ModemError("modem-io", "this modem's port cannot be opened again")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        self._reopening = True
        try:
            while True:
                await self._let_go()
                try:
                    self.port = self._reopen()
                except ModemError as exc:
                    failure = exc
                else:
                    self._reader = asyncio.create_task(self._read_forever())
                    try:
                        await self.command("AT", timeout_s=PROBE_S)
                        break
                    except ModemError as exc:
                        failure = exc
                if loop.time() + REOPEN_POLL_S > deadline:
                    await self._let_go()
                    raise ModemError("modem-gone", f"no modem answered within {timeout_s:g} s: {failure.message}")
                await asyncio.sleep(REOPEN_POLL_S)
        finally:
            self._reopening = False
        self._sms_ready = self._caller_id = False
        return await self._set_up()

    async def _let_go(self) -> None:
        """Stop reading the port and close it; the next port starts with a clean slate."""
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        self.port.close()
        self._parser = at.AtParser()
        self._broken = None
        self._port_lost.clear()

    async def command(self, line: str, *, timeout_s: float | None = None) -> list[str]:
        """Send one AT command (`AT+CSQ`); returns its information lines or raises ModemError."""
        async with self._lock:
            return await self._exchange(line, None, timeout_s or self.timeout_s)

    async def _exchange(self, line: str, body: str | None, timeout_s: float) -> list[str]:
        """Run one command with the lock held; `body` answers the `> ` prompt."""
        if self._broken is not None:
            raise self._broken
        exchange = self._current = _Exchange()
        try:
            final = await asyncio.wait_for(self._talk(exchange, line, body), timeout_s)
        except asyncio.TimeoutError:
            if body is not None and not exchange.body_sent:  # leave the prompt, should it come after all
                self.port.write(self._parser.cancel())
            raise ModemError("modem-timeout", f"{line}: no answer within {timeout_s:g} s") from None
        finally:
            self._current = None
        if not final.ok:
            raise _error(line, final)
        return exchange.lines

    async def _talk(self, exchange: _Exchange, line: str, body: str | None) -> at.Final:
        self.port.write(self._parser.command(line))
        if body is not None and await exchange.prompt:
            self.port.write(self._parser.body(body))
            exchange.body_sent = True
        return await exchange.done

    async def status(self) -> Status:
        """The SIM, the network registration and the signal, asked now."""
        sim = await self._sim_state()
        registration = _number(await self.command("AT+CREG?"), "+CREG", 1)
        rssi = _number(await self.command("AT+CSQ"), "+CSQ", 0)
        return Status(sim, REGISTRATION.get(registration, "unknown"), signal_dbm(rssi))

    async def _sim_state(self) -> str:
        try:
            answer = _values(await self.command("AT+CPIN?"), "+CPIN")[0]
        except ModemError as exc:
            if exc.number in SIM_ERRORS:
                return SIM_ERRORS[exc.number]
            raise
        return SIM_ANSWERS.get(answer, answer.lower().replace(" ", "-"))

    async def _setup_sms(self) -> None:
        await self.command("AT+CMGF=0")
        await self.command('AT+CPMS="SM","SM","SM"')
        await self.command(NEW_MESSAGE_INDICATIONS)
        try:
            await self.command("AT+CLIP=1")
            self._caller_id = True
        except ModemError as exc:
            log.warning("the modem will not show caller ids: %s", exc)
        self._sms_ready = True

    async def send_sms(self, number: str, text: str, *, report: bool = True) -> list[int]:
        """Send a text in as many parts as it needs; returns each part's message reference, in order.

        A failure part-way raises like any other: the parts before it have gone.
        """
        self._reference = (self._reference + 1) % 256
        try:
            pdus = sms.submit_pdus(number, text, report=report, reference=self._reference)
        except ValueError as exc:
            raise ModemError("modem-sms-invalid", str(exc), permanent=True) from None
        if not self._sms_ready:
            await self._setup_sms()
        references = []
        async with self._lock:
            for pdu in pdus:
                lines = await self._exchange(f"AT+CMGS={sms.tpdu_length(pdu)}", pdu, self.sms_timeout_s)
                references.append(_number(lines, "+CMGS", 0))
        return references

    async def read_stored(self) -> None:
        """Read every message and report in SIM storage, delete them, and hand them on as events. One that cannot
        be read is logged and deleted with the rest (it never will be read, and it takes a place in storage)."""
        async with self._lock:
            lines = await self._exchange("AT+CMGL=4", None, self.timeout_s)
            stored = []
            for header, pdu in zip(lines, lines[1:]):
                if header.startswith("+CMGL:"):
                    try:
                        stored.append((_number([header], "+CMGL", 0), pdu))
                    except ModemError as exc:
                        log.warning("skipped a stored message listed without its index: %s", exc.message)
            for index, _ in stored:
                await self._exchange(f"AT+CMGD={index}", None, self.timeout_s)
        for index, pdu in stored:
            self._take(pdu, f"stored message {index}")

    async def _fetch(self, index: int) -> None:
        """Read the message a +CMTI/+CDSI announced, delete it, and hand it on."""
        try:
            async with self._lock:
                lines = await self._exchange(f"AT+CMGR={index}", None, self.timeout_s)
                await self._exchange(f"AT+CMGD={index}", None, self.timeout_s)
        except ModemError as exc:
            log.warning("could not read stored message %s: %s", index, exc)
            return
        if len(lines) >= 2:
            self._take(lines[1], f"stored message {index}")

    def _take(self, pdu: str, source: str) -> None:
        """Turn a received PDU into an event: a report at once, a message once all its parts are in (or never, when
        the rest does not come: see sms.Assembler). One that cannot be read is logged with its `source` and dropped."""
        try:
            part = sms.parse_pdu(pdu)
        except sms.PduError as exc:
            log.warning("dropped %s, which cannot be read: %s (PDU %s...)", source, exc, pdu[:40])
            return
        if isinstance(part, sms.StatusReport):
            self._emit(DeliveryReport(part.reference, part.number, part.status, part.state))
        elif isinstance(part, sms.Deliver):
            message = self._assembler.add(part)
            if message is not None:
                self._emit(SmsReceived(message.number, message.text, message.timestamp, len(message.parts)))

    # Voice calls

    async def enable_caller_id(self) -> None:
        """Have each RING followed by the caller's number (AT+CLIP=1; open() asks for it once the SIM is ready)."""
        await self.command("AT+CLIP=1")
        self._caller_id = True

    async def enable_keys(self) -> None:
        """Have the modem report the keys the caller presses (AT+DDET=1, or Quectel's AT+QTONEDET=1): KeyPressed."""
        await self.command("AT+QTONEDET=1" if self.dialect == "quectel" else "AT+DDET=1")

    async def answer(self) -> None:
        """Pick up a ringing call; CallStarted follows (with SIMCom, once it says VOICE CALL: BEGIN)."""
        await self.command("ATA")
        if self.dialect == "quectel":  # its OK is the connection: no line of its own follows
            self._began()

    async def hang_up(self) -> None:
        """End the call, or refuse the ringing one (AT+CHUP: ATH does nothing on a SIM7600 until AT+CVHU=0).
        CallEnded("local") follows when there was a call."""
        self._hanging_up = True
        try:
            await self.command("AT+CHUP")
        finally:
            self._hanging_up = False
        if self._call in ("ringing", "dialing", "active"):  # the modem said nothing of it (Quectel)
            self._call = None
            self._emit(CallEnded("local"))

    async def start_audio(self, sound_card: bool = False) -> None:
        """Have the call's audio flow on the audio port (AT+CPCMREG=1 once connected; Quectel's AT+QPCMV=1,0, the
        USB port, may come before; AT+QPCMV=1,2 with `sound_card`, its USB sound card). Read and write it with
        audio_port.open_audio_port."""
        if self.dialect == "quectel":
            await self.command("AT+QPCMV=1,2" if sound_card else "AT+QPCMV=1,0")
        else:
            await self.command("AT+CPCMREG=1")

    async def stop_audio(self) -> None:
        """Stop the call's audio on the audio port (AT+CPCMREG=0, AT+QPCMV=0)."""
        await self.command("AT+QPCMV=0" if self.dialect == "quectel" else "AT+CPCMREG=0")

    async def dial(self, number: str, *, timeout_s: float = DIAL_TIMEOUT_S) -> str:
        """Call `number`; returns how it went: answered (CallStarted follows or came), busy, no-answer, no-carrier
        (the network would not connect it: no service, a number that does not exist) or failed (the modem refused
        to dial, ERROR or +CME ERROR). A call not answered within timeout_s is hung up: no-answer. A number ATD
        cannot take raises ModemError `modem-dial-invalid` (permanent) before the modem is asked."""
        if DIALLABLE.fullmatch(number) is None:
            raise ModemError("modem-dial-invalid", f"{number!r} is not a number to dial", permanent=True)
        if self._call in ("ringing", "dialing", "active"):
            raise ModemError("modem-in-call", f"cannot dial {number}: a call is {self._call}")
        self._dialled = asyncio.get_running_loop().create_future()
        self._call = "dialing"
        try:
            try:
                await self.command(f"ATD{number};", timeout_s=timeout_s)  # Quectel: the OK comes when answered
            except ModemError as exc:
                if exc.code in ("modem-io", "modem-timeout"):
                    raise
                outcome = DIAL_RESULTS.get(exc.code.removeprefix("modem-").replace("-", " ").upper(), "failed")
                self._call = None
                if outcome != "failed":
                    self._emit(CallEnded(outcome))
                return outcome
            if self.dialect == "quectel":
                self._began()
            return await asyncio.wait_for(asyncio.shield(self._dialled), timeout_s)
        except (asyncio.TimeoutError, ModemError) as exc:
            if isinstance(exc, ModemError) and exc.code != "modem-timeout":
                raise
            await self.hang_up()
            return "no-answer"
        finally:
            self._dialled = None

    async def reset(self, *, timeout_s: float = 60.0) -> Status:
        """Restart the modem (AT+CRESET, or Quectel's AT+CFUN=1,1), wait until it is back and answers, and set it up
        again as open() does. Any call ends; audio and key reports are off until asked for again."""
        self._reopening = True  # the port going now is no news: no ModemLost
        try:
            try:
                await self.command("AT+CFUN=1,1" if self.dialect == "quectel" else "AT+CRESET")
            except ModemError as exc:
                if exc.code != "modem-io":  # a port that went before its OK came: the restart is under way
                    raise
            try:  # the port still answering now is the modem before its restart: wait for it to go
                await asyncio.wait_for(self._port_lost.wait(), min(GONE_WAIT_S, timeout_s))
            except asyncio.TimeoutError:
                pass  # a modem on a UART keeps its port: reopen finds it once it answers again
        finally:
            self._reopening = False
        self._call = None  # the restart ended it; the modem says nothing of that
        return await self.reopen(timeout_s=timeout_s)

    def _ringing(self) -> None:
        if self._call in (None, "ended"):
            self._call = "ringing"

    def _began(self) -> None:
        """The call is connected."""
        if self._call == "active":
            return
        self._call = "active"
        self._emit(CallStarted())
        self._settle_dial("answered")

    def _settle_dial(self, outcome: str) -> None:
        if self._dialled is not None and not self._dialled.done():
            self._dialled.set_result(outcome)

    def _ended(self, duration_s: int | None, *, no_carrier: bool = False) -> None:
        """The modem says the call ended: VOICE CALL: END, or NO CARRIER unasked."""
        state = self._call
        self._call = None if no_carrier else "ended"
        if state == "ended" and no_carrier:
            return  # the NO CARRIER after a VOICE CALL: END: one ending, one event
        if state == "dialing":
            self._settle_dial("no-carrier")
            self._emit(CallEnded("local" if self._hanging_up else "no-carrier"))
        elif state == "active" and not self._hanging_up:
            self._spawn(self._report_end(duration_s))
        else:  # ringing, or a call the appliance hung up, or one it never heard of
            self._emit(CallEnded("local" if self._hanging_up else "remote",
                                 duration_s if state == "active" else None))

    async def _report_end(self, duration_s: int | None) -> None:
        """Ask AT+CEER whether a person or the network ended the call, and say it ended."""
        try:
            report = " ".join(await self.command("AT+CEER")).lower()
        except ModemError as exc:
            log.warning("could not ask why the call ended: %s", exc)
            report = ""
        if any(words in report for words in LOCAL_RELEASES):
            reason = "local"
        elif not report or any(words in report for words in REMOTE_RELEASES):
            reason = "remote"  # a report that cannot be had: the other side hanging up is by far the likeliest
        else:
            reason = "network"
        self._emit(CallEnded(reason, duration_s))

    def _dial_failed(self, result: str) -> None:
        """BUSY, NO ANSWER or NO DIALTONE after the OK of a SIMCom ATD."""
        if self._call != "dialing":
            log.info("modem: %s with no dial in hand", result)
            return
        self._call = None
        outcome = DIAL_RESULTS[result]
        self._settle_dial(outcome)
        self._emit(CallEnded(outcome))

    async def _read_forever(self) -> None:
        try:
            while True:
                for event in self._parser.feed(await self.port.read()):
                    try:
                        self._dispatch(event)
                    except Exception:  # a failing on_event callback must not stop the modem being read
                        log.exception("modem: handling %s failed", event)
        except ModemError as exc:
            self._broken = exc
            if self._current is not None and not self._current.done.done():
                self._current.done.set_exception(exc)
            if self._dialled is not None and not self._dialled.done():
                self._dialled.set_exception(exc)
            self._port_lost.set()
            if not self._reopening:
                try:
                    self._emit(ModemLost(exc.message))
                except Exception:
                    log.exception("modem: handling the lost port failed")

    def _dispatch(self, event) -> None:
        exchange = self._current
        match event:
            case at.Info(line=line) if exchange is not None:
                exchange.lines.append(line)
            case at.Prompt() if exchange is not None:
                _settle(exchange.prompt, True)
            case at.Final() if exchange is not None:
                _settle(exchange.prompt, False)
                _settle(exchange.done, event)
            case at.Ring():
                self._ringing()
                if not self._caller_id:
                    self._emit(IncomingCall(None))
            case at.CallerId(number=number):
                self._ringing()
                self._emit(IncomingCall(number or None))
            case at.VoiceCallBegan():
                self._began()
            case at.VoiceCallEnded(duration_s=duration_s):
                self._ended(duration_s)
            case at.NoCarrier():
                self._ended(None, no_carrier=True)
            case at.CallResult(result=result):
                self._dial_failed(result)
            case at.KeyReported(key=key):
                self._emit(KeyPressed(key))
            case at.MessageStored(index=index):
                self._spawn(self._fetch(index))
            case at.MessageShown(body=pdu):
                self._take(pdu, "the message +CMT showed")
            case at.StatusReportShown(pdu=pdu) if pdu:
                self._take(pdu, "the report +CDS showed")
            case at.StatusReportShown(reference=reference, status=status):
                self._emit(DeliveryReport(reference, "", status, sms.report_state(status)))
            case at.RegistrationChanged(stat=stat):
                self._emit(NetworkChanged(REGISTRATION.get(stat, "unknown")))
            case _:
                log.debug("modem: %s", event)

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

