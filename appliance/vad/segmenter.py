"""End of turn as a pure state machine over audio durations: QUIET → STARTING → SPEAKING → STOPPING.

It counts milliseconds of audio, never a clock, so it is tested without an event loop. Hysteresis: a
frame starts speech at `threshold`, but once speaking, frames at `threshold - 0.15` (never below half the
threshold) still count as speech, so a soft syllable does not start the silence timer.
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
    """The caller's turn ended: the last voiced audio ended at `at_ms`, after `speech_ms` of turn."""

    at_ms: float
    speech_ms: float


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

    @property
    def pause_ms(self) -> float:
        """How long the caller has been silent in the middle of a turn (0 unless STOPPING)."""
        return self.position_ms - self._last_voiced_end if self.state is State.STOPPING else 0.0

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
            self.state = State.SPEAKING
            self._last_voiced_end = self.position_ms
            return []
        if self.state is State.SPEAKING:
            self.state = State.STOPPING
        if self.state is State.STOPPING and self.position_ms - self._last_voiced_end >= self.end_silence_ms:
            self.state = State.QUIET
            return [VoiceStopped(self._last_voiced_end, self._last_voiced_end - self._voiced_since)]
        return []
