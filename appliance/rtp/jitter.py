"""A jitter buffer for one incoming RTP stream, without I/O: packets are pushed as they arrive, and the
line's 20 ms clock pops one frame's payload per tick, in order.

How it behaves:

- A packet's slot is its sequence number, extended past the 16-bit wrap to the value nearest the highest
  seen so far. Timestamps are not used: silence suppression jumps them while the sequence goes on, and a
  quiet sender simply shows up as the buffer running dry.
- Playout starts once `depth_frames` packets are buffered, at the lowest buffered slot. That delay
  (60 ms by default) is what absorbs jitter and reordering: a packet may arrive that many ticks late.
- A slot that is missing while later ones are buffered plays as None (counted `lost`); the line conceals it.
- When nothing at all is buffered the buffer has run dry (`underruns`): pop returns None without moving on,
  and playout waits for `depth_frames` again, then resumes at the lowest buffered slot; the slots skipped
  over count as lost (the Nones of the dry spell already stood in for them in time).
- A packet for a slot already played (or given up as lost) is dropped: `duplicate` if that slot was
  played, `late` if not. A second copy of a buffered packet is a `duplicate`. A packet older than the
  newest one buffered, yet in time, is `reordered`.
- Latency is bounded twice: the newest packet is never more than `max_frames` slots ahead of playout (the
  oldest slots go first, counted `dropped`, or `lost` where empty); and while more than twice
  `depth_frames` are buffered (a burst after a stall, or a sender clock running fast), every
  `catch_up_every`-th tick skips one frame (`dropped`), until the delay is back near `depth_frames`.
- A packet from another SSRC, or more than `reset_frames` (3 s) away from the stream, is held back as a
  candidate, as RFC 3550 §A.1 does with its probation: when a packet continuing it (same SSRC, at most
  `depth_frames` further on) follows, the stream restarts from the two (`resets`) and playout waits for
  `depth_frames` again; a candidate nothing continues is dropped (`stray`).

Telephone-event packets share the audio's sequence numbers; a receiver that pushes only audio sees their
slots as lost, and concealment plays them as silence, which is what the caller heard over the keypad.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from appliance.rtp.packet import RtpPacket


class JitterBuffer:
    """Arriving RTP packets in any order → one payload (or None) per 20 ms tick, in sequence order."""

    def __init__(self, depth_frames: int = 3, max_frames: int = 50, reset_frames: int = 150,
                 catch_up_every: int = 10):
        self.depth_frames = max(1, depth_frames)
        self.max_frames = max(self.depth_frames, max_frames)
        self.reset_frames = reset_frames
        self.catch_up_every = catch_up_every
        self.stats = dict.fromkeys(
            ("received", "lost", "late", "duplicate", "reordered", "resets", "underruns", "dropped", "stray"), 0)
        self._ssrc: int | None = None
        self._candidate: RtpPacket | None = None
        self._highest = 0  # the newest slot buffered or played
        self._start(None)

    def _start(self, packet: RtpPacket | None) -> None:
        """Forget the stream; begin a new one at `packet` (which is then buffered)."""
        self._slots: dict[int, bytes] = {}
        self._played: deque[int] = deque(maxlen=self.max_frames)
        self._next: int | None = None  # the slot the next pop plays, once playout has begun
        self._playing = False
        self._crowded_ticks = 0
        if packet is not None:
            self._ssrc, self._highest = packet.ssrc, packet.sequence
            self._store(packet.sequence, packet.payload)

    @property
    def buffered(self) -> int:
        """How many frames are waiting to be played."""
        return len(self._slots)

    def push(self, packet: RtpPacket) -> None:
        """Take one arriving audio packet."""
        self.stats["received"] += 1
        if self._ssrc is None:
            self._start(packet)
            return
        delta = ((packet.sequence - self._highest + 0x8000) & 0xFFFF) - 0x8000
        if packet.ssrc != self._ssrc or abs(delta) > self.reset_frames:
            self._hold(packet)
            return
        position = self._highest + delta
        if self._next is not None and position < self._next:
            self.stats["duplicate" if position in self._played else "late"] += 1
        elif position in self._slots:
            self.stats["duplicate"] += 1
        else:
            if position < self._highest:
                self.stats["reordered"] += 1
            self._store(position, packet.payload)

    def _hold(self, packet: RtpPacket) -> None:
        """A packet that does not fit the stream: the start of a new one, once a second packet confirms it."""
        candidate = self._candidate
        if candidate and candidate.ssrc == packet.ssrc \
                and 0 < (packet.sequence - candidate.sequence) & 0xFFFF <= self.depth_frames:
            self._candidate = None
            self.stats["resets"] += 1
            self._start(candidate)
            self._highest = candidate.sequence + ((packet.sequence - candidate.sequence) & 0xFFFF)
            self._store(self._highest, packet.payload)
            return
        if candidate:
            self.stats["stray"] += 1
        self._candidate = packet

    def _store(self, position: int, payload: bytes) -> None:
        self._slots[position] = payload
        self._highest = max(self._highest, position)
        oldest = self._next if self._playing else min(self._slots)
        while self._highest - oldest + 1 > self.max_frames:
            self._skip(oldest)
            oldest = self._next if self._playing else min(self._slots)

    def _skip(self, position: int) -> None:
        """Give up the slot at `position` without playing it."""
        self.stats["dropped" if self._slots.pop(position, None) is not None else "lost"] += 1
        if self._playing:
            self._next = position + 1

    def pop(self) -> bytes | None:
        """The payload for this tick, or None: not started yet, run dry, or this slot's packet was lost."""
        if not self._playing:
            if len(self._slots) < self.depth_frames:
                return None
            first = min(self._slots)
            if self._next is not None:
                self.stats["lost"] += max(0, first - self._next)
            self._next, self._playing, self._crowded_ticks = first, True, 0
        if not self._slots:
            self.stats["underruns"] += 1
            self._playing = False
            return None
        assert self._next is not None
        self._crowded_ticks = self._crowded_ticks + 1 if len(self._slots) > 2 * self.depth_frames else 0
        if self.catch_up_every and self._crowded_ticks >= self.catch_up_every:
            self._crowded_ticks = 0
            self._skip(self._next)
        position = self._next
        self._next += 1
        payload = self._slots.pop(position, None)
        if payload is None:
            self.stats["lost"] += 1
        else:
            self._played.append(position)
        return payload


def conceal(previous_frame: np.ndarray, count: int) -> np.ndarray:
    """A stand-in for the `count`-th frame in a row that was lost (1 for the first) after `previous_frame`,
    the last frame that arrived: the first repeats it at half amplitude, later ones are silence.

    Good enough for speech on its way to STT: one repeated 20 ms frame bridges a single loss without a click,
    and silence after that never invents speech the caller did not say.
    """
    frame = np.asarray(previous_frame, dtype=np.int16)
    if count <= 1:
        return frame // 2
    return np.zeros_like(frame)
