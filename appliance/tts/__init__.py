"""Text to speech: reply text cut into sentences, each spoken as 8 kHz telephone audio as soon as it is ready."""

from __future__ import annotations

from typing import Iterable, Iterator, Protocol

import numpy as np


class Synthesizer(Protocol):
    """Speaks text as int16 mono chunks at `sample_rate_hz`, yielding each chunk as soon as it is ready."""

    @property
    def sample_rate_hz(self) -> int:
        """The rate of the audio it yields."""

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        """Speak one piece of text."""

    def stream(self, sentences: Iterable[str]) -> Iterator[np.ndarray]:
        """Speak sentences one after another as they arrive."""
