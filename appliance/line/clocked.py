"""A live line's clock: one caller frame in and one reply frame out every 20 ms, on the monotonic clock.

A network line (SIP's RTP, Asterisk's AudioSocket) receives the caller's audio when the network delivers
it, in bursts and gaps. The call session wants what a wav:// line gives: one frame per tick. `ClockedLine`
is that seam. A transport fills `receive` from its socket; the clock takes one frame per tick (silence
when none came) and sends one frame of queued reply audio in the same tick, so both directions share
the call's audio timeline, as on every other line.

A source with a clock of its own (the modem's PCM port, Asterisk's AudioSocket) sends exactly as fast as the
line takes, so caller audio that piles up never drains by itself: a tick that found none (the frame came a
moment late) or a busy event loop would leave the call hearing the caller that much later for the rest of
the call. The clock leaves at most one frame waiting (CUSHION_FRAMES) and hands over any more in the same
tick, still one reply frame per tick: nothing is lost, and `position_ms` (the caller's timeline, which the
session counts) then runs ahead of the reply frames sent (`playback.frames_sent`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

import numpy as np

from appliance.audio import FRAME_MS
from appliance.line import FRAME_SAMPLES, Playback, PlaybackLine

CATCH_UP_MS = 200  # a clock this far behind (a busy event loop) skips ahead instead of sending a burst
MAX_QUEUED_FRAMES = 50  # a transport that runs ahead of the clock loses its oldest audio past 1 s
CUSHION_FRAMES = 1  # caller audio the clock leaves waiting: a frame that comes just after its tick is not late


class ClockedLine(PlaybackLine):
    """The clock and the playback of a live line; a transport implements `send_frame` and `close`."""

    def __init__(self, caller_id: str | None = None, keep: bool = False):
        self.caller_id = caller_id
        self.playback = Playback(keep)
        self.position_ms = 0.0
        self.hung_up_by: str | None = None  # "caller" or "appliance" once the call is over
        self.received: deque[np.ndarray] = deque(maxlen=MAX_QUEUED_FRAMES)
        self._keys: list[str] = []
        # Called when the session starts listening: SIP sends its 200 OK then, not while the call is being
        # prepared, so the caller's first words are not lost to a full buffer.
        self.on_answer = None

    # What a transport calls.

    def receive(self, frame: np.ndarray) -> None:
        """A frame of caller audio came in (any length; it is cut into 20 ms frames)."""
        frame = np.asarray(frame, dtype=np.int16)
        for offset in range(0, len(frame), FRAME_SAMPLES):
            self.received.append(frame[offset:offset + FRAME_SAMPLES])

    def next_caller_frame(self) -> np.ndarray | None:
        """The caller's frame for this tick, or None for none. A jitter buffer overrides this."""
        return self.received.popleft() if self.received else None

    def late_caller_frames(self) -> list[np.ndarray]:
        """Caller frames beyond the cushion, taken after this tick's frame: audio that came faster than the clock
        took it. A jitter buffer bounds its own delay (RTP's leaves `received` empty)."""
        late = []
        while len(self.received) > CUSHION_FRAMES:
            late.append(self.received.popleft())
        return late

    @property
    def waiting_ms(self) -> float:
        """Caller audio that has come in and waits for the clock: how far the call hears behind the caller."""
        return len(self.received) * FRAME_MS

    def key(self, digit: str) -> None:
        """The caller pressed a key, signalled out of band (RFC 4733, an AudioSocket DTMF frame)."""
        self._keys.append(digit)

    def remote_hangup(self) -> None:
        """The caller's side ended the call."""
        self.hung_up_by = self.hung_up_by or "caller"

    def send_frame(self, frame: np.ndarray) -> None:
        """Send one 20 ms frame of reply audio to the caller."""
        raise NotImplementedError

    async def close(self) -> None:
        """End the call on the transport (BYE, an AudioSocket hangup frame)."""

    # What the call session uses (the Line protocol).

    def take_keys(self) -> list[str]:
        """Keys pressed out of band since the last call."""
        keys, self._keys = self._keys, []
        return keys

    async def hangup(self) -> None:
        """The appliance ends the call."""
        if self.hung_up_by is None:
            self.hung_up_by = "appliance"
            await self.close()

    async def audio(self):
        """Caller frames, one per 20 ms tick (and any that came in late, at once), until either side hangs up."""
        if self.on_answer is not None:
            answer, self.on_answer = self.on_answer, None
            answer()
        start, ticks = time.monotonic(), 0
        while self.hung_up_by is None:
            caller = [self.next_caller_frame(), *self.late_caller_frames()]
            self.send_frame(self.playback.next_frame(self.position_ms))
            ticks += 1
            for frame in caller:
                self.position_ms += FRAME_MS
                yield whole_frame(frame)
                if self.hung_up_by is not None:
                    return
            late_s = time.monotonic() - (start + ticks * FRAME_MS / 1000)
            if late_s * 1000 > CATCH_UP_MS:
                start += late_s  # the far end's jitter buffer copes with a gap better than with a burst
                late_s = 0.0
            await asyncio.sleep(max(-late_s, 0))


def whole_frame(frame: np.ndarray | None) -> np.ndarray:
    """A caller frame of 20 ms: a short one padded with silence, none at all as silence."""
    if frame is not None and len(frame) == FRAME_SAMPLES:
        return frame
    padded = np.zeros(FRAME_SAMPLES, np.int16)
    if frame is not None:
        padded[:len(frame)] = frame
    return padded
