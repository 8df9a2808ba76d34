"""A SIMCom SIM7600 as far as the appliance uses it, with no I/O: bytes typed go to `receive`, answers to `output`.

Written from the command set of the SIM7500/SIM7600 AT command manual and 3GPP TS 27.005/27.007:
echo, error formats, identity, SIM PIN, registration, signal, operator, SMS in PDU and text mode
(send, store, read, list, delete, indications, status reports), voice calls (ATA, ATD, ATH,
AT+CHUP, AT+CVHU, AT+CEER, VOICE CALL: BEGIN/END), call audio on/off (AT+CPCMREG), key reports
(AT+DDET, +RXDTMF) and restarts (AT+CRESET, AT+CFUN=1,1). `dialect="quectel"` makes it a Quectel
EC25 instead where the two differ (see voice_twin.Dialect). Tests and technicians script the rest
of the world through its public methods: the SIM, the network, the next command's failure, an
incoming text, a ring, the caller's voice and keys, how a dialled number answers, and faults.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from appliance.modem import sms
from appliance.modem.at import CME_MEANINGS, CMS_MEANINGS, split_args
from appliance.modem.voice_twin import DIAL_RESULTS, DIALECTS, KEYS, RELEASES, VoiceChannel, call_time

MANUFACTURER = DIALECTS["sim7600"].manufacturer
MODEL = DIALECTS["sim7600"].model
REVISION = DIALECTS["sim7600"].revision
IMEI = "862478030001239"
OPERATOR = "SIMULATED"
SERVICE_CENTRE = "+15550000000"
LOCATION = '"00C3","0010F0A2"'  # LAC and cell id that +CREG shows at level 2
TEXT_STATES = ("REC UNREAD", "REC READ", "STO UNSENT", "STO SENT", "ALL")
STORAGES = ("SM", "ME", "MT")  # all three name the one store here


class Refused(Exception):
    """A command fails: `kind` is CME or CMS with a number, or the final result itself (ERROR, NO CARRIER)."""

    def __init__(self, kind: str = "ERROR", number: int | None = None):
        super().__init__(kind, number)
        self.kind = kind
        self.number = number


@dataclass
class Stored:
    """A message or status report in SIM storage."""

    stat: int  # 0 received unread, 1 received read, 2 stored unsent, 3 stored sent
    pdu: str


@dataclass(frozen=True)
class SentSms:
    """A message the modem sent, its parts joined; `references` are the +CMGS values of its parts."""

    number: str
    text: str
    references: tuple[int, ...]
    report: bool


def _text_time(moment: datetime) -> str:
    """A timestamp as text-mode answers show it: `24/01/12,12:34:56+00` (the zone in quarter hours)."""
    quarters = int(moment.utcoffset().total_seconds() // 900)
    return f"{moment:%y/%m/%d,%H:%M:%S}{'-' if quarters < 0 else '+'}{abs(quarters):02d}"


def _fixed(line: str):
    """The handler of an identity command: one line, whatever the form."""
    return lambda form, args: [] if form == "test" else [line]


def _flag(value: str) -> bool:
    """A 0/1 argument; Refused for anything else."""
    if value not in ("0", "1"):
        raise Refused()
    return value == "1"


def _address_type(number: str) -> int:
    return 145 if number.startswith("+") else 129


def _readable(pdu: str) -> sms.Submit | sms.Deliver | sms.StatusReport | None:
    """The message a PDU holds, or None when it does not parse (deliver_pdu takes any)."""
    try:
        return sms.parse_pdu(pdu)
    except sms.PduError:
        return None


class Sim7600:
    """The modem's state and its AT command set; a subclass supplies `output` (see simulator.Simulator)."""

    def __init__(self, *, sim: bool = True, pin: str | None = None, registration: int = 1, signal: int = 20,
                 dialect: str = "sim7600"):
        if dialect not in DIALECTS:
            raise ValueError(f"unknown modem dialect {dialect!r}: known are {', '.join(DIALECTS)}")
        self.dialect = DIALECTS[dialect]
        self.sim_present = sim
        self.pin = pin
        self.sim_locked = pin is not None
        self.registration = registration  # +CREG stat: 0 none, 1 home, 2 searching, 3 denied, 4 unknown, 5 roaming
        self.signal = signal  # +CSQ rssi: 0-31, 99 unknown
        self.report_delay_s = 0.05  # how long the network takes to deliver a message and report on it
        self.report_status = 0  # TP-ST of the reports it sends: 0 delivered, 0x41 (say) failed
        self.ring_interval_s = 3.0
        self.capacity = 30
        self.storage: dict[int, Stored] = {}
        self.sent: list[SentSms] = []
        self.ringing_from: str | None = None
        self.in_call = False
        self.dialing: str | None = None  # the number of a call being set up (ATD said, no outcome yet)
        self.dial_outcomes: dict[str, tuple[str, float]] = {}  # script_dial: number -> (outcome, after_s)
        self.answer_delay_s = 0.05  # how long a dialled number not scripted takes to answer
        self.last_release = "Normal, unspecified"  # what AT+CEER says
        self.caller = VoiceChannel()  # the other end of the call's audio
        self.audio_enabled = False  # AT+CPCMREG=1 / AT+QPCMV=1
        self.audio_port = 0  # AT+QPCMV's <port>: 0 is the USB port this twin carries audio on
        self.mute_to_appliance = False  # faults: audio that never reaches the appliance ...
        self.mute_from_appliance = False  # ... or never reaches the caller
        self.audio_dead = False  # the audio port carries nothing until the modem restarts
        self._audio_dies = False  # audio_dies_after_a_call
        self.keys_pressed: list[str] = []  # every key the caller pressed, reported or not
        self.cfun = 1
        self.boots = 0  # restarts since it was made (AT+CRESET, AT+CFUN=1,1)
        self.restart_delay_s = 0.05  # after AT+CRESET's OK, before the modem goes
        self.restart_s = 0.2  # how long it stays gone (the simulator's ports vanish meanwhile)
        self.restarting = False  # between AT+CRESET's OK and the restart: it hears nothing
        self._call_began = 0.0  # monotonic seconds when the call connected
        self._dial_timer: asyncio.TimerHandle | None = None
        self._faults: list[tuple[str, Refused]] = []  # fail_next, in order
        self._ignored: list[str] = []  # ignore_next
        self._typed = bytearray()
        self._finish_body = None  # at the `> ` prompt: what to do with the body
        self._message_reference = 0
        self._concat_reference = 0
        self._sent_parts = sms.Assembler()
        self._timers: list[asyncio.TimerHandle] = []
        self.reset()
        self._commands = {
            "+CGMI": _fixed(MANUFACTURER), "+CGMM": _fixed(MODEL), "+CGMR": _fixed(f"+CGMR: {REVISION}"),
            "+CGSN": _fixed(IMEI),
            "+CMEE": self._cmee, "+CPIN": self._cpin, "+CREG": self._creg, "+CSQ": self._csq, "+COPS": self._cops,
            "+CMGF": self._cmgf, "+CSCS": self._cscs, "+CSMP": self._csmp, "+CNMI": self._cnmi, "+CPMS": self._cpms,
            "+CMGS": self._cmgs, "+CMGR": self._cmgr, "+CMGL": self._cmgl, "+CMGD": self._cmgd, "+CLIP": self._clip,
            "+CHUP": self._chup, "+CVHU": self._cvhu, "+CEER": self._ceer, "+CFUN": self._cfun,
        }
        if self.dialect.name == "quectel":
            self._commands.update({"+QPCMV": self._qpcmv, "+QTONEDET": self._qtonedet,
                                   "+CGMR": _fixed(self.dialect.revision)})
        else:
            self._commands.update({"+CPCMREG": self._cpcmreg, "+DDET": self._ddet, "+CRESET": self._creset})
        self._commands.update({"+CGMI": _fixed(self.dialect.manufacturer), "+CGMM": _fixed(self.dialect.model)})

    def reset(self) -> None:
        """Factory settings (ATZ, AT&F): echo on, plain ERROR, PDU mode, no indications."""
        self.echo = True
        self.cmee = 0
        self.creg_mode = 0
        self.clip = 0
        self.cmgf = 0
        self.cscs = "IRA"
        self.csmp = [17, 167, 0, 0]  # first octet, validity, protocol id, data coding
        self.cnmi = [0, 0, 0, 0, 0]  # mode, mt (messages), bm, ds (status reports), bfr
        self.cvhu = 0 if self.dialect.ath_hangs_up else 1  # AT+CVHU: 1 (SIM7600's default) makes ATH a no-op
        self.key_reports = 0  # AT+DDET / AT+QTONEDET

    def output(self, data: bytes) -> None:
        """Send bytes to the computer; the pty wrapper (or a test) supplies this."""
        raise NotImplementedError

    # Scripting the world

    def fail_next(self, command: str, *, cms: int | None = None, cme: int | None = None) -> None:
        """Make the next `command` (`+CMGS`) fail with +CMS ERROR `cms`, +CME ERROR `cme`, or ERROR."""
        if cms is not None:
            refused = Refused("CMS", cms)
        elif cme is not None:
            refused = Refused("CME", cme)
        else:
            refused = Refused()
        self._faults.append((command.upper(), refused))

    def ignore_next(self, command: str) -> None:
        """Make the next `command` get no answer at all (for +CMGS: not even the prompt), as a hung modem would."""
        self._ignored.append(command.upper())

    def set_registration(self, stat: int) -> None:
        """Move to another network state, with the +CREG URC when the computer asked for it; losing the network
        drops the call in progress."""
        self.registration = stat
        if self.creg_mode:
            self._urc(self._creg_line(include_mode=False))
        if stat not in (1, 5):
            self.drop_call()

    def deliver_sms(self, number: str, text: str) -> list[int]:
        """A text from `number` arrives: stored in SIM storage with +CMTI (or shown with +CMT); returns where."""
        self._concat_reference = (self._concat_reference + 1) % 256
        now = datetime.now(timezone.utc).replace(microsecond=0)
        pdus = sms.deliver_pdus(number, text, now, reference=self._concat_reference, service_centre=SERVICE_CENTRE)
        return [index for index in (self._arrive(pdu) for pdu in pdus) if index is not None]

    def deliver_pdu(self, pdu: str) -> int | None:
        """An SMS-DELIVER PDU arrives just as the network hands it on, read or not (a malformed one, say): stored
        with +CMTI, or shown with +CMT; returns where it was stored. Text mode shows none that does not parse."""
        return self._arrive(pdu)

    def ring(self, number: str = "+15551234567") -> None:
        """A call from `number` (empty: withheld) rings now and every ring_interval_s until answered or ended."""
        self.ringing_from = number
        self._ring()

    def remote_hang_up(self) -> None:
        """The other side ends the call (or stops ringing)."""
        if self.in_call or self.ringing_from is not None:
            self._released("remote")

    def drop_call(self) -> None:
        """The network drops the call in progress (a lost radio link): to the modem a release it did not ask for."""
        if self.in_call:
            self._released("network")

    def script_dial(self, number: str, outcome: str = "answered", after_s: float | None = None) -> None:
        """How a call to `number` goes: answered, busy, no-answer or no-carrier, `after_s` after ATD (default
        answer_delay_s). Numbers not scripted answer."""
        if outcome != "answered" and outcome not in DIAL_RESULTS:
            raise ValueError(f"unknown dial outcome {outcome!r}")
        self.dial_outcomes[number] = (outcome, self.answer_delay_s if after_s is None else after_s)

    def say(self, voice: np.ndarray | str | Path) -> None:
        """The caller's voice (an 8 kHz int16 array or a WAV file), sent once call audio flows, then silence."""
        self.caller.say(voice)

    def heard(self) -> np.ndarray:
        """What the appliance sent the caller in this call, as int16 samples."""
        return self.caller.heard()

    def press_keys(self, keys: str, at_s: Sequence[float] | None = None, gap_s: float = 0.15) -> None:
        """The caller presses `keys` (0-9, *, #, A-D): at each of `at_s` seconds from now, else one now and one every
        gap_s. The modem reports those pressed while a call is up and key detection is on (AT+DDET=1)."""
        keys = keys.upper()
        if any(key not in KEYS for key in keys):
            raise ValueError(f"{keys!r}: keys are {KEYS}")
        times = list(at_s) if at_s is not None else [position * gap_s for position in range(len(keys))]
        for key, delay_s in zip(keys, times):
            self._later(delay_s, partial(self._key, key))

    def mute_audio(self, to_appliance: bool = True, from_appliance: bool = False) -> None:
        """One-way (or no-way) audio from now on: what the caller says never reaches the appliance, and/or what
        the appliance sends is dropped. AT+CPCMREG still answers OK. mute_audio(False, False) mends it."""
        self.mute_to_appliance, self.mute_from_appliance = to_appliance, from_appliance

    def audio_dies_after_a_call(self) -> None:
        """Once the next call ends, the audio port carries nothing either way, though the commands still say OK,
        until the modem restarts (AT+CRESET)."""
        self._audio_dies = True

    @property
    def audio_on(self) -> bool:
        """Whether the call's audio flows on the audio port now (a fault may still silence it)."""
        return self.audio_enabled and self.in_call and self.audio_port == 0

    def stop(self) -> None:
        """Cancel everything scheduled: reports to come, rings to come."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    # Bytes in

    def receive(self, data: bytes) -> None:
        """Bytes typed at the modem."""
        if self.restarting:
            return
        for byte in data:
            if self._finish_body is not None:
                self._body_byte(byte)
            else:
                self._command_byte(byte)

    def _command_byte(self, byte: int) -> None:
        if byte == 0x0D:
            line = self._typed.decode("utf-8", errors="replace")
            self._typed.clear()
            self._echo(b"\r")
            self._execute(line)
        elif byte in (0x08, 0x7F):
            del self._typed[-1:]
        elif byte >= 0x20:
            self._typed.append(byte)
            self._echo(bytes([byte]))

    def _body_byte(self, byte: int) -> None:
        if byte == 0x1A:
            finish, self._finish_body = self._finish_body, None
            body = self._typed.decode("utf-8", errors="replace")
            self._typed.clear()
            self._respond(finish, body)
        elif byte == 0x1B:
            self._finish_body = None
            self._typed.clear()
            self._final([])
        elif byte == 0x0D:
            self._typed.extend(b"\n")  # text mode: a new line in the message, and the prompt again
            self.output(b"\r\n> ")
        elif byte in (0x08, 0x7F):
            del self._typed[-1:]
        elif byte >= 0x20:
            self._typed.append(byte)
            self._echo(bytes([byte]))

    def _echo(self, data: bytes) -> None:
        if self.echo:
            self.output(data)

    def _execute(self, line: str) -> None:
        start = line.upper().find("AT")
        if start < 0:
            return  # not a command; a modem stays silent
        self._respond(self._run, line[start + 2:].strip())

    def _respond(self, handler, argument) -> None:
        try:
            lines = handler(argument)
        except Refused as refused:
            self.output(f"\r\n{self._error_line(refused)}\r\n".encode())
            return
        if lines is not None:  # None: the answer comes later (a prompt) or never (an ignored command)
            self._final(lines)

    def _final(self, lines: list[str]) -> None:
        self.output("".join(f"\r\n{line}\r\n" for line in [*lines, "OK"]).encode())

    def _urc(self, *lines: str) -> None:
        self.output("".join(f"\r\n{line}\r\n" for line in lines).encode())

    def _error_line(self, refused: Refused) -> str:
        """The final result for a refusal, in the format AT+CMEE asked for: ERROR, a number, or words."""
        if refused.kind not in ("CME", "CMS"):
            return refused.kind  # ERROR, NO CARRIER
        if self.cmee == 0:
            return "ERROR"
        table = CMS_MEANINGS if refused.kind == "CMS" else CME_MEANINGS
        detail = table.get(refused.number, "unknown error") if self.cmee == 2 else refused.number
        return f"+{refused.kind} ERROR: {detail}"

    def _later(self, delay_s: float, callback) -> asyncio.TimerHandle:
        loop = asyncio.get_running_loop()
        self._timers = [timer for timer in self._timers if timer.when() > loop.time()]  # those still to come
        self._timers.append(loop.call_later(delay_s, callback))
        return self._timers[-1]

    # Commands

    def _ignore(self, name: str) -> bool:
        """Whether `name` is to go unanswered this once."""
        if name in self._ignored:
            self._ignored.remove(name)
            return True
        return False

    def _fail(self, name: str) -> None:
        """Raise the error scripted for `name`, if there is one."""
        for position, (command, refused) in enumerate(self._faults):
            if command == name:
                del self._faults[position]
                raise refused

    def _run(self, command: str) -> list[str] | None:
        if not command:
            return []
        if command.startswith("+"):
            match = re.fullmatch(r"(\+[A-Za-z0-9]+)(=\?|\?|=(.*))?", command)
            if match is None or match[1].upper() not in self._commands:
                raise Refused()
            name = match[1].upper()
            form = {None: "exec", "=?": "test", "?": "read"}.get(match[2], "set")
            if self._ignore(name):
                return None
            if name != "+CMGS":  # a send fails only once its body is in
                self._fail(name)
            return self._commands[name](form, split_args(match[3] or ""))
        return self._basic(command[0].upper(), command[1:])

    def _basic(self, letter: str, rest: str) -> list[str] | None:
        if letter == "E" and rest in ("", "0", "1"):
            self.echo = rest == "1"
            return []
        if letter == "Z" or (letter == "&" and rest.upper().startswith("F")):
            self.reset()
            return []
        if letter == "&":
            return []  # &C, &D, &W: nothing to simulate
        if letter == "I" and self.dialect.name == "quectel":
            return [self.dialect.manufacturer, self.dialect.model, f"Revision: {self.dialect.revision}"]
        if letter == "I":
            return [f"Manufacturer: {MANUFACTURER}", f"Model: {MODEL}", f"Revision: {REVISION}", f"IMEI: {IMEI}",
                    "+GCAP: +CGSM"]
        if letter == "A":
            return self._answer_call()
        if letter == "H" and rest in ("", "0"):
            return self._ath()
        if letter == "D":
            return self._dial(rest)
        raise Refused()

    def _cmee(self, form, args):
        return self._number_setting("cmee", "+CMEE", form, args, range(3))

    def _cmgf(self, form, args):
        return self._number_setting("cmgf", "+CMGF", form, args, range(2))

    def _number_setting(self, attribute: str, name: str, form: str, args: list[str], allowed: range) -> list[str]:
        if form == "read":
            return [f"{name}: {getattr(self, attribute)}"]
        if form == "test":
            return [f"{name}: ({allowed.start}-{allowed.stop - 1})"]
        if form == "set" and args and args[0].isdigit() and int(args[0]) in allowed:
            setattr(self, attribute, int(args[0]))
            return []
        raise Refused()

    def _cpin(self, form, args):
        if form == "test":
            return []
        if not self.sim_present:
            raise Refused("CME", 10)
        if form == "read":
            return ["+CPIN: SIM PIN" if self.sim_locked else "+CPIN: READY"]
        if form != "set" or not args:
            raise Refused()
        if not self.sim_locked:
            raise Refused("CME", 3)
        if args[0] != self.pin:
            raise Refused("CME", 16)
        self.sim_locked = False
        return []

    def _creg_line(self, include_mode: bool) -> str:
        values = [str(self.creg_mode)] if include_mode else []
        values.append(str(self.registration))
        if self.creg_mode == 2 and self.registration in (1, 5):
            values.append(LOCATION)
        return "+CREG: " + ",".join(values)

    def _creg(self, form, args):
        if form == "read":
            return [self._creg_line(include_mode=True)]
        return self._number_setting("creg_mode", "+CREG", form, args, range(3))

    def _csq(self, form, args):
        if form == "test":
            return ["+CSQ: (0-31,99),(0-7,99)"]
        return [f"+CSQ: {self.signal},99"]

    def _cops(self, form, args):
        if form == "test":
            return [f'+COPS: (2,"{OPERATOR}","SIM","00101",7),,(0-4),(0-2)']
        if form == "read":
            return [f'+COPS: 0,0,"{OPERATOR}",7' if self.registration in (1, 5) else "+COPS: 0"]
        return []

    def _cscs(self, form, args):
        if form == "read":
            return [f'+CSCS: "{self.cscs}"']
        if form == "test":
            return ['+CSCS: ("IRA","GSM","UCS2")']
        if form == "set" and args and args[0].upper() in ("IRA", "GSM", "UCS2"):
            self.cscs = args[0].upper()
            return []
        raise Refused()

    def _csmp(self, form, args):
        if form == "read":
            return ["+CSMP: " + ",".join(map(str, self.csmp))]
        if form == "test":
            return []
        if form == "set" and 0 < len(args) <= 4 and all(arg.isdigit() for arg in args if arg):
            for position, arg in enumerate(args):
                if arg:
                    self.csmp[position] = int(arg)
            return []
        raise Refused()

    def _cnmi(self, form, args):
        if form == "test":
            return ["+CNMI: (0-2),(0-3),(0,2),(0-2),(0-1)"]
        self._need_sim()
        if form == "read":
            return ["+CNMI: " + ",".join(map(str, self.cnmi))]
        limits = (2, 3, 2, 2, 1)
        if form != "set" or not args or len(args) > 5 or not all(arg.isdigit() for arg in args):
            raise Refused("CMS", 302)
        values = [int(arg) for arg in args]
        if any(value > limit for value, limit in zip(values, limits)):
            raise Refused("CMS", 302)
        self.cnmi[:len(values)] = values
        return []

    def _cpms(self, form, args):
        if form == "test":
            return ['+CPMS: ("SM","ME","MT"),("SM","ME","MT"),("SM","ME","MT")']
        self._need_sim()
        used = f"{len(self.storage)},{self.capacity}"
        if form == "read":
            return [f'+CPMS: "SM",{used},"SM",{used},"SM",{used}']
        if form != "set" or not args or any(arg.upper() not in STORAGES for arg in args):
            raise Refused("CMS", 302)
        return ["+CPMS: " + ",".join([used] * 3)]

    def _need_sim(self) -> None:
        if not self.sim_present:
            raise Refused("CMS", 310)
        if self.sim_locked:
            raise Refused("CMS", 311)

    # Sending

    def _cmgs(self, form, args):
        if form == "test":
            return []
        if form != "set" or not args:
            raise Refused()
        self._need_sim()
        if self.cmgf == 0:
            if not args[0].isdigit():
                raise Refused("CMS", 304)
            self._finish_body = partial(self._send_pdu, int(args[0]))
        else:
            self._finish_body = partial(self._send_text, args[0])
        self.output(b"\r\n> ")
        return None

    def _send_pdu(self, length: int, body: str) -> list[str]:
        pdu = body.strip()
        try:
            part = sms.parse_pdu(pdu)
        except ValueError:
            raise Refused("CMS", 304) from None
        if not isinstance(part, sms.Submit) or sms.tpdu_length(pdu) != length:
            raise Refused("CMS", 304)
        return self._send(part)

    def _send_text(self, number: str, body: str) -> list[str]:
        try:
            sms.encode_address(number)
            text = bytes.fromhex(body).decode("utf-16-be") if self.cscs == "UCS2" else body
        except ValueError:
            raise Refused("CMS", 305) from None
        return self._send(sms.Submit(number, text, report=bool(self.csmp[0] & sms.SRR)))

    def _send(self, part: sms.Submit) -> list[str]:
        self._fail("+CMGS")
        if self.registration not in (1, 5):
            raise Refused("CMS", 331)
        self._message_reference = (self._message_reference + 1) % 256
        part = replace(part, reference=self._message_reference)
        message = self._sent_parts.add(part)
        if message is not None:
            references = tuple(each.reference for each in message.parts)
            self.sent.append(SentSms(message.number, message.text, references, part.report))
        if part.report:
            self._later(self.report_delay_s, lambda: self._report(part.reference, part.number))
        return [f"+CMGS: {part.reference}"]

    def _report(self, reference: int, number: str) -> None:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        pdu = sms.status_report_pdu(reference, number, self.report_status, now, now, service_centre=SERVICE_CENTRE)
        if self.cnmi[3] == 1 and self.cmgf == 0:
            self._urc(f"+CDS: {sms.tpdu_length(pdu)}", pdu)
        elif self.cnmi[3] == 1:
            self._urc(f'+CDS: 6,{reference},"{number}",{_address_type(number)},"{_text_time(now)}",'
                      f'"{_text_time(now)}",{self.report_status}')
        elif self.cnmi[3] == 2:
            index = self._store(pdu)
            if index is not None:
                self._urc(f'+CDSI: "SM",{index}')

    # Receiving and storage

    def _arrive(self, pdu: str) -> int | None:
        if self.cnmi[1] == 2:  # shown, not stored
            if self.cmgf == 0:
                self._urc(f"+CMT: ,{sms.tpdu_length(pdu)}", pdu)
            else:
                part = _readable(pdu)
                if isinstance(part, sms.Deliver):
                    self._urc(f'+CMT: "{part.number}","","{_text_time(part.timestamp)}"', part.text)
            return None
        index = self._store(pdu)
        if index is not None and self.cnmi[1] in (1, 3):
            self._urc(f'+CMTI: "SM",{index}')
        return index

    def _store(self, pdu: str) -> int | None:
        index = next((index for index in range(self.capacity) if index not in self.storage), None)
        if index is not None:
            self.storage[index] = Stored(0, pdu)
        return index

    def _shown(self, name: str, index: int, stored: Stored) -> list[str]:
        """How +CMGR (index shown for +CMGL only) presents a stored message in the current mode."""
        prefix = f"{name}: " + (f"{index}," if name == "+CMGL" else "")
        if self.cmgf == 0:
            return [f"{prefix}{stored.stat},,{sms.tpdu_length(stored.pdu)}", stored.pdu]
        part = _readable(stored.pdu)
        if part is None:
            raise Refused("CMS", 500)  # text mode has no way to show what it cannot decode
        state = f'"{TEXT_STATES[stored.stat]}"'
        if isinstance(part, sms.StatusReport):
            return [f'{prefix}{state},6,{part.reference},"{part.number}",{_address_type(part.number)},'
                    f'"{_text_time(part.timestamp)}","{_text_time(part.discharged)}",{part.status}']
        stamp = f',"{_text_time(part.timestamp)}"' if isinstance(part, sms.Deliver) else ""
        return [f'{prefix}{state},"{part.number}",""{stamp}', part.text]

    def _index(self, args: list[str]) -> int:
        if not args or not args[0].isdigit() or int(args[0]) >= self.capacity:
            raise Refused("CMS", 321)
        return int(args[0])

    def _cmgr(self, form, args):
        if form == "test":
            return []
        self._need_sim()
        index = self._index(args)
        stored = self.storage.get(index)
        if stored is None:
            return []
        lines = self._shown("+CMGR", index, stored)
        if stored.stat == 0:
            stored.stat = 1
        return lines

    def _cmgl(self, form, args):
        if form == "test":
            if self.cmgf == 0:
                return ["+CMGL: (0-4)"]
            return ["+CMGL: (" + ",".join(f'"{state}"' for state in TEXT_STATES) + ")"]
        self._need_sim()
        wanted = self._list_filter(args[0] if args else "")
        lines = []
        for index in sorted(self.storage):
            stored = self.storage[index]
            if wanted in (4, stored.stat):
                lines += self._shown("+CMGL", index, stored)
                if stored.stat == 0:
                    stored.stat = 1
        return lines

    def _list_filter(self, value: str) -> int:
        if not value:
            return 0
        if self.cmgf == 0 and value.isdigit() and int(value) <= 4:
            return int(value)
        if self.cmgf == 1 and value.upper() in TEXT_STATES:
            return TEXT_STATES.index(value.upper())
        raise Refused("CMS", 302)

    def _cmgd(self, form, args):
        if form == "test":
            return [f"+CMGD: (0-{self.capacity - 1}),(0-4)"]
        self._need_sim()
        index = self._index(args)
        flag = int(args[1]) if len(args) > 1 and args[1].isdigit() else 0
        doomed = {0: (), 1: (1,), 2: (1, 3), 3: (1, 2, 3), 4: (0, 1, 2, 3)}.get(flag)
        if doomed is None:
            raise Refused("CMS", 302)
        if flag == 0:
            self.storage.pop(index, None)
        for number, stored in list(self.storage.items()):
            if stored.stat in doomed:
                del self.storage[number]
        return []

    # Calls

    def _clip(self, form, args):
        if form == "read":
            return [f"+CLIP: {self.clip},1"]
        return self._number_setting("clip", "+CLIP", form, args, range(2))

    def _ring(self) -> None:
        if self.ringing_from is None:
            return
        self._urc("RING")
        if self.clip:
            number = self.ringing_from
            self._urc(f'+CLIP: "{number}",{_address_type(number) if number else 128},"",0,"",{0 if number else 1}')
        self._later(self.ring_interval_s, self._ring)

    def _answer_call(self) -> list[str]:
        if self.ringing_from is None or self.in_call:
            raise Refused("NO CARRIER")
        self._connect()
        if self.dialect.call_urcs:
            self._later(0, lambda: self._urc("VOICE CALL: BEGIN"))  # after the OK, as 3.6 ATA gives it
        return []

    def _connect(self) -> None:
        """The call is up: a new recording of what the caller hears starts."""
        self.ringing_from, self.dialing, self.in_call = None, None, True
        self._call_began = time.monotonic()
        self.caller.forget_heard()
        self._audio_changed()

    def _end_call(self, reason: str) -> str:
        """Whatever call there is ends (`reason` as in RELEASES); returns its VOICE CALL: END line."""
        seconds = time.monotonic() - self._call_began if self.in_call else 0
        if self.in_call and self._audio_dies:
            self.audio_dead = True
        if self._dial_timer is not None:
            self._dial_timer.cancel()
        self.ringing_from, self.dialing, self.in_call, self._dial_timer = None, None, False, None
        self.last_release = RELEASES[reason]
        if self.dialect.audio_command == "+CPCMREG":
            self.audio_enabled = False  # PCM over USB lasts a call; AT+QPCMV stays set until turned off
        self._audio_changed()
        return f"VOICE CALL: END: {call_time(seconds)}"

    def _released(self, reason: str) -> None:
        """The call ended without the computer asking: VOICE CALL: END (SIMCom) and NO CARRIER."""
        end = self._end_call(reason)
        self._urc(*([end] if self.dialect.call_urcs else []), "NO CARRIER")

    def _chup(self, form, args) -> list[str]:
        if form == "test":
            return []
        if form != "exec":
            raise Refused()
        if not (self.in_call or self.ringing_from is not None or self.dialing):
            return []  # 6.2: no call, OK all the same
        end = self._end_call("local")
        return [end] if self.dialect.call_urcs else []

    def _ath(self) -> list[str]:
        if self.cvhu == 1:
            return []  # 3.7: with AT+CVHU=1 (the SIM7600's default) ATH is ignored, OK given
        return self._chup("exec", [])

    def _cvhu(self, form, args):
        return self._number_setting("cvhu", "+CVHU", form, args, range(2))

    def _ceer(self, form, args):
        return [] if form == "test" else [f"+CEER: {self.last_release}"]

    def _dial(self, dial_string: str) -> list[str] | None:
        if not self.sim_present:
            raise Refused("CME", 10)
        if self.registration not in (1, 5) or self.cfun != 1:
            self.last_release = RELEASES["no-service"]
            raise Refused("NO CARRIER")
        match = re.fullmatch(r"(\+?[0-9*#ABC]+)[IiGg]?(;?)", dial_string)
        if match is None:
            raise Refused("CME", 27)
        if not match[2]:
            raise Refused("NO CARRIER")  # no ';': a data call, which this twin does not carry
        if self.in_call or self.dialing or self.ringing_from is not None:
            raise Refused("CME", 3)
        self.dialing = number = match[1]
        outcome, after_s = self.dial_outcomes.get(number, ("answered", self.answer_delay_s))
        self._dial_timer = self._later(after_s, partial(self._dial_outcome, outcome))
        return None if self.dialect.dial_waits else []  # Quectel: the final result is the outcome

    def _dial_outcome(self, outcome: str) -> None:
        self._dial_timer = None
        if outcome == "answered":
            self._connect()
            if self.dialect.dial_waits:
                self._final([])
            else:
                self._urc("VOICE CALL: BEGIN")
            return
        self.dialing = None
        self.last_release = RELEASES[outcome]
        self._urc(DIAL_RESULTS[outcome])  # the final result of ATD, or after its OK a result unasked

    def _key(self, key: str) -> None:
        self.keys_pressed.append(key)
        if self.in_call and self.key_reports:
            self._urc(self.dialect.key_urc(key))

    def _ddet(self, form, args):
        if form == "test":
            return ["+DDET: (0-1)"]
        if form == "read":
            return [f"+DDET: {self.key_reports}"]
        if form != "set" or not args:
            raise Refused()
        self.key_reports = int(_flag(args[0]))
        return []

    def _qtonedet(self, form, args):
        return self._number_setting("key_reports", "+QTONEDET", form, args, range(2))

    # Call audio: the simulator carries it on a second terminal (see simulator.Simulator)

    def _audio_changed(self) -> None:
        """Call audio may have started or stopped (see audio_on); the simulator starts or stops its clock."""

    def _cpcmreg(self, form, args):
        if form == "test":
            return ["+CPCMREG: (0-1)"]
        if form == "read":
            return [f"+CPCMREG: {int(self.audio_enabled)}"]
        if form != "set" or not args:
            raise Refused()
        enable = _flag(args[0])
        if enable and not self.in_call:
            raise Refused()  # PCM over USB starts only once a call is connected
        self.audio_enabled = enable
        self._audio_changed()
        return []

    def _qpcmv(self, form, args):
        if form == "test":
            return ["+QPCMV: (0,1),(0-2)"]
        if form == "read":
            return [f"+QPCMV: {int(self.audio_enabled)},{self.audio_port}"]
        if form != "set" or not args or len(args) > 2 or (len(args) == 2 and args[1] not in ("0", "1", "2")):
            raise Refused()
        self.audio_enabled = _flag(args[0])
        self.audio_port = int(args[1]) if len(args) == 2 else 0
        self._audio_changed()
        return []

    # Restarts

    def _creset(self, form, args):
        if form == "test":
            return []
        if form != "exec":
            raise Refused()
        self.restarting = True
        self._later(self.restart_delay_s, self._restart)
        return []

    def _cfun(self, form, args):
        if form == "test":
            return ["+CFUN: (0,1,4),(0-1)"]
        if form == "read":
            return [f"+CFUN: {self.cfun}"]
        if form != "set" or not args or args[0] not in ("0", "1", "4") or len(args) > 2:
            raise Refused()
        if len(args) == 2 and _flag(args[1]):
            self.restarting = True
            self._later(self.restart_delay_s, self._restart)  # <rst>=1: reset before setting <fun>
        self.cfun = int(args[0])
        return []

    def _restart(self) -> None:
        """The modem restarts: the call and its audio end, settings go back to the factory's, the SIM locks again."""
        if self.in_call or self.ringing_from is not None or self.dialing:
            self._end_call("local")
        self.stop()
        self.reset()
        self.cfun, self.sim_locked = 1, self.pin is not None
        self.audio_enabled, self.audio_port, self.audio_dead, self._audio_dies = False, 0, False, False
        self._typed.clear()
        self._finish_body = None
        self.restarting = False
        self.boots += 1
        self._power_cycle()

    def _power_cycle(self) -> None:
        """Go away and come back; with no ports to lose, it only boots (the simulator overrides this)."""
        self._boot()

    def _boot(self) -> None:
        """Say what a freshly started modem says: RDY, the SIM's state, SMS DONE and PB DONE (or Quectel's lines)."""
        lines = list(self.dialect.boot)
        sim_at = lines.index("+CPIN: READY")
        if not self.sim_present:
            lines = lines[:sim_at]
        elif self.sim_locked:
            lines = lines[:sim_at] + ["+CPIN: SIM PIN"]
        self._urc(*lines)
