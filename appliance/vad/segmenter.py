"""End of turn as a pure state machine over audio durations: QUIET → STARTING → SPEAKING → STOPPING.

It counts milliseconds of audio, never a clock, so it is tested without an event loop. Hysteresis: a
frame starts speech at `threshold`, but once speaking, frames at `threshold - 0.15` (never below half the
threshold) still count as speech, so a soft syllable does not start the silence timer.

Silence is its only rule. Whoever knows better (an end-of-turn model that heard the caller finish, or heard
them stop mid-number) says so through `end_turn()` and `end_after()`, so the segmenter stays a pure state
machine over audio durations.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

HYSTERESIS = 0.15


@dataclass(frozen=True)
class VoiceStarted:
    """The caller began speaking at `at_ms` of the audio."""

    at_ms: float


@dataclass(frozen=True)
class VoiceStopped:
    """The caller's turn ended: the last voiced audio ended at `at_ms`, after `speech_ms` of turn. `ended_by`:
    `silence`, or `model` (`end_turn()` was called in the pause)."""

    at_ms: float
    speech_ms: float
    ended_by: str = "silence"


class State(Enum):
    """Where the segmenter is: no speech, maybe speech, in a turn, or in a pause that may end the turn."""

    QUIET = "quiet"
    STARTING = "starting"
    SPEAKING = "speaking"
    STOPPING = "stopping"


class VadSegmenter:
    """Feed (duration, speech probability) per window; get VoiceStarted and VoiceStopped events."""

    def __init__(self, threshold: float = 0.5, start_ms: float = 60, end_silence_ms: float = 700):
        self.threshold = threshold
        self.stay_threshold = max(threshold - HYSTERESIS, threshold / 2)
        self.start_ms = start_ms
        self.end_silence_ms = end_silence_ms
        self.state = State.QUIET
        self.position_ms = 0.0
        self._voiced_since = 0.0
        self._voiced_ms = 0.0
        self._last_voiced_end = 0.0
        self._pause_end_ms: float | None = None  # this pause's silence rule, from end_after(); None: end_silence_ms

    @property
    def pause_ms(self) -> float:
        """How long the caller has been silent in the middle of a turn (0 unless STOPPING)."""
        return self.position_ms - self._last_voiced_end if self.state is State.STOPPING else 0.0

    def end_after(self, silence_ms: float | None) -> None:
        """Let the pause the caller is in end the turn after `silence_ms` of silence instead of `end_silence_ms`
        (None: back to `end_silence_ms`). It holds for this pause only: voice again forgets it."""
        if self.state is State.STOPPING:
            self._pause_end_ms = silence_ms

    def end_turn(self) -> list:
        """End the turn now if the caller is pausing in it: the VoiceStopped the silence would give later, or
        nothing while they speak or outside a turn."""
        if self.state is not State.STOPPING:
            return []
        return [self._stop("model")]

    def _stop(self, ended_by: str) -> VoiceStopped:
        self.state, self._pause_end_ms = State.QUIET, None
        return VoiceStopped(self._last_voiced_end, self._last_voiced_end - self._voiced_since, ended_by)

    def process(self, duration_ms: float, confidence: float) -> list:
        """Advance by one window of `duration_ms` whose speech probability is `confidence`."""
        start, self.position_ms = self.position_ms, self.position_ms + duration_ms
        speaking = self.state in (State.SPEAKING, State.STOPPING)
        voiced = confidence >= (self.stay_threshold if speaking else self.threshold)
        if self.state is State.QUIET:
            if voiced:
                self.state, self._voiced_since, self._voiced_ms = State.STARTING, start, 0.0
        if self.state is State.STARTING:
            if not voiced:
                self.state = State.QUIET
                return []
            self._voiced_ms += duration_ms
            self._last_voiced_end = self.position_ms
            if self._voiced_ms >= self.start_ms:
                self.state = State.SPEAKING
                return [VoiceStarted(self._voiced_since)]
            return []
        if voiced:
            self.state, self._pause_end_ms = State.SPEAKING, None
            self._last_voiced_end = self.position_ms
            return []
        if self.state is State.SPEAKING:
            self.state = State.STOPPING
        end_ms = self.end_silence_ms if self._pause_end_ms is None else self._pause_end_ms
        if self.state is State.STOPPING and self.position_ms - self._last_voiced_end >= end_ms:
            return [self._stop("silence")]
        return []
