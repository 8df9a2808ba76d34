"""A voicemail's beep in line audio: one steady tone of 400-2000 Hz lasting 0.2-1.5 s, heard with Goertzel filters.

A voicemail system starts recording at its beep, so a callback that reached one speaks right after it. Each
20 ms frame is scanned by a bank of Goertzel filters, 25 Hz apart: a frame is a tone when one filter holds most
of its energy (speech spreads its energy over many harmonics and formants, so it never does for long). Frames of
the same tone make a run; a run of the right length that no other tone follows at once is a beep, reported
100 ms after it ends. Tones in a sequence (the three rising tones before "the number you have dialled is not in
service") are not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCAN_HZ = np.arange(400.0, 2000.1, 25.0)  # 25 Hz apart: a tone between two filters still shows ~80 % in one
MIN_SHARE = 0.7  # of the frame's energy at one frequency: a tone
MIN_LEVEL = 200.0  # RMS of a frame worth looking at (about -44 dBFS); quieter is silence or line noise
SAME_TONE_HZ = 50.0  # a run's frames stay this close to its first frame's frequency
MIN_BEEP_MS = 200.0
MAX_BEEP_MS = 2000.0  # typical beeps last up to 1.5 s; longer is a dial tone, a fax, a test tone
SEQUENCE_GAP_MS = 100.0  # a tone this soon after another belongs to a sequence with it; a beep stands alone


def goertzel_powers(samples: np.ndarray, freqs_hz: np.ndarray, rate_hz: int) -> np.ndarray:
    """The power of `samples` at each frequency: Goertzel's second-order recursion, run for every frequency at
    once (one vector step per sample), then its usual power term. A pure tone of amplitude A at one of the
    frequencies shows as (A·N/2)² over N samples."""
    coeff = 2.0 * np.cos(2.0 * np.pi * np.asarray(freqs_hz, np.float64) / rate_hz)
    s1 = np.zeros(len(coeff))
    s2 = np.zeros(len(coeff))
    for sample in np.asarray(samples, np.float64):
        s1, s2 = sample + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


def frame_tone(frame: np.ndarray, rate_hz: int = 8000) -> float | None:
    """The frequency of the single tone that fills this frame, or None (silence, speech, noise, two tones)."""
    samples = np.asarray(frame, np.float64)
    energy = float(np.dot(samples, samples))
    if not len(samples) or energy < len(samples) * MIN_LEVEL**2:
        return None
    powers = goertzel_powers(samples, SCAN_HZ, rate_hz)
    best = int(np.argmax(powers))
    # A pure tone's energy is A²·N/2 and its Goertzel power (A·N/2)²: their ratio, scaled, is its share (1 at most).
    share = 2.0 * powers[best] / (len(samples) * energy)
    return float(SCAN_HZ[best]) if share >= MIN_SHARE else None


@dataclass(frozen=True)
class Beep:
    """A beep was heard from `start_ms` to `end_ms` of the call's audio, at about `hz`."""

    start_ms: float
    end_ms: float
    hz: float


class BeepDetector:
    """Feed the call's frames in order; a `Beep` comes back once its tone has ended and no other tone followed."""

    def __init__(self, rate_hz: int = 8000):
        self.rate_hz = rate_hz
        self.position_ms = 0.0
        self._hz: float | None = None  # the tone of the run in progress; None: no run
        self._start_ms = 0.0
        self._last_end_ms: float | None = None  # where the last run ended
        self._in_sequence = False  # the run in progress began right after another: part of a sequence of tones
        self._pending: Beep | None = None  # a run of a beep's length, reported if no tone follows it at once

    def process(self, frame: np.ndarray) -> list[Beep]:
        """The beep that this frame showed to be one, if any."""
        start, self.position_ms = self.position_ms, self.position_ms + len(frame) * 1000 / self.rate_hz
        hz = frame_tone(frame, self.rate_hz)
        if hz is not None and self._hz is not None and abs(hz - self._hz) <= SAME_TONE_HZ:
            return []  # the run goes on
        if self._hz is not None:  # the run ended where this frame starts
            if not self._in_sequence and MIN_BEEP_MS <= start - self._start_ms <= MAX_BEEP_MS:
                self._pending = Beep(self._start_ms, start, self._hz)
            self._hz, self._last_end_ms = None, start
        if hz is not None:  # another tone begins
            self._in_sequence = self._last_end_ms is not None and start - self._last_end_ms <= SEQUENCE_GAP_MS
            if self._in_sequence:
                self._pending = None
            self._hz, self._start_ms = hz, start
            return []
        if self._pending is not None and self.position_ms - self._pending.end_ms >= SEQUENCE_GAP_MS:
            beep, self._pending = self._pending, None
            return [beep]
        return []
