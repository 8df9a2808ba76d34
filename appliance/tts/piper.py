"""Piper voices through onnxruntime, resampled to the line rate, one sentence at a time."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from appliance.audio import LINE_RATE_HZ
from appliance.audio.resample import resample
from appliance.errors import ApplianceError

log = logging.getLogger(__name__)


class PiperSynthesizer:
    """A Piper voice loaded once; yields int16 audio at `out_rate_hz` sentence by sentence."""

    def __init__(self, model_path: Path, length_scale: float = 1.0, out_rate_hz: int = LINE_RATE_HZ):
        from piper import PiperVoice, SynthesisConfig

        model_path = Path(model_path)
        config_path = model_path.with_name(model_path.name + ".json")
        for path in (model_path, config_path):
            if not path.is_file():
                raise ApplianceError("tts-model-missing", f"{path} does not exist")
        try:
            self._voice = PiperVoice.load(model_path, config_path=config_path)
        except Exception as exc:  # onnxruntime and json raise their own types for a bad file
            raise ApplianceError("tts-model-invalid", f"{model_path}: {exc}") from exc
        self._config = SynthesisConfig(length_scale=length_scale)
        self.voice_rate_hz = self._voice.config.sample_rate
        self.sample_rate_hz = out_rate_hz
        for _ in self.synthesize("Hello."):  # warm-up: the first run allocates onnxruntime's buffers
            pass

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        """Speak `text`; Piper splits it into sentences and each one is yielded as soon as it is ready."""
        if not text.strip():
            return
        try:
            for chunk in self._voice.synthesize(text, self._config):
                yield resample(chunk.audio_int16_array, chunk.sample_rate, self.sample_rate_hz)
        except Exception as exc:
            raise ApplianceError("tts-synthesis-failed", f"{text[:60]!r}: {exc}") from exc

    def stream(self, sentences: Iterable[str]) -> Iterator[np.ndarray]:
        """Speak sentences as they arrive (from the reply model's stream), without waiting for the rest."""
        for sentence in sentences:
            yield from self.synthesize(sentence)
