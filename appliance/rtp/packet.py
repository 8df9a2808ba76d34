"""The RTP fixed header (RFC 3550 §5.1) as a dataclass, parsed from and written to bytes, with no I/O.

`parse` is for bytes off the network: anything that is not a well-formed RTP packet raises `RtpMalformed` (an
ApplianceError, code `rtp-malformed`) and nothing else. RTCP multiplexed on the same port (RFC 5761 §4) raises it
with the code `rtp-is-rtcp` instead, so a receiver can drop it quietly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from appliance.errors import ApplianceError

VERSION = 2
HEADER_BYTES = 12
# RFC 5761 §4: a second byte of 192-223 is an RTCP packet type (SR 200, RR 201, SDES 202, BYE 203, APP 204,
# and the later RTPFB 205, PSFB 206, XR 207); RTP must not use payload types 64-95 when the two share a port.
RTCP_TYPES = range(192, 224)
_FIXED = struct.Struct("!BBHII")


class RtpMalformed(ApplianceError):
    """Bytes that are not an RTP packet (`rtp-malformed`), or are RTCP (`rtp-is-rtcp`): what the RTP parsers raise."""

    def __init__(self, reason: str, code: str = "rtp-malformed"):
        super().__init__(code, reason)


@dataclass(frozen=True)
class RtpPacket:
    """One RTP packet: the header fields a receiver uses, and the payload without padding."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    marker: bool = False
    payload: bytes = b""
    csrcs: tuple[int, ...] = ()

    def to_bytes(self) -> bytes:
        """The packet on the wire: version 2, no padding, no header extension."""
        _check("payload_type", self.payload_type, 0x7F)
        _check("sequence", self.sequence, 0xFFFF)
        _check("timestamp", self.timestamp, 0xFFFFFFFF)
        _check("ssrc", self.ssrc, 0xFFFFFFFF)
        if len(self.csrcs) > 15:
            raise ApplianceError("rtp-field-range", f"{len(self.csrcs)} CSRCs, at most 15 fit")
        for csrc in self.csrcs:
            _check("csrc", csrc, 0xFFFFFFFF)
        first = (VERSION << 6) | len(self.csrcs)
        second = (0x80 if self.marker else 0) | self.payload_type
        header = _FIXED.pack(first, second, self.sequence, self.timestamp, self.ssrc)
        return header + b"".join(struct.pack("!I", csrc) for csrc in self.csrcs) + bytes(self.payload)


def _check(name: str, value: int, top: int) -> None:
    if not 0 <= value <= top:
        raise ApplianceError("rtp-field-range", f"{name} {value} is outside 0..{top}")


def is_rtcp(data: bytes) -> bool:
    """Whether a datagram on a shared RTP/RTCP port is RTCP (RFC 5761 §4: its second byte)."""
    return len(data) >= 2 and data[0] >> 6 == VERSION and data[1] in RTCP_TYPES


def parse(data: bytes) -> RtpPacket:
    """An RTP packet from a datagram; CSRCs kept, a header extension skipped, padding removed.

    RTCP is recognised before the length check, as an RTCP receiver report can be shorter than an RTP header.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise RtpMalformed(f"a packet is bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) < 2:
        raise RtpMalformed(f"{len(data)} bytes is shorter than an RTP header")
    first, second = data[0], data[1]
    if first >> 6 != VERSION:
        raise RtpMalformed(f"version {first >> 6}, not 2")
    if second in RTCP_TYPES:
        raise RtpMalformed(f"RTCP packet type {second}", "rtp-is-rtcp")
    if len(data) < HEADER_BYTES:
        raise RtpMalformed(f"{len(data)} bytes is shorter than an RTP header")
    _, _, sequence, timestamp, ssrc = _FIXED.unpack_from(data)
    end = len(data)
    if first & 0x20:  # padding: the last byte counts the padding bytes, itself included
        padding = data[-1]
        if padding == 0:
            raise RtpMalformed("padding bit set with a padding count of 0")
        if padding > len(data) - HEADER_BYTES:
            raise RtpMalformed(f"{padding} bytes of padding is longer than the packet")
        end -= padding
    offset = HEADER_BYTES + 4 * (first & 0x0F)
    if offset > end:
        raise RtpMalformed(f"{first & 0x0F} CSRCs run past the end of the packet")
    csrcs = struct.unpack_from(f"!{first & 0x0F}I", data, HEADER_BYTES)
    if first & 0x10:  # header extension: 16-bit profile data, 16-bit length in 32-bit words, then the words
        if offset + 4 > end:
            raise RtpMalformed("header extension runs past the end of the packet")
        (words,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4 + 4 * words
        if offset > end:
            raise RtpMalformed(f"header extension of {words} words runs past the end")
    return RtpPacket(second & 0x7F, sequence, timestamp, ssrc, bool(second & 0x80), bytes(data[offset:end]), csrcs)
