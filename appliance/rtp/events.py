"""RFC 4733 telephone-events: the keypad sent as RTP packets instead of tones, and one key per press.

A press goes out as several packets with the same RTP timestamp (the event's start): the first with the
marker bit, updates with a growing duration, then the final duration three times with the E bit. Any of them
may be lost or reordered, so `EventReceiver` keys on the timestamp: whichever packet of an event comes first
reports the key, and the rest of that event is ignored. The key is reported at the first packet, not at the
end, so that a caller's key press barges in at once (the end packet of a long press may come seconds later).
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

from appliance.errors import ApplianceError
from appliance.rtp.packet import RtpMalformed

KEYS = "0123456789*#ABCD"  # events 0-15 (RFC 4733 §3.2)
FLASH = "flash"  # event 16, a hook flash
EVENT_CODES = {key: code for code, key in enumerate(KEYS)} | {FLASH: 16}
_EVENT = struct.Struct("!BBH")  # event | E, R, volume (6 bits) | duration


@dataclass(frozen=True)
class TelephoneEvent:
    """One telephone-event payload: the key (None for an event code the appliance has no use for),
    whether this is an end packet, the volume (-dBm0) and the duration so far, in RTP timestamp units."""

    event: str | None
    end: bool
    volume: int
    duration: int


def parse_event(payload: bytes) -> TelephoneEvent:
    """The first event of a telephone-event payload; `RtpMalformed` for anything shorter than one."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise RtpMalformed(f"a telephone-event payload is bytes, not {type(payload).__name__}")
    payload = bytes(payload)
    if len(payload) < _EVENT.size:
        raise RtpMalformed(f"telephone-event payload of {len(payload)} bytes, needs 4")
    code, flags, duration = _EVENT.unpack_from(payload)
    key = KEYS[code] if code < len(KEYS) else FLASH if code == 16 else None
    return TelephoneEvent(key, bool(flags & 0x80), flags & 0x3F, duration)


def event_payload(code: int, end: bool, volume: int, duration: int) -> bytes:
    """A telephone-event payload for event `code`."""
    if not (0 <= code <= 0xFF and 0 <= volume <= 0x3F and 0 <= duration <= 0xFFFF):
        raise ApplianceError("rtp-field-range", f"event {code}, volume {volume}, duration {duration}")
    return _EVENT.pack(code, (0x80 if end else 0) | volume, duration)


class EventReceiver:
    """Telephone-event packets in, each key press out exactly once (at the first packet seen of it).

    A press is its RTP timestamp: a new timestamp is a new press, even of the same key. The last few
    timestamps are remembered, so a late packet of an earlier press does not count again. An event longer
    than the 16-bit duration continues under the timestamp plus that duration (RFC 4733 §2.5.1.3); such a
    continuation of a long (`LONG_SEGMENT` or more), unfinished press of the same key is the same press.
    """

    REMEMBERED = 16
    LONG_SEGMENT = 0x8000  # 4 s at 8 kHz: only a segment this long can be continued by the next one

    def __init__(self) -> None:
        self._seen: deque[int] = deque(maxlen=self.REMEMBERED)
        self._last: tuple[int, str, int, bool] | None = None  # timestamp, key, longest duration, ended

    def feed(self, timestamp: int, event: TelephoneEvent) -> str | None:
        """The key pressed, when this packet is the first seen of its press; otherwise None."""
        if event.event is None:
            return None
        if timestamp in self._seen:
            if self._last and self._last[0] == timestamp:
                _, key, duration, ended = self._last
                self._last = (timestamp, key, max(duration, event.duration), ended or event.end)
            return None
        self._seen.append(timestamp)
        last, self._last = self._last, (timestamp, event.event, event.duration, event.end)
        if (last and not last[3] and last[1] == event.event and last[2] >= self.LONG_SEGMENT
                and timestamp == (last[0] + last[2]) & 0xFFFFFFFF):
            return None  # the next segment of a long press
        return event.event
