"""SMS PDUs (3GPP TS 23.040): SMS-SUBMIT out, SMS-DELIVER and SMS-STATUS-REPORT in, concatenated parts joined.

Every PDU here is the hex that AT commands carry in PDU mode: the service centre address first
(`00` for "the SIM's own") and then the TPDU. Builders exist for all three kinds because the modem
simulator has to speak the network's side of them.
"""

from __future__ import annotations

import re
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
    padded = digits + "F" * (len(digits) % 2)
    return bytes.fromhex("".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2)))


def _digits(data: bytes) -> str:
    return "".join(f"{octet & 0x0F:X}{octet >> 4:X}" for octet in data).rstrip("F")


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
    digits = _digits(data)[:length]
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
    """The moment a 7-octet TP timestamp names."""
    fields = _digits(data[:6])
    zone = data[6]
    quarters = (zone & 0x07) * 10 + (zone >> 4)
    offset = timedelta(minutes=15 * quarters) * (-1 if zone & 0x08 else 1)
    year, month, day, hour, minute, second = (int(fields[i:i + 2]) for i in range(0, 12, 2))
    return datetime(2000 + year, month, day, hour, minute, second, tzinfo=timezone(offset))


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


def _parse_header(header: bytes) -> Concat | None:
    """The concatenation element of a user data header, if there is one."""
    position = 0
    while position + 2 <= len(header):
        element, length = header[position], header[position + 1]
        value = header[position + 2:position + 2 + length]
        if element == CONCAT_8BIT and length == 3:
            return Concat(value[0], value[1], value[2])
        if element == CONCAT_16BIT and length == 4:
            return Concat(value[0] << 8 | value[1], value[2], value[3])
        position += 2 + length
    return None


def _decode_user_data(alphabet: str, has_header: bool, length: int, data: bytes) -> tuple[str, Concat | None]:
    header = data[:data[0] + 1] if has_header and data else b""
    concat = _parse_header(header[1:]) if header else None
    if alphabet == "gsm7":
        fill_bits = -len(header) * 8 % 7
        skipped = (len(header) * 8 + fill_bits) // 7
        septets = gsm7.unpack_septets(data[len(header):], length - skipped, fill_bits)
        return gsm7.decode_gsm7(septets), concat
    body = data[len(header):length]
    return (gsm7.decode_ucs2(body) if alphabet == "ucs2" else body.decode("latin-1")), concat


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


def tpdu_length(pdu: str) -> int:
    """The length AT+CMGS and +CMGR count: the PDU's octets without the service-centre field."""
    return len(pdu) // 2 - 1 - int(pdu[:2], 16)


# Parsing


class _Reader:
    """Octets taken from the front of a PDU; running out is a ValueError, not an IndexError."""

    def __init__(self, data: bytes):
        self.data, self.position = data, 0

    def take(self, count: int) -> bytes:
        if self.position + count > len(self.data):
            raise ValueError("the PDU ends early")
        chunk = self.data[self.position:self.position + count]
        self.position += count
        return chunk

    def octet(self) -> int:
        return self.take(1)[0]

    def address(self) -> str:
        length, kind = self.octet(), self.octet()
        return _decode_address(length, kind, self.take((length + 1) // 2))

    def rest(self) -> bytes:
        return self.take(len(self.data) - self.position)


def parse_pdu(pdu: str) -> Submit | Deliver | StatusReport:
    """An SMS-SUBMIT, SMS-DELIVER or SMS-STATUS-REPORT from its hex, service-centre field first."""
    try:
        reader = _Reader(bytes.fromhex(pdu))
    except ValueError:
        raise ValueError(f"{pdu[:40]!r} is not hex") from None
    reader.take(reader.octet())  # the service centre; nothing here needs it
    first = reader.octet()
    kind = first & 0x03
    if kind == DELIVER:
        return _parse_deliver(first, reader)
    if kind == SUBMIT:
        return _parse_submit(first, reader)
    if kind == STATUS_REPORT:
        return _parse_status_report(reader)
    raise ValueError(f"TP-MTI {kind} is not a message this appliance reads")


def _parse_deliver(first: int, reader: _Reader) -> Deliver:
    number = reader.address()
    reader.octet()  # TP-PID
    alphabet = _alphabet(reader.octet())
    timestamp = decode_timestamp(reader.take(7))
    length = reader.octet()
    text, concat = _decode_user_data(alphabet, bool(first & UDHI), length, reader.rest())
    return Deliver(number, text, timestamp, concat)


def _parse_submit(first: int, reader: _Reader) -> Submit:
    reference = reader.octet()
    number = reader.address()
    reader.octet()  # TP-PID
    alphabet = _alphabet(reader.octet())
    validity_format = (first >> 3) & 0x03
    reader.take({0: 0, 2: 1}.get(validity_format, 7))
    length = reader.octet()
    text, concat = _decode_user_data(alphabet, bool(first & UDHI), length, reader.rest())
    return Submit(number, text, bool(first & SRR), reference, concat)


def _parse_status_report(reader: _Reader) -> StatusReport:
    reference = reader.octet()
    number = reader.address()
    timestamp = decode_timestamp(reader.take(7))
    discharged = decode_timestamp(reader.take(7))
    return StatusReport(reference, number, reader.octet(), timestamp, discharged)


# Joining


class Assembler:
    """Joins the parts of concatenated messages in whatever order they arrive; a lone part is a message at once."""

    def __init__(self):
        self._waiting: dict[tuple, dict[int, Submit | Deliver]] = {}

    def add(self, part: Submit | Deliver) -> Message | None:
        """Take one part; returns the whole message once its last part is in, else None."""
        if part.concat is None or part.concat.total < 2:
            return Message(part.number, part.text, (part,))
        key = (part.number, part.concat.reference, part.concat.total)
        parts = self._waiting.setdefault(key, {})
        parts[part.concat.sequence] = part
        if len(parts) < part.concat.total:
            return None
        del self._waiting[key]
        ordered = tuple(parts[sequence] for sequence in sorted(parts))
        return Message(part.number, "".join(each.text for each in ordered), ordered)
