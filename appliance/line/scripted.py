"""A scripted caller on a simulated line, in real time: speaks, waits for the reply, barges in, hangs up.

It is the twin of a real line for `appliance simulate` and the tests: the appliance cannot tell it from
a caller, because the caller's audio arrives frame by frame at 20 ms a frame and the reply leaves the
same way. It keeps a log of where each step began and ended on the call's audio timeline.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np

from appliance.audio import FRAME_MS
from appliance.line import FRAME_SAMPLES, Playback, PlaybackLine, voiced


@dataclass
class Step:
    """One thing the caller does: speak `pcm` (None: stay silent for `silence_ms`), maybe as a barge-in."""

    pcm: np.ndarray | None = None
    silence_ms: float = 0.0
    voice: np.ndarray | None = None  # `pcm` before line noise was added: where the caller's voice really is
    barge_in_after_ms: float | None = None
    hangup: bool = False
    started_ms: float | None = None
    speech_start_ms: float | None = None
    speech_end_ms: float | None = None
    ended_ms: float | None = None


@dataclass
class ScriptedLine(PlaybackLine):
    """Plays `steps` as the caller; each spoken step waits for the appliance to answer before the next."""

    steps: list[Step]
    caller_id: str | None = None
    realtime: bool = True
    reply_gap_ms: float = 1500  # the reply is over once the appliance has been quiet this long
    reply_timeout_ms: float = 25000  # a caller gives up waiting for an answer after this long
    hold_timeout_ms: float = 30000  # ...and this long, once told more is coming ("One moment.", half an answer)
    position_ms: float = 0.0
    hung_up_by: str | None = None
    playback: Playback = field(default_factory=Playback)

    async def hangup(self) -> None:
        """The appliance hangs up."""
        self.hung_up_by = self.hung_up_by or "appliance"

    def _first_voiced_since(self, since_ms: float) -> float | None:
        return next((at for at in self.playback.sent_voiced_at if at >= since_ms), None)

    def _quiet_for_ms(self) -> float:
        last = self.playback.sent_voiced_at[-1] if self.playback.sent_voiced_at else 0.0
        return self.position_ms - last

    async def audio(self):
        """Caller frames, one per 20 ms tick, until a hangup on either side or the script ends."""
        start = time.monotonic()
        previous_start = 0.0
        for number, step in enumerate(self.steps):
            if self.hung_up_by:
                break
            step.started_ms = self.position_ms
            if step.hangup:
                self.hung_up_by = "caller"
                step.ended_ms = self.position_ms
                break
            if step.barge_in_after_ms is not None:
                # Cut into the reply in progress (or the next one) `barge_in_after_ms` after it began.
                while (reply_start := self._first_voiced_since(previous_start)) is None:
                    if self.position_ms - step.started_ms >= self.reply_timeout_ms:
                        break
                    yield await self._tick(None, start)
                cut_in = (reply_start if reply_start is not None else self.position_ms) + step.barge_in_after_ms
                while self.position_ms < cut_in:
                    yield await self._tick(None, start)
            previous_start = self.position_ms
            speech = step.pcm if step.pcm is not None else np.zeros(0, np.int16)
            step.speech_start_ms = self.position_ms
            for offset in range(0, len(speech), FRAME_SAMPLES):
                yield await self._tick(speech[offset:offset + FRAME_SAMPLES], start)
            step.speech_end_ms = self.position_ms
            silent_until = self.position_ms + step.silence_ms
            while self.position_ms < silent_until and not self.hung_up_by:
                yield await self._tick(None, start)
            following = self.steps[number + 1] if number + 1 < len(self.steps) else None
            if following is not None and following.barge_in_after_ms is not None:
                step.ended_ms = self.position_ms  # the next step cuts into this step's reply
                continue
            # Wait for the answer: some reply audio after the caller stopped, then a quiet gap. Like a person,
            # a caller who was asked to hold, or has heard half an answer, keeps waiting for the rest.
            heard_since = step.speech_end_ms if step.pcm is not None else step.started_ms
            while not self.hung_up_by:
                answered = self._first_voiced_since(heard_since) is not None
                quiet_ms = self._quiet_for_ms()
                if answered and not self.playing and quiet_ms >= self.reply_gap_ms and (
                        not self.playback.more_coming or quiet_ms >= self.hold_timeout_ms):
                    break
                if not answered and not self.playing and self.position_ms - step.speech_end_ms >= (
                        self.reply_timeout_ms if step.pcm is not None else 0):
                    break
                yield await self._tick(None, start)
            step.ended_ms = self.position_ms
        self.hung_up_by = self.hung_up_by or "caller"

    async def _tick(self, caller: np.ndarray | None, start: float) -> np.ndarray:
        frame = np.zeros(FRAME_SAMPLES, np.int16)
        if caller is not None and len(caller):
            frame[:len(caller)] = caller
        self.playback.next_frame(self.position_ms)
        self.position_ms += FRAME_MS
        if self.realtime:
            delay = start + self.position_ms / 1000 - time.monotonic()
            await asyncio.sleep(max(delay, 0))
        else:
            await asyncio.sleep(0)
        return frame


def caller_voiced_end_ms(step: Step) -> float | None:
    """Where the caller's last voiced frame of a spoken step ended, on the call's timeline."""
    if step.pcm is None or step.started_ms is None:
        return None
    voice = step.pcm if step.voice is None else step.voice
    frames = [i for i in range(0, len(voice), FRAME_SAMPLES) if voiced(voice[i:i + FRAME_SAMPLES])]
    if not frames:
        return None
    return step.speech_start_ms + (frames[-1] + FRAME_SAMPLES) * 1000 / 8000
