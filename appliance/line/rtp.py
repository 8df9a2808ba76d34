"""A call's audio over RTP: G.711 both ways on a UDP socket, a jitter buffer, and keys as RFC 4733 events.

`RtpLine` is the line a SIP call hands to the call session. Packets that arrive go into the jitter
buffer (audio) or the event receiver (keys); the line's 20 ms clock takes one frame out and sends one
packet of reply audio in the same tick, so the reply leaves on a steady monotonic clock whatever the
network does. Datagrams from anyone but the negotiated peer, and anything that is not RTP, are counted
and dropped.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket

import numpy as np

from appliance.audio import FRAME_MS
from appliance.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from appliance.errors import ApplianceError
from appliance.line import FRAME_SAMPLES
from appliance.line.clocked import ClockedLine
from appliance.rtp.events import EventReceiver, parse_event
from appliance.rtp.jitter import JitterBuffer, conceal
from appliance.rtp.packet import parse
from appliance.rtp.stream import RtpSender

log = logging.getLogger("appliance.line.rtp")

CODECS = {"PCMU": (ulaw_encode, ulaw_decode), "PCMA": (alaw_encode, alaw_decode)}


class RtpLine(ClockedLine, asyncio.DatagramProtocol):
    """One call's RTP session on its own UDP port; `close_call` is how the appliance ends the call (BYE)."""

    def __init__(self, caller_id: str | None = None, close_call=None, keep: bool = False):
        ClockedLine.__init__(self, caller_id, keep)
        self.configure("PCMU", 0, ("0.0.0.0", 0), None)
        self.jitter = JitterBuffer()
        self.events = EventReceiver()
        self.transport: asyncio.DatagramTransport | None = None
        self.close_call = close_call
        self.on_release = None  # the SIP line's own bookkeeping, when the call's socket closes
        self.dropped = 0  # datagrams that were not this call's RTP
        self._previous = np.zeros(FRAME_SAMPLES, np.int16)
        self._lost_in_row = 0
        self._talking = False

    def configure(self, codec: str, payload_type: int, remote: tuple[str, int], event_payload_type: int | None) -> None:
        """Use what offer/answer agreed (appliance.sip.sdp.Negotiated's fields)."""
        self.codec = codec
        self.encode, self.decode = CODECS[codec]
        self.payload_type = payload_type
        self.event_payload_type = event_payload_type
        self.send_to(remote)
        self.sender = RtpSender(payload_type, event_payload_type=event_payload_type or 101)

    def send_to(self, remote: tuple[str, int]) -> None:
        """Send RTP to `remote` from now on, and take it only from there: an IP address and port, never a name (a name
        is looked up once, where the SDP is taken up, not by every packet's sendto)."""
        try:
            ipaddress.ip_address(remote[0])
        except ValueError:
            raise ApplianceError("line-rtp-address", f"{remote[0]!r} is not an IP address; look it up first") from None
        self.remote = (remote[0], remote[1])

    @classmethod
    async def open(cls, host: str, ports: range, **options) -> "RtpLine":
        """Bind the first free port of `ports` (an even one, RTP's convention) on `host`."""
        loop = asyncio.get_running_loop()
        for port in ports:
            if port % 2:
                continue
            try:
                _, line = await loop.create_datagram_endpoint(lambda: cls(**options), local_addr=(host, port))
                return line
            except OSError:
                continue
        raise ApplianceError("line-rtp-no-port", f"no free UDP port for RTP in {ports.start}-{ports.stop - 1} on {host}")

    @property
    def local_port(self) -> int:
        return self.transport.get_extra_info("sockname")[1]

    @property
    def family(self) -> int:
        """The address family of the RTP socket (what a name in the SDP must resolve to)."""
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        return sock.family if sock is not None else socket.AF_UNSPEC

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        if addr[0] != self.remote[0]:
            self.dropped += 1
            return
        try:
            packet = parse(data)
        except ApplianceError as exc:
            if exc.code != "rtp-is-rtcp":
                self.dropped += 1
                log.debug("%s from %s", exc, addr)
            return
        if self.event_payload_type is not None and packet.payload_type == self.event_payload_type:
            try:
                key = self.events.feed(packet.timestamp, parse_event(packet.payload))
            except ApplianceError:
                self.dropped += 1
                return
            if key and key != "flash":
                self.key(key)
        elif packet.payload_type == self.payload_type:
            self.jitter.push(packet)
        else:
            self.dropped += 1

    @property
    def waiting_ms(self) -> float:
        """Caller audio in the jitter buffer: how far the call hears behind the caller."""
        return self.jitter.buffered * FRAME_MS

    def next_caller_frame(self) -> np.ndarray:
        payload = self.jitter.pop()
        if payload is None:
            self._lost_in_row += 1
            return conceal(self._previous, self._lost_in_row)
        self._lost_in_row = 0
        self._previous = self.decode(payload)
        return self._previous

    def send_frame(self, frame: np.ndarray) -> None:
        if self.transport is None or self.transport.is_closing() or not self.remote[1]:
            return
        talking = bool(np.any(frame))
        self.transport.sendto(self.sender.packet(self.encode(frame), marker=talking and not self._talking),
                              self.remote)
        self._talking = talking

    def send_keys(self, digits: str) -> None:
        """Key digits to the far end as RFC 4733 events (the softphone, a transfer's extension)."""
        for digit in digits:
            for packet in self.sender.event_packets(digit):
                self.transport.sendto(packet, self.remote)

    async def close(self) -> None:
        if self.close_call is not None:
            await self.close_call()
        self.release()

    def release(self) -> None:
        """Close the RTP socket."""
        if self.transport is not None:
            self.transport.close()
        if self.on_release is not None:
            release, self.on_release = self.on_release, None
            release()
