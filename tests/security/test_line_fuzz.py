"""Issue 17: whatever arrives on a line, its parser answers with a result or its own error, never another exception.

Each parser gets 20,000 seeded mutations of valid captures and builds (bits flipped, cut short, bytes and tokens
put in, pieces moved or repeated, length and count fields pushed to their edges), and inputs of the wrong type. The
SIP message parser, the SDP parser, the RTP packet and telephone-event parsers and AudioSocket's framing each have
one error type: any other exception that escapes fails the test with its traceback.
"""

from __future__ import annotations

import random
import uuid

import numpy as np

from appliance.line.audiosocket import (AudioSocketMalformed, AudioSocketParser, decode, encode_audio, encode_dtmf,
                                        encode_error, encode_hangup, encode_uuid, frame)
from appliance.rtp.events import event_payload, parse_event
from appliance.rtp.packet import RtpMalformed, RtpPacket
from appliance.rtp.packet import parse as parse_rtp
from appliance.rtp.stream import RtpSender
from appliance.sip.agent import UserAgent
from appliance.sip.message import SipMalformed
from appliance.sip.message import parse as parse_sip
from appliance.sip.sdp import SdpMalformed, answer, offer, parse_sdp

from sip.conftest import ALL as SIP_CAPTURES, SDP_OFFER

SEED = 17
MUTATIONS = 20_000
TOKENS = [b"\x00", b"\xff", b"\x80", b"\x7f", b"\r\n", b"\r\n\r\n", b"\n", b" ", b"\t", b":", b";", b",", b"<", b">",
          b'"', b"\\", b"[", b"]", b"@", b"=", b"/", b"SIP/2.0", b"sip:", b"IN IP6 ::", b"m=audio 0 RTP/AVP",
          b"a=rtpmap:", b"c=IN IP4 ", b"9" * 12, b"\xc3\x28", b"\xed\xa0\x80", b"%00", b"-1"]
WRONG_TYPES = [None, "", "v=0", 0, 12, [128, 0], {"a": 1}, 1.5]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One to four random edits of `data`."""
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data) + 1)
        kind = rng.randrange(8)
        if kind == 0 and data:  # a bit flipped
            at = min(at, len(data) - 1)
            data = data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1:]
        elif kind == 1:  # cut short
            data = data[:at]
        elif kind == 2:  # a token in
            data = data[:at] + rng.choice(TOKENS) + data[at:]
        elif kind == 3:  # random bytes in
            data = data[:at] + rng.randbytes(rng.randint(1, 24)) + data[at:]
        elif kind == 4 and data:  # a byte (a length, a count, a type) at an edge
            at = min(at, len(data) - 1)
            data = data[:at] + bytes([rng.choice([0, 1, 0x0F, 0x10, 0x7F, 0x80, 0xBF, 0xC8, 0xFF])]) + data[at + 1:]
        elif kind == 5:  # a piece repeated
            end = rng.randrange(at, len(data) + 1)
            data = data[:end] + data[at:end] * rng.randint(1, 3) + data[end:]
        elif kind == 6:  # a piece gone
            data = data[:at] + data[rng.randrange(at, len(data) + 1):]
        else:  # a piece moved
            end = rng.randrange(at, len(data) + 1)
            piece, data = data[at:end], data[:at] + data[end:]
            where = rng.randrange(len(data) + 1)
            data = data[:where] + piece + data[where:]
    return data


def mutations(seed: int, seeds: list[bytes], count: int = MUTATIONS) -> list[bytes]:
    rng = random.Random(seed)
    return [mutate(rng, rng.choice(seeds)) for _ in range(count)]


def only_raises(error_type: type, read, inputs) -> tuple[int, int]:
    """(read, refused): `read` on every input, letting nothing but `error_type` through."""
    read_ok = refused = 0
    for data in inputs:
        try:
            read(data)
        except error_type:
            refused += 1
        else:
            read_ok += 1
    return read_ok, refused


def sdp_seeds() -> list[bytes]:
    ours = offer("192.0.2.10", 40000, 1, 1).encode()
    held = SDP_OFFER.replace(b"c=IN IP4 192.168.1.20", b"c=IN IP4 0.0.0.0") + b"a=sendonly\r\n"
    video = SDP_OFFER + b"m=video 6002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\nc=IN IP6 ::1\r\n"
    return [SDP_OFFER, ours, held, video, answer(SDP_OFFER, "192.0.2.10", 40000, 7).sdp.encode()]


def rtp_seeds() -> list[bytes]:
    sender = RtpSender(0, ssrc=0x1234, sequence=65535, timestamp=2**32 - 160)
    padded = bytearray(RtpPacket(8, 7, 160, 99, False, b"\xd5" * 160).to_bytes() + b"\x00\x00\x00\x04")
    padded[0] |= 0x20
    extended = bytearray(RtpPacket(0, 1, 2, 3, payload=b"\x00\x00\x00\x01\xab\xcd\xef\x01" + b"\xff" * 20).to_bytes())
    extended[0] |= 0x10
    return [sender.packet(b"\xff" * 160, marker=True), *sender.event_packets("5"), bytes(padded), bytes(extended),
            RtpPacket(0, 1, 2, 3, csrcs=(1, 2, 3), payload=b"\x7f" * 80).to_bytes(),
            bytes([0x80, 200, 0, 6]) + b"\x00" * 24]  # an RTCP sender report on the same port


def audiosocket_seeds() -> list[bytes]:
    pcm = (np.sin(np.arange(160) / 5) * 8000).astype(np.int16)
    return [encode_uuid(uuid.UUID("ca11e71d-1234-8fff-8fff-ff4420794609")) + encode_audio(pcm) + encode_dtmf("7")
            + encode_hangup(), encode_uuid(uuid.uuid4()) + encode_error(1), encode_audio(pcm[:10]) + encode_dtmf("#"),
            frame(0x11, b"\x00" * 4), frame(0x03, b"")]


def test_the_sip_message_parser_raises_only_its_own_error():
    read_ok, refused = only_raises(SipMalformed, parse_sip, mutations(SEED, list(SIP_CAPTURES.values())))
    assert read_ok > 500 and refused > 5000  # both sides of the parser were reached
    assert only_raises(SipMalformed, parse_sip, WRONG_TYPES) == (0, len(WRONG_TYPES))


def test_the_sdp_parser_raises_only_its_own_error():
    read_ok, refused = only_raises(SdpMalformed, parse_sdp, mutations(SEED + 1, sdp_seeds()))
    assert read_ok > 500 and refused > 5000
    assert only_raises(SdpMalformed, parse_sdp, WRONG_TYPES) == (0, len(WRONG_TYPES))


def test_the_rtp_packet_parser_raises_only_its_own_error():
    read_ok, refused = only_raises(RtpMalformed, parse_rtp, mutations(SEED + 2, rtp_seeds()))
    assert read_ok > 500 and refused > 500
    assert only_raises(RtpMalformed, parse_rtp, WRONG_TYPES) == (0, len(WRONG_TYPES))


def test_the_telephone_event_parser_raises_only_its_own_error():
    seeds = [event_payload(code, end, 10, duration) for code in (0, 11, 16, 255) for end in (False, True)
             for duration in (0, 160, 65535)]
    read_ok, refused = only_raises(RtpMalformed, parse_event, mutations(SEED + 3, seeds))
    assert read_ok > 500 and refused > 500
    assert only_raises(RtpMalformed, parse_event, WRONG_TYPES) == (0, len(WRONG_TYPES))


def test_the_audiosocket_parser_raises_only_its_own_error_whatever_the_stream_and_its_chunks():
    rng = random.Random(SEED + 4)

    def read_stream(data: bytes) -> None:
        parser = AudioSocketParser()
        at = 0
        while at < len(data):  # as a socket delivers it: in pieces of any size
            step = rng.randint(1, 400)
            parser.receive_data(data[at:at + step])
            at += step
            list(parser.next_frames())

    read_ok, refused = only_raises(AudioSocketMalformed, read_stream, mutations(SEED + 5, audiosocket_seeds()))
    assert read_ok > 500 and refused > 500
    assert only_raises(AudioSocketMalformed, AudioSocketParser().receive_data, WRONG_TYPES) == (0, len(WRONG_TYPES))


def test_decoding_any_frame_type_and_payload_raises_only_the_audiosocket_error():
    rng = random.Random(SEED + 6)
    payloads = [b"", b"1", b"x", b"\x00" * 16, b"\x00" * 15, b"\x00" * 17, b"\x01\x02\x03", b"\x00" * 320,
                b"\x00" * 321, b"\x00" * 16002, b"\xff" * 300]
    frames = [(rng.choice([0x00, 0x01, 0x03, 0x10, 0x11, 0x18, 0xFF, rng.randrange(256), -1, 256, 70000]),
               mutate(rng, rng.choice(payloads)) if rng.random() < 0.5 else rng.choice(payloads))
              for _ in range(MUTATIONS)]
    read_ok, refused = only_raises(AudioSocketMalformed, lambda pair: decode(*pair), frames)
    assert read_ok > 500 and refused > 5000
    assert only_raises(AudioSocketMalformed, lambda pair: decode(*pair),
                       [(None, b""), ("1", b"x" * 16), (1, "x" * 16), (3, None)]) == (0, 4)


def test_the_user_agent_takes_any_datagram_from_anyone_without_raising():
    agent = UserAgent("127.0.0.1", 5060, allow="127.0.0.1")
    rng = random.Random(SEED + 7)
    for n, data in enumerate(mutations(SEED + 8, list(SIP_CAPTURES.values()), 5000)):
        now = n * 0.01
        source = rng.choice([("127.0.0.1", 5061), ("192.0.2.66", 5060)])
        agent.receive(data, source, now)  # whatever it is: answered, refused or dropped, never an exception
        if n % 50 == 0:
            agent.tick(now)
