"""Phone lines: caller audio in and reply audio out, 20 ms frames of 8 kHz int16, one clock for both ways.

A line is full duplex: every 20 ms it delivers one frame of the caller and sends one frame of what the
appliance queued with `play` (or silence). Both directions share that tick, so positions on the call's
audio timeline mean the same thing for the caller and for the appliance.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from typing import AsyncIterator, Protocol

import numpy as np

from appliance.audio import FRAME_MS, LINE_RATE_HZ

FRAME_SAMPLES = LINE_RATE_HZ * FRAME_MS // 1000
VOICED_RMS = 300  # a frame louder than this carries speech, not Piper's lead-in silence
REWIND_MS = 400  # a reply held mid-word goes on from the quiet before that word, from at most this far back


def voiced(frame: np.ndarray) -> bool:
    """Whether a frame is louder than silence and line noise."""
    return len(frame) > 0 and float(np.sqrt(np.mean(frame.astype(np.float64) ** 2))) > VOICED_RMS


async def within(awaitable, timeout_s: float) -> bool:
    """Wait up to `timeout_s` for `awaitable` (an event's wait, a future); whether it came. Unlike asyncio.wait_for on
    Python 3.11, a cancellation that arrives as it comes is never lost (the task would live on after close)."""
    waiting = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({waiting}, timeout=timeout_s)
    finally:
        if not waiting.done():
            waiting.cancel()
    return bool(done)


class Line(Protocol):
    """One call's line: the seam every transport (SIP, AudioSocket, modem, sound card, WAV) implements."""

    caller_id: str | None

    def audio(self) -> AsyncIterator[np.ndarray]: ...

    def play(self, pcm: np.ndarray, filler: bool = False, more: bool = False) -> None: ...

    def stop_playback(self) -> int: ...

    def pause_playback(self) -> None: ...

    def resume_playback(self) -> None: ...

    @property
    def playing(self) -> bool: ...

    async def hangup(self) -> None: ...


class Playback:
    """The outgoing side of a line: queued reply audio, taken one frame per tick, with what was sent when."""

    def __init__(self, keep: bool = False):
        self._queue: list[tuple[np.ndarray, bool]] = []
        self._pending = np.zeros(0, dtype=np.int16)
        self._pending_filler = np.zeros(0, dtype=bool)  # which pending samples are a holding phrase
        self.sent_voiced_at: list[float] = []  # audio positions (ms) of the voiced frames sent
        self.sent_answer_at: list[float] = []  # ...of those, the frames that were not a holding phrase
        self.keep = keep
        self.sent: list[np.ndarray] = []  # every frame sent, when `keep` (a recording of the appliance's side)
        self.more_coming = False  # the appliance said more is coming ("One moment.", or half an answer)
        self.on_sent = None  # on_sent(frame): told of every frame as it is sent (a call's recording listens here)
        self.paused = False  # silence is sent instead of the queue, which is kept
        self._recent: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=REWIND_MS // FRAME_MS)  # (audio, filler)
        self.frames_sent = 0  # every frame sent, silence included

    def play(self, pcm: np.ndarray, filler: bool = False, more: bool = False) -> None:
        """Queue audio to be sent after what is already queued. `filler` marks a holding phrase ("One moment."),
        `more` says the appliance is not done: the answer is still coming. A call with no audio just says so."""
        if len(pcm):
            self._queue.append((np.asarray(pcm, dtype=np.int16), filler))
        self.more_coming = more

    def stop(self) -> int:
        """Drop everything not yet sent (barge-in); return how many samples were dropped."""
        dropped = self.queued_samples
        self._queue.clear()
        self._pending = np.zeros(0, dtype=np.int16)
        self._pending_filler = np.zeros(0, dtype=bool)
        self.more_coming = False
        self.paused = False
        self._recent.clear()
        return dropped

    def pause(self) -> None:
        """Send silence instead of the queued audio, and keep it: the caller's voice over it may be only "mm-hm"."""
        self.paused = True

    def resume(self) -> None:
        """Go on with the held audio, from the quiet before the word it was held in, so no word is left half said."""
        if not self.paused:
            return
        self.paused = False
        sent = list(self._recent)
        quiet = [number for number, (frame, _) in enumerate(sent) if not voiced(frame)]
        again = sent[quiet[-1] + 1:] if quiet else sent
        self._pending = np.concatenate([frame for frame, _ in again] + [self._pending])
        self._pending_filler = np.concatenate([filler for _, filler in again] + [self._pending_filler])
        self._recent.clear()

    @property
    def playing(self) -> bool:
        """Whether reply audio is still waiting to be sent."""
        return bool(len(self._pending) or self._queue)

    @property
    def queued_samples(self) -> int:
        """How much audio is waiting to be sent."""
        return len(self._pending) + sum(len(chunk) for chunk, _ in self._queue)

    def next_frame(self, position_ms: float) -> np.ndarray:
        """The frame to send at `position_ms`: queued audio, padded with silence (only silence while paused)."""
        self.frames_sent += 1
        if self.paused:
            frame, filler = np.zeros(0, dtype=np.int16), np.zeros(0, dtype=bool)
        else:
            while len(self._pending) < FRAME_SAMPLES and self._queue:
                chunk, filler = self._queue.pop(0)
                self._pending = np.concatenate([self._pending, chunk])
                self._pending_filler = np.concatenate([self._pending_filler, np.full(len(chunk), filler)])
            frame, self._pending = self._pending[:FRAME_SAMPLES], self._pending[FRAME_SAMPLES:]
            filler, self._pending_filler = self._pending_filler[:FRAME_SAMPLES], self._pending_filler[FRAME_SAMPLES:]
            self._recent.append((frame, filler))
        if voiced(frame):
            self.sent_voiced_at.append(position_ms)
            if not filler.all():
                self.sent_answer_at.append(position_ms)
        if len(frame) < FRAME_SAMPLES:
            frame = np.concatenate([frame, np.zeros(FRAME_SAMPLES - len(frame), dtype=np.int16)])
        if self.keep:
            self.sent.append(frame)
        if self.on_sent is not None:
            self.on_sent(frame)
        return frame


class PlaybackLine:
    """What every line does with the reply audio: queue it on its `playback`, drop it, say if it still plays."""

    playback: Playback

    def play(self, pcm: np.ndarray, filler: bool = False, more: bool = False) -> None:
        """Queue reply audio (see Playback.play)."""
        self.playback.play(pcm, filler, more)

    def stop_playback(self) -> int:
        """Drop the queued reply (barge-in)."""
        return self.playback.stop()

    def pause_playback(self) -> None:
        """Hold the queued reply silent (see Playback.pause)."""
        self.playback.pause()

    def resume_playback(self) -> None:
        """Go on with the held reply (see Playback.resume)."""
        self.playback.resume()

    @property
    def playing(self) -> bool:
        """Whether reply audio is still queued."""
        return self.playback.playing


def serve_holds(health: dict | None) -> bool:
    """Whether the `appliance serve` that wrote a line's health file (its "pid") still runs, and so holds the line's
    device: a technician's check script then leaves it alone."""
    if not health or not isinstance(health.get("pid"), int):
        return False
    try:
        os.kill(health["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it runs
    return True


def open_line(uri: str, caller_id: str | None = None):
    """A line from its URI. `wav://PATH` plays a recorded caller into one call and keeps the reply."""
    scheme, _, rest = uri.partition("://")
    if scheme == "wav":
        from appliance.line.wav import WavLine

        return WavLine.from_file(rest, caller_id=caller_id)
    raise ValueError(f"unknown line {uri!r}: known schemes are wav://")
