"""SMS PDUs (3GPP TS 23.040): SMS-SUBMIT out, SMS-DELIVER and SMS-STATUS-REPORT in, concatenated parts joined.

Every PDU here is the hex that AT commands carry in PDU mode: the service centre address first
(`00` for "the SIM's own") and then the TPDU. Builders exist for all three kinds because the modem
simulator has to speak the network's side of them. What comes in is anybody's bytes: parsing raises
PduError, and only PduError, for whatever does not read as 23.040 says.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from appliance.modem import gsm7

SUBMIT, DELIVER, STATUS_REPORT = 0x01, 0x00, 0x02  # TP-MTI, the low two bits of the first octet
UDHI, SRR = 0x40, 0x20  # user data starts with a header; a status report is requested (SRI/SRQ alike)
VPF_RELATIVE = 0x10
VALIDITY_24H = 0xA7  # relative validity 167: 12 hours + 24 half hours
INTERNATIONAL, UNKNOWN = 0x91, 0x81  # type of address: ISDN numbering, international or as dialled
ALPHANUMERIC_TON = 0x50
CONCAT_8BIT, CONCAT_16BIT = 0x00, 0x08  # information element ids of the concatenation header
DCS = {"gsm7": 0x00, "ucs2": 0x08}
SEMI_OCTETS = "0123456789*#abc"  # what the semi-octets of a number stand for (23.040 9.1.2.3); F fills the last octet
PART_WAIT_S = 24 * 3600  # how long the parts of a long text wait for the rest, from the first one's arrival
MAX_WAITING = 64  # long texts waiting for parts at once; past this the oldest one's parts are dropped

log = logging.getLogger(__name__)


class PduError(ValueError):
    """A PDU that does not read as 23.040 says: not hex, shorter than its own lengths say, a user data header or a
    timestamp that is malformed. The message names what is wrong; the one message is lost, nothing else is."""


@dataclass(frozen=True)
class Concat:
    """Where a part sits in a concatenated message."""

    reference: int
    total: int
    sequence: int  # 1-based


@dataclass(frozen=True)
class Submit:
    """An outgoing message part (SMS-SUBMIT); `number` is the recipient."""

    number: str
    text: str
    report: bool
    reference: int = 0  # TP-MR; the modem fills it in
    concat: Concat | None = None


@dataclass(frozen=True)
class Deliver:
    """An incoming message part (SMS-DELIVER); `number` is the sender."""

    number: str
    text: str
    timestamp: datetime
    concat: Concat | None = None


@dataclass(frozen=True)
class StatusReport:
    """What became of a sent part (SMS-STATUS-REPORT); `reference` is the TP-MR that +CMGS returned."""

    reference: int
    number: str
    status: int  # TP-ST
    timestamp: datetime
    discharged: datetime

    @property
    def state(self) -> str:
        """`delivered`, `pending` or `failed`."""
        return report_state(self.status)


def report_state(status: int) -> str:
    """`delivered`, `pending` (the centre is still trying) or `failed`, from the TP-ST ranges of 23.040 9.2.3.15."""
    if status < 0x20:
        return "delivered"
    return "pending" if status < 0x40 else "failed"


@dataclass(frozen=True)
class Message:
    """A whole message: its parts joined in order."""

    number: str
    text: str
    parts: tuple

    @property
    def timestamp(self) -> datetime | None:
        """When the service centre took the first part (received messages only)."""
        return getattr(self.parts[0], "timestamp", None)


# Addresses and timestamps


def _semi_octets(digits: str) -> bytes:
    padded = digits.translate(str.maketrans("*#", "AB")) + "F" * (len(digits) % 2)
    return bytes.fromhex("".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2)))


def _nibbles(data: bytes) -> list[int]:
    """The semi-octets of `data` in reading order: the low half of each octet first."""
    return [half for octet in data for half in (octet & 0x0F, octet >> 4)]


def encode_address(number: str) -> bytes:
    """A TP address: digit count, type (international when it starts with +) and swapped digits."""
    cleaned = re.sub(r"[\s().-]", "", number)
    digits = cleaned.removeprefix("+")
    if not re.fullmatch(r"[0-9*#]{1,20}", digits):
        raise ValueError(f"{number!r} is not a phone number")
    kind = INTERNATIONAL if cleaned.startswith("+") else UNKNOWN
    return bytes([len(digits), kind]) + _semi_octets(digits)


def _decode_address(length: int, kind: int, data: bytes) -> str:
    if kind & 0x70 == ALPHANUMERIC_TON:  # a sender name, GSM-7 packed; length counts semi-octets
        return gsm7.decode_gsm7(gsm7.unpack_septets(data, length * 4 // 7))
    nibbles = _nibbles(data)[:length]
    while nibbles and nibbles[-1] == 0xF:  # a filler counted as a digit, as some networks do
        nibbles.pop()
    if 0xF in nibbles:
        raise PduError(f"the number {data.hex().upper()} has a filler semi-octet (F) among its digits")
    digits = "".join(SEMI_OCTETS[nibble] for nibble in nibbles)
    return "+" + digits if kind & 0x70 == 0x10 else digits


def encode_service_centre(number: str) -> bytes:
    """The service-centre field: octet count (type included) and the address, or `00` for none."""
    if not number:
        return b"\x00"
    address = encode_address(number)
    return bytes([len(address) - 1]) + address[1:]


def encode_timestamp(moment: datetime) -> bytes:
    """A 7-octet TP timestamp in the moment's own time zone (quarter hours, sign in bit 3 of the last octet)."""
    offset = moment.utcoffset() or timedelta(0)
    quarters = int(abs(offset.total_seconds()) // 900)
    fields = f"{moment:%y%m%d%H%M%S}{quarters:02d}"
    stamp = bytearray(_semi_octets(fields))
    if offset < timedelta(0):
        stamp[6] |= 0x08
    return bytes(stamp)


def decode_timestamp(data: bytes) -> datetime:
    """The moment a 7-octet TP timestamp names; a PduError when it names none (a semi-octet that is no digit, a
    month 13)."""
    if len(data) != 7:
        raise PduError(f"a timestamp has 7 octets, not {len(data)}")
    nibbles = _nibbles(data)
    negative = nibbles[12] & 0x08  # bit 3 of the zone's tens digit is its sign
    nibbles[12] &= 0x07
    if any(nibble > 9 for nibble in nibbles):
        raise PduError(f"the timestamp {data.hex().upper()} has a semi-octet that is not a digit")
    year, month, day, hour, minute, second, quarters = (nibbles[i] * 10 + nibbles[i + 1] for i in range(0, 14, 2))
    offset = timedelta(minutes=15 * quarters) * (-1 if negative else 1)
    try:
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=timezone(offset))
    except ValueError as exc:
        raise PduError(f"the timestamp {data.hex().upper()} names no moment: {exc}") from None


# User data


def _concat_header(concat: Concat) -> bytes:
    return bytes([5, CONCAT_8BIT, 3, concat.reference, concat.total, concat.sequence])


def _encode_user_data(encoding: str, text: str, header: bytes) -> tuple[int, bytes]:
    """TP-UDL and TP-UD; GSM-7 text after a header starts on a septet boundary, hence the fill bits."""
    if encoding == "ucs2":
        data = header + gsm7.encode_ucs2(text)
        return len(data), data
    septets = gsm7.encode_gsm7(text)
    fill_bits = -len(header) * 8 % 7
    header_septets = (len(header) * 8 + fill_bits) // 7
    return header_septets + len(septets), header + gsm7.pack_septets(septets, fill_bits)


def _alphabet(dcs: int) -> str:
    """`gsm7`, `8bit` or `ucs2` from a data coding scheme (23.038 section 4)."""
    group = dcs >> 4
    if group < 0x8:  # general data coding
        return ("gsm7", "8bit", "ucs2", "gsm7")[(dcs >> 2) & 0x03]
    if group == 0xE:
        return "ucs2"
    if group == 0xF:
        return "8bit" if dcs & 0x04 else "gsm7"
    return "gsm7"


def _concat(reference: int, total: int, sequence: int) -> Concat | None:
    """A concatenation element, or None for one that 23.040 9.2.3.24.1 says to ignore (part 0, or past the total)."""
    return Concat(reference, total, sequence) if 1 <= sequence <= total else None


def _parse_header(elements: bytes) -> Concat | None:
    """The concatenation element of a user data header (the octets after UDHL), if there is one; an element that
    runs past the header is a PduError."""
    position, concat = 0, None
    while position < len(elements):
        if position + 2 > len(elements):
            raise PduError("the user data header ends inside an element's id and length")
        element, length = elements[position], elements[position + 1]
        value = elements[position + 2:position + 2 + length]
        if len(value) < length:
            raise PduError(f"information element {element:#04x} says {length} octets, "
                           f"but the user data header has {len(value)} left")
        if concat is None and element == CONCAT_8BIT and length == 3:
            concat = _concat(value[0], value[1], value[2])
        elif concat is None and element == CONCAT_16BIT and length == 4:
            concat = _concat(value[0] << 8 | value[1], value[2], value[3])
        position += 2 + length
    return concat


def _split_header(has_header: bool, data: bytes) -> tuple[bytes, Concat | None]:
    """The user data header (UDHL included) and its concatenation element; empty and None without TP-UDHI."""
    if not has_header:
        return b"", None
    if not data:
        raise PduError("TP-UDHI says a user data header comes, but there is no user data")
    if data[0] + 1 > len(data):
        raise PduError(f"the user data header says {data[0]} octets, but {len(data) - 1} follow")
    header = data[:data[0] + 1]
    return header, _parse_header(header[1:])


def _decode_user_data(alphabet: str, has_header: bool, length: int, data: bytes) -> tuple[str, Concat | None]:
    """The text and concatenation element of TP-UD, whose TP-UDL (`length`) counts septets in GSM-7, else octets."""
    header, concat = _split_header(has_header, data)
    if alphabet == "gsm7":
        fill_bits = -len(header) * 8 % 7
        skipped = (len(header) * 8 + fill_bits) // 7
        if length < skipped:
            raise PduError(f"TP-UDL says {length} septets, fewer than the {skipped} of the user data header")
        if 7 * length > 8 * len(data):
            raise PduError(f"TP-UDL says {length} septets, which take {(7 * length + 7) // 8} octets, "
                           f"but {len(data)} follow")
        septets = gsm7.unpack_septets(data[len(header):], length - skipped, fill_bits)
        return gsm7.decode_gsm7(septets), concat
    if length < len(header):
        raise PduError(f"TP-UDL says {length} octets, fewer than the {len(header)} of the user data header")
    if length > len(data):
        raise PduError(f"TP-UDL says {length} octets, but {len(data)} follow")
    body = data[len(header):length]
    if alphabet == "8bit":
        return body.decode("latin-1"), concat
    if len(body) % 2:
        raise PduError(f"UCS2 text of {len(body)} octets: UTF-16 units come in pairs")
    return gsm7.decode_ucs2(body), concat


# Building


def submit_pdus(number: str, text: str, *, report: bool = True, reference: int = 0) -> list[str]:
    """The SMS-SUBMIT PDUs that carry `text` to `number`; `reference` (0-255) ties the parts of a long text together."""
    address = encode_address(number)
    encoding, parts = gsm7.split(text)
    pdus = []
    for sequence, part in enumerate(parts, start=1):
        header = _concat_header(Concat(reference, len(parts), sequence)) if len(parts) > 1 else b""
        first = SUBMIT | VPF_RELATIVE | (SRR if report else 0) | (UDHI if header else 0)
        length, data = _encode_user_data(encoding, part, header)
        tpdu = bytes([first, 0]) + address + bytes([0, DCS[encoding], VALIDITY_24H, length]) + data
        pdus.append((b"\x00" + tpdu).hex().upper())
    return pdus


def deliver_pdus(number: str, text: str, timestamp: datetime, *, reference: int = 0,
                 service_centre: str = "") -> list[str]:
    """The SMS-DELIVER PDUs in which `text` from `number` reaches a phone (what the simulator hands out)."""
    address = encode_address(number)
    encoding, parts = gsm7.split(text)
    pdus = []
    for sequence, part in enumerate(parts, start=1):
        header = _concat_header(Concat(reference, len(parts), sequence)) if len(parts) > 1 else b""
        first = DELIVER | 0x04 | (UDHI if header else 0)  # 0x04: no more messages waiting
        length, data = _encode_user_data(encoding, part, header)
        tpdu = bytes([first]) + address + bytes([0, DCS[encoding]]) + encode_timestamp(timestamp) + bytes([length])
        pdus.append((encode_service_centre(service_centre) + tpdu + data).hex().upper())
    return pdus


def status_report_pdu(reference: int, number: str, status: int, timestamp: datetime, discharged: datetime, *,
                      service_centre: str = "") -> str:
    """The SMS-STATUS-REPORT PDU that says what became of part `reference` sent to `number`."""
    tpdu = (bytes([STATUS_REPORT | 0x04, reference]) + encode_address(number) + encode_timestamp(timestamp)
            + encode_timestamp(discharged) + bytes([status]))
    return (encode_service_centre(service_centre) + tpdu).hex().upper()


def _octets(pdu: str) -> bytes:
    """The octets a PDU's hex spells; a PduError for anything but pairs of hex digits."""
    if re.fullmatch(r"[0-9A-Fa-f]*", pdu) is None:
        raise PduError(f"{pdu[:40]!r} is not hex")
    if len(pdu) % 2:
        raise PduError(f"a PDU of {len(pdu)} hex digits: octets take two each")
    return bytes.fromhex(pdu)


def tpdu_length(pdu: str) -> int:
    """The length AT+CMGS and +CMGR count: the PDU's octets without the service-centre field."""
    octets = _octets(pdu)
    if not octets:
        raise PduError("an empty PDU has no service-centre field")
    return len(octets) - 1 - octets[0]


# Parsing


class _Reader:
    """Octets taken from the front of a PDU; running out is a PduError that names the field it cut short."""

    def __init__(self, data: bytes):
        self.data, self.position = data, 0

    def take(self, count: int, field: str) -> bytes:
        left = len(self.data) - self.position
        if count > left:
            raise PduError(f"the PDU ends early: {field} takes {count} octets, {left} are left")
        chunk = self.data[self.position:self.position + count]
        self.position += count
        return chunk

    def octet(self, field: str) -> int:
        return self.take(1, field)[0]

    def address(self, field: str) -> str:
        length, kind = self.octet(f"{field}'s length"), self.octet(f"{field}'s type")
        return _decode_address(length, kind, self.take((length + 1) // 2, field))

    def rest(self) -> bytes:
        return self.take(len(self.data) - self.position, "the user data")


def parse_pdu(pdu: str) -> Submit | Deliver | StatusReport:
    """An SMS-SUBMIT, SMS-DELIVER or SMS-STATUS-REPORT from its hex, service-centre field first; a PduError, saying
    what is wrong, for anything else."""
    reader = _Reader(_octets(pdu))
    reader.take(reader.octet("the service-centre length"), "the service-centre address")  # nothing here needs it
    first = reader.octet("the first octet")
    kind = first & 0x03
    if kind == DELIVER:
        return _parse_deliver(first, reader)
    if kind == SUBMIT:
        return _parse_submit(first, reader)
    if kind == STATUS_REPORT:
        return _parse_status_report(reader)
    raise PduError(f"TP-MTI {kind} is not a message this appliance reads")


def _parse_deliver(first: int, reader: _Reader) -> Deliver:
    number = reader.address("the sender's address")
    reader.octet("TP-PID")
    alphabet = _alphabet(reader.octet("TP-DCS"))
    timestamp = decode_timestamp(reader.take(7, "the timestamp"))
    length = reader.octet("TP-UDL")
    text, concat = _decode_user_data(alphabet, bool(first & UDHI), length, reader.rest())
    return Deliver(number, text, timestamp, concat)


def _parse_submit(first: int, reader: _Reader) -> Submit:
    reference = reader.octet("TP-MR")
    number = reader.address("the recipient's address")
    reader.octet("TP-PID")
    alphabet = _alphabet(reader.octet("TP-DCS"))
    validity_format = (first >> 3) & 0x03
    reader.take({0: 0, 2: 1}.get(validity_format, 7), "TP-VP")
    length = reader.octet("TP-UDL")
    text, concat = _decode_user_data(alphabet, bool(first & UDHI), length, reader.rest())
    return Submit(number, text, bool(first & SRR), reference, concat)


def _parse_status_report(reader: _Reader) -> StatusReport:
    reference = reader.octet("TP-MR")
    number = reader.address("the recipient's address")
    timestamp = decode_timestamp(reader.take(7, "the timestamp"))
    discharged = decode_timestamp(reader.take(7, "the discharge time"))
    return StatusReport(reference, number, reader.octet("TP-ST"), timestamp, discharged)


# Joining


class Assembler:
    """Joins the parts of concatenated messages in whatever order they arrive; a lone part is a message at once.

    Parts wait for the rest at most `wait_s` from the first one's arrival, and at most `max_waiting` messages wait
    at once (the oldest makes room): a part that never comes, or a sender who makes up references, costs a log line,
    not memory held forever.
    """

    def __init__(self, wait_s: float = PART_WAIT_S, max_waiting: int = MAX_WAITING):
        self.wait_s = wait_s
        self.max_waiting = max_waiting
        self._waiting: dict[tuple, tuple[float, dict[int, Submit | Deliver]]] = {}  # oldest first

    @property
    def waiting(self) -> int:
        """How many messages are waiting for parts."""
        return len(self._waiting)

    def add(self, part: Submit | Deliver, now: float | None = None) -> Message | None:
        """Take one part that came at `now` (seconds on a steady clock, time.monotonic() when left out); returns the
        whole message once its last part is in, else None."""
        now = time.monotonic() if now is None else now
        self.expire(now)
        if part.concat is None or part.concat.total < 2:
            return Message(part.number, part.text, (part,))
        key = (part.number, part.concat.reference, part.concat.total)
        if key not in self._waiting:
            while len(self._waiting) >= self.max_waiting:
                self._drop(next(iter(self._waiting)), f"{self.max_waiting} other texts were waiting for parts")
            self._waiting[key] = (now, {})
        parts = self._waiting[key][1]
        parts[part.concat.sequence] = part
        if len(parts) < part.concat.total:
            return None
        del self._waiting[key]
        ordered = tuple(parts[sequence] for sequence in sorted(parts))
        return Message(part.number, "".join(each.text for each in ordered), ordered)

    def expire(self, now: float) -> None:
        """Drop the parts of messages whose first part came more than `wait_s` before `now`."""
        for key, (since, _) in list(self._waiting.items()):
            if now - since > self.wait_s:
                self._drop(key, f"the rest did not come within {self.wait_s / 3600:g} h")

    def _drop(self, key: tuple, reason: str) -> None:
        number, reference, total = key
        _, parts = self._waiting.pop(key)
        log.warning("dropped %d of the %d parts of a text from %s (reference %d): %s", len(parts), total, number,
                    reference, reason)
