"""Caller ID: GR-30 / ETSI messages out of the FSK modem's bytes, and DTMF caller ID digits."""

from firmware.fsk import FskReceiver

SDMF = 0x04
MDMF = 0x80
DATE_TIME = 0x01
NUMBER = 0x02
NUMBER_ABSENT = 0x04
NAME = 0x07
ABSENT_REASONS = {"O": "out-of-area", "P": "private"}
# The mark signal before a message is 180 bits (GR-30) or 80±25 (ETSI); a run this long opens one.
MIN_MARK_BITS = 40


class CallerIdError(Exception):
    """A caller-ID message that must not be believed; str() is its code: checksum, malformed, truncated."""


def checksum(body):
    """The byte that makes the sum of the message, checksum included, 0 modulo 256."""
    return -sum(body) & 0xFF


def _text(data):
    """The printable characters of a field (some exchanges pad names with control characters)."""
    return "".join(chr(b) for b in data if 0x20 <= b < 0x7F or b >= 0xA0)


def parse_message(message):
    """The fields (number, name, time, absent) of a complete message: type, length, payload, checksum."""
    if len(message) < 3 or len(message) != message[1] + 3:
        raise CallerIdError("malformed")
    if checksum(message[:-1]) != message[-1]:
        raise CallerIdError("checksum")
    payload = message[2:-1]
    if message[0] == SDMF:
        return _parse_sdmf(payload)
    if message[0] == MDMF:
        return _parse_mdmf(payload)
    raise CallerIdError("malformed")


def _parse_sdmf(payload):
    """SDMF: 8 characters of date and time (MMDDHHMM), then the number or a one-letter reason."""
    if len(payload) < 9:
        raise CallerIdError("malformed")
    fields = {"time": _text(payload[:8])}
    number = _text(payload[8:])
    if number in ABSENT_REASONS:
        fields["absent"] = ABSENT_REASONS[number]
    else:
        fields["number"] = number
    return fields


def _parse_mdmf(payload):
    """MDMF: parameters of type, length, value; the ones a phone shows are kept, others skipped."""
    fields = {}
    at = 0
    while at < len(payload):
        if at + 2 > len(payload) or at + 2 + payload[at + 1] > len(payload):
            raise CallerIdError("malformed")
        kind = payload[at]
        value = payload[at + 2:at + 2 + payload[at + 1]]
        at += 2 + len(value)
        if kind == DATE_TIME:
            fields["time"] = _text(value)
        elif kind == NUMBER:
            fields["number"] = _text(value)
        elif kind == NUMBER_ABSENT:
            fields["absent"] = ABSENT_REASONS.get(_text(value), "out-of-area")
        elif kind == NAME:
            fields["name"] = _text(value)
    if "number" in fields:
        fields.pop("absent", None)
    return fields


class FskCallerId:
    """Listens to one caller-ID burst: waits out the channel seizure and the mark signal, then collects
    type, length, payload and checksum."""

    def __init__(self, modem):
        self._receiver = FskReceiver(modem)
        self._message = None  # a bytearray once the message has begun

    def push(self, samples):
        """The complete message (bytes) this block of DC-free samples finishes, or None."""
        for byte, mark_bits in self._receiver.push(samples):
            if self._message is None:
                if mark_bits >= MIN_MARK_BITS and byte in (SDMF, MDMF):
                    self._message = bytearray([byte])
                continue
            self._message.append(byte)
            if len(self._message) >= 2 and len(self._message) == self._message[1] + 3:
                message = bytes(self._message)
                self._message = None
                return message
        return None

    def no_carrier(self):
        """Silence: the mark before a message has to be heard again, not pieced together from noise."""
        self._receiver.uart.reset()

    def message_type(self):
        """The type of the message being received, or None between messages."""
        return None if self._message is None else self._message[0]


def parse_dtmf(digits):
    """The fields of a DTMF caller ID: 'A' or 'D', the number, then 'C' or '#'.

    The start and end codes differ by country (A…C in the Netherlands and ETSI's DTMF CLIP, D…C in
    India, A…# and D…# in Denmark); the absence codes are ETSI's B00C (unavailable) and B10C
    (private) and Denmark's D1# (private), D2# and D3# (unavailable).
    """
    start, body, end = digits[0], digits[1:-1], digits[-1]
    if end not in "C#" or start not in "ABD" or not body:
        raise CallerIdError("malformed")
    if start == "B":
        return {"absent": "private" if body == "10" else "out-of-area"}
    if start == "D" and end == "#" and len(body) == 1:
        return {"absent": "private" if body == "1" else "out-of-area"}
    if not all(d in "0123456789*" for d in body):
        raise CallerIdError("malformed")
    return {"number": body}


class DtmfCallerId:
    """Collects DTMF digits from a start code to an end code."""

    def __init__(self):
        self._digits = ""

    def push(self, digit):
        """The complete digit string (start and end codes included) this digit ends, or None."""
        if not self._digits:
            if digit in "ABD":
                self._digits = digit
            return None
        self._digits += digit
        if (digit in "C#" and len(self._digits) > 2) or len(self._digits) > 40:
            digits = self._digits
            self._digits = ""
            return digits
        return None
