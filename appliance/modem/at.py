"""The AT command dialect with no I/O (after h11): `command()` gives bytes to write, `feed()` turns bytes into events.

A modem answers one command at a time, but unsolicited result codes (URCs) arrive whenever they
like, even between two lines of an answer. The parser keeps the command in hand so it can tell the
two apart: `+CREG: 0,1` answers `AT+CREG?`, while `+CREG: 1` on its own is the network changing.
Whatever bytes come, `feed()` raises nothing: a line it cannot read is passed on as it is.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

CME_MEANINGS = {
    0: "phone failure", 1: "no connection to phone", 3: "operation not allowed", 4: "operation not supported",
    5: "PH-SIM PIN required", 10: "SIM not inserted", 11: "SIM PIN required", 12: "SIM PUK required",
    13: "SIM failure", 14: "SIM busy", 15: "SIM wrong", 16: "incorrect password", 17: "SIM PIN2 required",
    18: "SIM PUK2 required", 20: "memory full", 21: "invalid index", 22: "not found", 23: "memory failure",
    24: "text string too long", 25: "invalid characters in text string", 26: "dial string too long",
    27: "invalid characters in dial string", 30: "no network service", 31: "network timeout",
    32: "network not allowed, emergency calls only", 100: "unknown error",
}

CMS_MEANINGS = {  # 1-127: the network's RP causes (TS 24.011); 128-255: TP failure causes; 300-: the modem (27.005)
    1: "unassigned number", 8: "operator determined barring", 10: "call barred",
    21: "short message transfer rejected", 27: "destination out of service", 28: "unidentified subscriber",
    29: "facility rejected", 30: "unknown subscriber", 38: "network out of order", 41: "temporary failure",
    42: "congestion", 47: "resources unavailable", 50: "requested facility not subscribed",
    69: "requested facility not implemented", 81: "invalid short message reference", 95: "invalid message",
    96: "invalid mandatory information", 97: "message type not implemented",
    98: "message not compatible with protocol state", 99: "information element not implemented",
    111: "protocol error", 127: "interworking error", 128: "telematic interworking not supported",
    144: "data coding scheme not supported", 176: "TPDU not supported", 192: "service centre busy",
    193: "no service centre subscription", 194: "service centre system failure", 195: "invalid recipient address",
    196: "recipient barred", 197: "duplicate message rejected", 300: "ME failure",
    301: "SMS service of ME reserved", 302: "operation not allowed", 303: "operation not supported",
    304: "invalid PDU mode parameter", 305: "invalid text mode parameter", 310: "SIM not inserted",
    311: "SIM PIN required", 312: "PH-SIM PIN required", 313: "SIM failure", 314: "SIM busy", 315: "SIM wrong",
    316: "SIM PUK required", 320: "memory failure", 321: "invalid memory index", 322: "memory full",
    330: "SMSC address unknown", 331: "no network service", 332: "network timeout",
    340: "no +CNMA acknowledgement expected", 500: "unknown error",
}

CALL_RESULTS = ("NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE")
NUMBER = re.compile(r"[0-9]{1,9}")  # an index, a state, an error number: ASCII digits, as 27.007 writes them
KEYS = "0123456789*#ABCD"  # the keys a DTMF report can name
# SIMCom's call state lines; the manual's own examples write them with and without spaces (VOICE CALL:END:000017)
VOICE_CALL_BEGIN = re.compile(r"VOICE CALL: ?BEGIN")
VOICE_CALL_END = re.compile(r"VOICE CALL: ?END(?:: ?(.*))?")
CALL_TIME = re.compile(r"([0-9]{2})([0-5][0-9])([0-5][0-9])")  # HHMMSS


class AtError(ValueError):
    """A line from the modem that does not read as the AT dialect: values that cannot be split, a number that is
    not one. The parser passes such a line on as Unsolicited; the helpers below raise it to their callers."""


def meaning(result: str, number: int) -> str:
    """What an error number means, in words."""
    table = CMS_MEANINGS if result == "+CMS ERROR" else CME_MEANINGS
    if number in table:
        return table[number]
    return "manufacturer-specific error" if result == "+CMS ERROR" and number >= 512 else "unknown error"


# Events


@dataclass(frozen=True)
class Final:
    """The line that ends a command: OK, ERROR, +CME ERROR, +CMS ERROR or a call result such as NO CARRIER."""

    result: str
    number: int | None = None
    meaning: str = ""

    @property
    def ok(self) -> bool:
        """Whether the command succeeded."""
        return self.result == "OK"


@dataclass(frozen=True)
class Info:
    """An information line of the command in hand (`+CSQ: 18,99`, or a PDU after `+CMGR:`)."""

    line: str


@dataclass(frozen=True)
class Prompt:
    """The `> ` that asks for an SMS body."""


@dataclass(frozen=True)
class Ring:
    """RING: a call is coming in."""


@dataclass(frozen=True)
class CallerId:
    """+CLIP: who is calling; an empty number when it is withheld."""

    number: str
    address_type: int


@dataclass(frozen=True)
class NoCarrier:
    """NO CARRIER with no dial in hand: the other side hung up."""


@dataclass(frozen=True)
class CallResult:
    """BUSY, NO ANSWER or NO DIALTONE with no dial in hand: a dial the modem already said OK to has failed."""

    result: str


@dataclass(frozen=True)
class VoiceCallBegan:
    """VOICE CALL: BEGIN (SIMCom): the call is connected."""


@dataclass(frozen=True)
class VoiceCallEnded:
    """VOICE CALL: END: <time> (SIMCom): a call ended after `duration_s` connected (None when the time is missing
    or unreadable). It may come inside the answer to AT+CHUP or ATH, and is an event all the same."""

    duration_s: int | None


@dataclass(frozen=True)
class KeyReported:
    """The modem heard the caller press a key: +RXDTMF: <key> (SIMCom) or +QTONEDET: <ASCII code> (Quectel)."""

    key: str


@dataclass(frozen=True)
class MessageStored:
    """+CMTI (a message) or +CDSI (a status report) was stored at `index` in `storage`."""

    storage: str
    index: int


@dataclass(frozen=True)
class MessageShown:
    """+CMT: a message handed over without storing it; `body` is the PDU in PDU mode."""

    header: str
    body: str


@dataclass(frozen=True)
class StatusReportShown:
    """+CDS: a status report handed over; a PDU in PDU mode, the reference and TP-ST fields in text mode."""

    pdu: str = ""
    reference: int | None = None
    status: int | None = None


@dataclass(frozen=True)
class RegistrationChanged:
    """+CREG URC: the network registration state (0-5, as in 27.007) changed."""

    stat: int


@dataclass(frozen=True)
class Unsolicited:
    """Any other line nobody asked for (`SMS DONE`, `VOICE CALL: END`, a stray OK)."""

    line: str


# Lines


def split_args(text: str) -> list[str]:
    """The comma-separated values of an information line, quotes removed (`"SM",3` -> `['SM', '3']`); AtError for a
    value csv refuses (one over its field size limit)."""
    try:
        return next(csv.reader([text], skipinitialspace=True), [])
    except csv.Error as exc:
        raise AtError(f"cannot split {text[:40]!r}...: {exc}") from None


def parse_info(line: str) -> tuple[str, list[str]]:
    """A `+NAME: a,b` line as its name and values; a line without a name comes back whole with no values. AtError
    when the values cannot be split."""
    name, colon, rest = line.partition(":")
    if not colon or not name.startswith("+"):
        return "", [line]
    return name.strip(), split_args(rest.strip())


def command_name(line: str) -> str:
    """`+CMGS` from `AT+CMGS=23`, `D` from `ATD+15551234567;`, `` from `AT`."""
    body = line.strip()[2:]
    if body[:1] in ("+", "&", "^", "$"):
        end = next((i for i, char in enumerate(body) if char in "=?"), len(body))
        return body[:end].upper()
    return body[:1].upper()


def call_seconds(text: str | None) -> int | None:
    """Seconds from a call time written HHMMSS; None when it is not one."""
    found = CALL_TIME.fullmatch((text or "").strip())
    return None if found is None else int(found[1]) * 3600 + int(found[2]) * 60 + int(found[3])


def _key(name: str, value: str) -> str:
    """The key a DTMF report names; AtError for one no keypad has."""
    key = chr(_integer(value)) if name == "+QTONEDET" else value.strip().upper()
    if len(key) != 1 or key not in KEYS:
        raise AtError(f"{name} names no key: {value[:40]!r}")
    return key


def _integer(text: str) -> int:
    """A value that must be a number; AtError for anything else (`²` and `٣` are digits to str.isdigit)."""
    digits = text.strip()
    if NUMBER.fullmatch(digits) is None:
        raise AtError(f"{text[:40]!r} is not a number")
    return int(digits)


def _final(line: str) -> Final | None:
    if line in ("OK", "ERROR"):
        return Final(line)
    for result in ("+CME ERROR", "+CMS ERROR"):
        if line.startswith(result + ":"):
            detail = line[len(result) + 1:].strip()
            if NUMBER.fullmatch(detail):
                return Final(result, int(detail), meaning(result, int(detail)))
            table = CMS_MEANINGS if result == "+CMS ERROR" else CME_MEANINGS
            number = next((code for code, words in table.items() if words.lower() == detail.lower()), None)
            return Final(result, number, detail)
    return None


class AtParser:
    """One side of an AT conversation, the computer's: commands out as bytes, the modem's bytes in as events."""

    def __init__(self):
        self._buffer = b""
        self.pending: str | None = None  # the command whose final result has not come yet
        self._body: str | None = None  # the SMS body written after the prompt, so its echo can be dropped
        self._urc_header: str | None = None  # a +CMT/+CDS line whose PDU is the next line

    def command(self, line: str) -> bytes:
        """The bytes that send `line` (`AT+CSQ`); from now on lines belong to it until its final result."""
        self.pending, self._body = line, None
        return line.encode("ascii") + b"\r"

    def body(self, text: str) -> bytes:
        """The bytes that answer a prompt: the SMS body (a PDU in hex) and Ctrl-Z."""
        self._body = text
        return text.encode("ascii") + b"\x1a"

    def cancel(self) -> bytes:
        """The byte that abandons an SMS body at the prompt (ESC); the modem still ends the command with a result."""
        return b"\x1b"

    def feed(self, data: bytes) -> list:
        """Take bytes read from the modem; returns the events they complete, in order."""
        *lines, self._buffer = re.split(rb"[\r\n]", self._buffer + data)
        events = []
        for raw in lines:
            line = raw.decode("utf-8", errors="replace").strip("\x1a\x1b").strip()
            if line:
                events.extend(self._line(line))
        if self._wants_prompt() and self._buffer.lstrip().startswith(b">"):
            self._buffer = b""
            events.append(Prompt())
        return events

    def _wants_prompt(self) -> bool:
        return self.pending is not None and self._body is None and command_name(self.pending) in ("+CMGS", "+CMGW")

    def _line(self, line: str) -> list:
        if self._urc_header is not None:
            header, self._urc_header = self._urc_header, None
            return [self._shown(header, line)]
        if self.pending is not None and line.upper() in (self.pending.upper(), (self._body or "").upper()):
            return []  # the modem's echo of what was written
        if line == ">" and self._wants_prompt():
            return [Prompt()]
        final = self._final_for_pending(line)
        if final is not None:
            self.pending = self._body = None
            return [final]
        try:
            if self._starts_two_line_urc(line):
                self._urc_header = line
                return []
            urc = self._urc(line)
        except AtError:  # a garbled URC is passed on as it is, never raised
            return [Unsolicited(line)]
        if urc is not None:
            return [urc]
        if self.pending is not None:
            return [Info(line)]
        return [Unsolicited(line)]

    def _final_for_pending(self, line: str) -> Final | None:
        if self.pending is None:
            return None
        if line in CALL_RESULTS:
            return Final(line) if command_name(self.pending) in ("D", "A") else None
        return _final(line)

    def _answers_pending(self, name: str) -> bool:
        """Whether a `+NAME:` line answers the command in hand; a set command (`AT+CREG=1`) has no such answer."""
        if self.pending is None or command_name(self.pending) != name:
            return False
        return "=" not in self.pending or self.pending.rstrip().endswith("=?")

    def _starts_two_line_urc(self, line: str) -> bool:
        """+CMT, and +CDS in PDU mode (`+CDS: <length>`), put their message on the line after."""
        name, args = parse_info(line)
        return not self._answers_pending(name) and (name == "+CMT" or (name == "+CDS" and len(args) == 1))

    def _urc(self, line: str):
        if line == "RING":
            return Ring()
        if line == "NO CARRIER":
            return NoCarrier()
        if line in CALL_RESULTS:
            return CallResult(line)
        if VOICE_CALL_BEGIN.fullmatch(line):
            return VoiceCallBegan()
        if ended := VOICE_CALL_END.fullmatch(line):
            return VoiceCallEnded(call_seconds(ended[1]))
        name, args = parse_info(line)
        if not name or self._answers_pending(name):
            return None
        if name == "+CLIP" and args:
            return CallerId(args[0], _integer(args[1]) if len(args) > 1 and NUMBER.fullmatch(args[1].strip()) else 129)
        if name in ("+CMTI", "+CDSI") and len(args) >= 2:
            return MessageStored(args[0], _integer(args[1]))
        if name == "+CREG" and args:
            return RegistrationChanged(_integer(args[0]))
        if name == "+CDS" and len(args) >= 3:
            return StatusReportShown(reference=_integer(args[1]), status=_integer(args[-1]))
        if name in ("+RXDTMF", "+QTONEDET") and len(args) == 1:
            return KeyReported(_key(name, args[0]))
        return None

    @staticmethod
    def _shown(header: str, body: str):
        if header.startswith("+CDS"):
            return StatusReportShown(pdu=body)
        return MessageShown(header, body)
