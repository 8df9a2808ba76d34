"""Sample-rate conversion between the line (8 kHz), the models (16 kHz) and Piper (22.05 kHz)."""

from __future__ import annotations

import numpy as np
import soxr


def resample(pcm: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """A whole int16 signal at another rate."""
    pcm = np.asarray(pcm, dtype=np.int16)
    if from_hz == to_hz or pcm.size == 0:
        return pcm.copy()
    return soxr.resample(pcm, from_hz, to_hz, quality="HQ")


class StreamResampler:
    """Resamples a stream chunk by chunk with no clicks at chunk edges; `flush` returns the tail. soxr's `quality`
    sets the delay too: HQ holds back about 100 ms, LQ 15 to 25 ms (enough for telephone speech)."""

    def __init__(self, from_hz: int, to_hz: int, quality: str = "HQ"):
        self.from_hz, self.to_hz = from_hz, to_hz
        self._stream = None if from_hz == to_hz else soxr.ResampleStream(from_hz, to_hz, 1, dtype="int16",
                                                                         quality=quality)

    def push(self, pcm: np.ndarray) -> np.ndarray:
        """Resample the next chunk; output may lag the input by the filter's delay."""
        pcm = np.asarray(pcm, dtype=np.int16)
        if self._stream is None:
            return pcm.copy()
        return self._stream.resample_chunk(pcm, last=False)

    def flush(self) -> np.ndarray:
        """What the filter still holds, once the stream has ended."""
        if self._stream is None:
            return np.zeros(0, dtype=np.int16)
        return self._stream.resample_chunk(np.zeros(0, dtype=np.int16), last=True)


def to_float(pcm: np.ndarray) -> np.ndarray:
    """int16 samples to float32 in [-1, 1), as the speech models take them."""
    return np.asarray(pcm, dtype=np.int16).astype(np.float32) / 32768.0
