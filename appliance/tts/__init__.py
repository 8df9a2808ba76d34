"""Text to speech: sentences in, 8 kHz telephone audio out, as soon as each sentence is ready."""

from __future__ import annotations

from typing import Iterable, Iterator, Protocol

import numpy as np


class Synthesizer(Protocol):
    """Speaks text as int16 chunks at `sample_rate_hz`."""

    sample_rate_hz: int

    def synthesize(self, text: str) -> Iterator[np.ndarray]: ...

    def stream(self, sentences: Iterable[str]) -> Iterator[np.ndarray]: ...
