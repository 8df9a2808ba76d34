"""The sending side of one RTP stream (RFC 3550 §5.1), with keypad events (RFC 4733 §2.5): bytes out, no I/O.

Sequence number and timestamp start at random values (RFC 3550 §5.1) and wrap at 16 and 32 bits. Every
audio packet advances the timestamp by `samples_per_packet`. A keypad event takes the place of audio for its
duration: its packets share the event's start timestamp, and the audio timestamp moves on by that duration.
"""

from __future__ import annotations

import random

from appliance.errors import ApplianceError
from appliance.rtp.events import EVENT_CODES, event_payload
from appliance.rtp.packet import RtpPacket

END_REPEATS = 3  # RFC 4733 §2.5.1.4: the final packet of an event is sent three times


class RtpSender:
    """Packets for one outgoing stream (one SSRC): audio payloads and RFC 4733 telephone-events."""

    def __init__(self, payload_type: int, ssrc: int | None = None, clock_rate: int = 8000,
                 samples_per_packet: int = 160, event_payload_type: int = 101,
                 sequence: int | None = None, timestamp: int | None = None):
        rng = random.SystemRandom()
        self.payload_type = payload_type
        self.event_payload_type = event_payload_type
        self.ssrc = rng.getrandbits(32) if ssrc is None else ssrc
        self.clock_rate = clock_rate
        self.samples_per_packet = samples_per_packet
        self.sequence = rng.getrandbits(16) if sequence is None else sequence  # of the next packet
        self.timestamp = rng.getrandbits(32) if timestamp is None else timestamp  # of the next audio packet

    def _next(self, payload_type: int, timestamp: int, payload: bytes, marker: bool) -> bytes:
        data = RtpPacket(payload_type, self.sequence, timestamp, self.ssrc, marker, payload).to_bytes()
        self.sequence = (self.sequence + 1) & 0xFFFF
        return data

    def packet(self, payload: bytes, marker: bool = False) -> bytes:
        """The next audio packet; the timestamp then moves on by one packet's samples."""
        data = self._next(self.payload_type, self.timestamp, payload, marker)
        self.timestamp = (self.timestamp + self.samples_per_packet) & 0xFFFFFFFF
        return data

    def event_packets(self, digit: str, duration_ms: int = 160, volume: int = 10) -> list[bytes]:
        """A key press as RFC 4733 packets, to be sent one per packet interval.

        All carry the event's start timestamp. The first has the marker bit; each update's duration grows by
        one packet interval; the final duration goes out three times with the E bit. A press shorter than
        one packet interval is the three end packets alone, the first of them marked.
        """
        if digit not in EVENT_CODES:
            raise ApplianceError("rtp-event-unknown", f"no telephone-event for {digit!r}")
        intervals = max(1, round(duration_ms * self.clock_rate / 1000 / self.samples_per_packet))
        total = intervals * self.samples_per_packet
        if total > 0xFFFF:
            raise ApplianceError("rtp-event-too-long", f"{duration_ms} ms does not fit the 16-bit duration")
        start = self.timestamp
        durations = [(step * self.samples_per_packet, False) for step in range(1, intervals)]
        durations += [(total, True)] * END_REPEATS
        packets = [self._next(self.event_payload_type, start,
                              event_payload(EVENT_CODES[digit], end, volume, duration), marker=index == 0)
                   for index, (duration, end) in enumerate(durations)]
        self.timestamp = (start + total) & 0xFFFFFFFF
        return packets
