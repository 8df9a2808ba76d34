"""RTP packets: written and read back, every header field at its edges, RTCP told apart, and no garbage crashes it."""

import random
import struct

import pytest

from appliance.errors import ApplianceError
from appliance.rtp.packet import RtpPacket, parse


def test_a_packet_survives_the_round_trip():
    packet = RtpPacket(0, 65535, 0xFFFFFFFF, 0xDEADBEEF, True, bytes(range(160)), (1, 2, 0xFFFFFFFF))
    assert parse(packet.to_bytes()) == packet


def test_the_header_is_laid_out_as_rfc_3550_says():
    data = RtpPacket(8, 0x1234, 0x56789ABC, 0x0BADF00D, True, b"\xd5" * 3).to_bytes()
    assert data == bytes([0x80, 0x88, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0x0B, 0xAD, 0xF0, 0x0D]) + b"\xd5" * 3


def test_an_extension_is_skipped_and_padding_removed():
    header = bytes([0xB1, 0x00]) + struct.pack("!HII", 7, 8, 9) + struct.pack("!I", 42)  # P, X, one CSRC
    extension = struct.pack("!HH", 0xBEDE, 2) + b"\x01" * 8
    packet = parse(header + extension + b"voice" + b"\x00\x00\x03")
    assert (packet.sequence, packet.timestamp, packet.ssrc, packet.csrcs) == (7, 8, 9, (42,))
    assert packet.payload == b"voice"


@pytest.mark.parametrize("data, reason", [
    (b"\x80", "shorter"),
    (bytes([0x80, 0x00]) + b"\x00" * 9, "shorter"),
    (bytes([0x40, 0x00]) + b"\x00" * 10, "version 1"),
    (bytes([0x83, 0x00]) + b"\x00" * 10 + b"\x00" * 8, "CSRCs"),
    (bytes([0x90, 0x00]) + b"\x00" * 10 + b"\xbe\xde", "extension"),
    (bytes([0x90, 0x00]) + b"\x00" * 10 + b"\xbe\xde\x00\x02" + b"\x00" * 4, "extension"),
    (bytes([0xA0, 0x00]) + b"\x00" * 10 + b"\x00\x10", "padding"),
    (bytes([0xA0, 0x00]) + b"\x00" * 10 + b"\x01\x00", "padding"),
])
def test_a_malformed_packet_says_why(data, reason):
    with pytest.raises(ApplianceError) as caught:
        parse(data)
    assert caught.value.code == "rtp-malformed" and reason in caught.value.message


@pytest.mark.parametrize("packet_type", [200, 201, 202, 203, 204, 207])
def test_rtcp_on_the_same_port_is_recognised(packet_type):
    receiver_report = bytes([0x80, packet_type]) + struct.pack("!HI", 1, 0x1234)  # 8 bytes: shorter than RTP
    with pytest.raises(ApplianceError) as caught:
        parse(receiver_report)
    assert caught.value.code == "rtp-is-rtcp"


def test_a_field_out_of_range_is_refused_when_writing():
    with pytest.raises(ApplianceError) as caught:
        RtpPacket(0, 65536, 0, 0).to_bytes()
    assert caught.value.code == "rtp-field-range"


def test_mutated_packets_parse_or_raise_appliance_error_only():
    rng = random.Random(4733)
    valid = [RtpPacket(0, 1, 2, 3, False, b"\xff" * 160).to_bytes(),
             RtpPacket(101, 65535, 0xFFFFFFFF, 7, True, b"\x01\x8a\x00\xa0", (5, 6)).to_bytes(),
             bytes([0xB1, 0x00]) + b"\x00" * 10 + b"\x00" * 4 + b"\xbe\xde\x00\x01" + b"\x00" * 4 + b"ab\x02\x02"]
    outcomes = {"parsed": 0, "refused": 0}
    for _ in range(3000):
        data = bytearray(rng.choice(valid))
        for _ in range(rng.randint(1, 4)):
            kind = rng.randrange(4)
            if kind == 0 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif kind == 1:
                del data[rng.randrange(len(data) + 1):]
            elif kind == 2:
                data[rng.randrange(len(data) + 1):0] = rng.randbytes(rng.randint(1, 8))
            elif data:
                data[0] ^= 1 << rng.randrange(8)
        try:
            packet = parse(bytes(data))
        except ApplianceError as error:
            assert error.code in ("rtp-malformed", "rtp-is-rtcp")
            outcomes["refused"] += 1
        else:
            assert isinstance(packet.payload, bytes)
            outcomes["parsed"] += 1
    assert outcomes["parsed"] > 100 and outcomes["refused"] > 100
