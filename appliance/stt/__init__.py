"""Speech to text: one caller turn of line audio in, its words out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Transcript:
    """What the caller said in one turn; `confidence` is the engine's mean word or token probability."""

    text: str
    audio_ms: float
    language: str | None = None
    confidence: float | None = None


class Transcriber(Protocol):
    """Turns int16 audio at `rate_hz` into a Transcript."""

    def transcribe(self, pcm: np.ndarray, rate_hz: int) -> Transcript:
        """The words in `pcm`; empty text when nobody spoke."""
        ...
