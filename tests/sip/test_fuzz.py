"""Whatever bytes arrive, `parse` gives a message or `ApplianceError`, never another exception (seeded mutations)."""

from __future__ import annotations

import random

from appliance.errors import ApplianceError
from appliance.sip.message import NameAddr, Request, Response, Via, parse
from appliance.sip.sdp import answer, parse_sdp

SEED = 3261
ROUNDS = 3000
JUNK = [b"\x00", b"\xff\xfe", b"\r", b"\n", b"\r\n", b"\r\n\r\n", b" ", b"\t", b":", b";", b",", b"<", b">", b'"',
        b"[", b"]", b"@", b"=", b"\\", b"SIP/2.0", b"sip:", b"Content-Length: 99999999999\r\n",
        b"Content-Length: " + b"9" * 5000 + b"\r\n", b"l: 1\r\n", b"Via: SIP/2.0/UDP [::1\r\n", b"\xc3\x28", b"%00",
        b"9" * 40]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One to four random edits of `data`."""
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data) + 1)
        kind = rng.randrange(8)
        if kind == 0 and data:  # flip one bit
            at = min(at, len(data) - 1)
            data = data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1:]
        elif kind == 1:  # cut short
            data = data[:at]
        elif kind == 2:  # junk in
            data = data[:at] + rng.choice(JUNK) + data[at:]
        elif kind == 3:  # a header line twice
            lines = data.split(b"\r\n")
            line = rng.choice(lines)
            lines.insert(rng.randrange(len(lines) + 1), line)
            data = b"\r\n".join(lines)
        elif kind == 4:  # a line gone
            lines = data.split(b"\r\n")
            del lines[rng.randrange(len(lines))]
            data = b"\r\n".join(lines)
        elif kind == 5:  # random bytes
            data = data[:at] + rng.randbytes(rng.randint(1, 16)) + data[at:]
        elif kind == 6:  # a huge or odd Content-Length
            value = rng.choice([b"99999999999", b"-1", b"0x10", b"1e3", b" 4 ", b"\xd9\xa3", b"", b"4294967296"])
            data = data.replace(b"Content-Length: 0", b"Content-Length: " + value, 1)
        else:  # a piece of the message moved elsewhere
            end = rng.randrange(at, len(data) + 1)
            piece = data[at:end]
            data = data[:at] + data[end:]
            where = rng.randrange(len(data) + 1)
            data = data[:where] + piece + data[where:]
    return data


def test_mutated_messages_parse_or_raise_appliance_error(captures):
    rng = random.Random(SEED)
    originals = list(captures.values())
    parsed = refused = 0
    for _ in range(ROUNDS):
        data = mutate(rng, rng.choice(originals))
        try:
            message = parse(data)
        except ApplianceError as error:
            assert error.code == "sip-malformed"
            refused += 1
            continue
        assert isinstance(message, (Request, Response))
        wire = message.to_bytes()
        assert parse(wire).to_bytes() == wire  # what parses, goes out and comes back the same
        parsed += 1
    assert parsed > 100 and refused > 1000  # both sides of the parser were exercised


def test_random_bytes_raise_appliance_error_only():
    rng = random.Random(SEED + 1)
    for _ in range(500):
        data = rng.randbytes(rng.randint(0, 300))
        if rng.random() < 0.5:
            data = b"INVITE sip:a@h SIP/2.0\r\n" + data + b"\r\n\r\n"
        try:
            parse(data)
        except ApplianceError:
            pass


def test_mutated_header_values_and_sdp_raise_appliance_error_only(captures):
    rng = random.Random(SEED + 2)
    invite = parse(captures["INVITE"])
    values = [invite.get("From"), invite.get("To"), invite.get("Contact"), invite.get("Via")]
    for _ in range(1000):
        value = mutate(rng, rng.choice(values).encode()).decode("utf-8", "replace")
        for reader in (NameAddr.parse, Via.parse):
            try:
                reader(value)
            except ApplianceError:
                pass
        body = mutate(rng, invite.body)
        try:
            answer(parse_sdp(body), "192.0.2.1", 40000, 1)
        except ApplianceError as error:
            assert error.code.startswith("sdp-")
