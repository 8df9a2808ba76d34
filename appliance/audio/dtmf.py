"""In-band DTMF (ITU-T Q.23 tones): making the keypad's tones, and hearing them in line audio with Goertzel filters.

A caller can key a number instead of saying it. On an analog line or a modem's voice channel the digits
arrive only as tones in the audio, so they are detected here, frame by frame: a digit is one row tone
and one column tone, both well above everything else in the frame, held for at least 40 ms (Q.24).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

ROWS_HZ = (697, 770, 852, 941)
COLS_HZ = (1209, 1336, 1477, 1633)
KEYS = ("123A", "456B", "789C", "*0#D")
MIN_FRAMES = 2  # 40 ms at 20 ms frames
TWIST_DB = 8.0  # the two tones' levels may differ this much
MIN_SHARE = 0.6  # of the frame's energy in the two tones


def tones(digits: str, rate_hz: int = 8000, tone_ms: int = 100, gap_ms: int = 100, level: float = 0.3) -> np.ndarray:
    """The keypad tones for `digits` as int16 PCM, each tone followed by a gap."""
    out = []
    t = np.arange(int(rate_hz * tone_ms / 1000)) / rate_hz
    for digit in digits:
        row = next(i for i, keys in enumerate(KEYS) if digit.upper() in keys)
        col = KEYS[row].index(digit.upper())
        wave = np.sin(2 * np.pi * ROWS_HZ[row] * t) + np.sin(2 * np.pi * COLS_HZ[col] * t)
        out += [wave * level * 0.5 * 32767, np.zeros(int(rate_hz * gap_ms / 1000))]
    return np.concatenate(out).astype(np.int16) if out else np.zeros(0, np.int16)


@lru_cache(maxsize=8)
def _probes(length: int, rate_hz: int) -> np.ndarray:
    """One row per tone (rows then columns): the complex exponential a frame is projected on."""
    n = np.arange(length)
    return np.exp(-2j * np.pi * np.outer(ROWS_HZ + COLS_HZ, n) / rate_hz)


def _tone_powers(samples: np.ndarray, rate_hz: int) -> np.ndarray:
    """The power at each of the eight tones: what a Goertzel filter per tone gives, as one matrix product."""
    return np.abs(_probes(len(samples), rate_hz) @ samples) ** 2


def frame_digit(frame: np.ndarray, rate_hz: int = 8000) -> str | None:
    """The key whose two tones fill this frame, or None."""
    samples = frame.astype(np.float64)
    energy = float(np.dot(samples, samples))
    if energy < len(samples) * 100.0**2:  # quieter than about -50 dBFS: nothing
        return None
    powers = _tone_powers(samples, rate_hz)
    rows, cols = list(powers[:len(ROWS_HZ)]), list(powers[len(ROWS_HZ):])
    row, col = int(np.argmax(rows)), int(np.argmax(cols))
    # A pure tone of power P in N samples shows as N*P/2 in the Goertzel output, its energy as N*P/2: compare shares.
    share = 2 * (rows[row] + cols[col]) / (len(samples) * energy)
    twist_db = abs(10 * np.log10(max(rows[row], 1e-9) / max(cols[col], 1e-9)))
    others = sorted(rows)[-2] + sorted(cols)[-2]
    if share < MIN_SHARE or twist_db > TWIST_DB or others * 10 > rows[row] + cols[col]:
        return None
    return KEYS[row][col]


@dataclass(frozen=True)
class KeyPressed:
    """A key heard on the line, `at_ms` into the call's audio."""

    key: str
    at_ms: float


class DtmfDetector:
    """Feeds 20 ms frames; returns a key once when it has been held for 40 ms, and again only after a release."""

    def __init__(self, rate_hz: int = 8000):
        self.rate_hz = rate_hz
        self._candidate: str | None = None
        self._count = 0
        self._reported = False

    @property
    def active(self) -> bool:
        """Whether a tone is sounding now: its audio is not speech."""
        return self._candidate is not None

    def process(self, frame: np.ndarray) -> str | None:
        digit = frame_digit(frame, self.rate_hz)
        if digit != self._candidate:
            self._candidate, self._count, self._reported = digit, 0, False
        if digit is None:
            return None
        self._count += 1
        if self._count >= MIN_FRAMES and not self._reported:
            self._reported = True
            return digit
        return None
