"""Piper voices through onnxruntime and the bundled espeak-ng, resampled to the line rate sentence by sentence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from appliance.audio import LINE_RATE_HZ
from appliance.audio.resample import resample
from appliance.errors import ApplianceError

# Other phonemizers fetch models from the network on first use (pinyin) or need packages we do not ship.
OFFLINE_PHONEME_TYPES = {"espeak", "text"}


class PiperSynthesizer:
    """A Piper voice, loaded and warmed up once; speaks int16 audio at `out_rate_hz`, one sentence at a time."""

    def __init__(self, model_path: Path, length_scale: float = 1.0, out_rate_hz: int = LINE_RATE_HZ):
        from piper import PiperVoice, SynthesisConfig

        model_path = Path(model_path)
        config_path = model_path.with_name(model_path.name + ".json")
        for path in (model_path, config_path):
            if not path.is_file():
                raise ApplianceError("tts-model-missing", f"{path} does not exist")
        if length_scale <= 0:
            raise ApplianceError("tts-length-scale-invalid", f"length_scale must be above 0, not {length_scale}")
        try:
            phoneme_type = json.loads(config_path.read_text(encoding="utf-8")).get("phoneme_type", "espeak")
        except (ValueError, AttributeError) as exc:
            raise ApplianceError("tts-model-invalid", f"{config_path} is not a Piper voice config: {exc}") from exc
        if phoneme_type not in OFFLINE_PHONEME_TYPES:
            raise ApplianceError("tts-model-unsupported",
                                 f"{model_path} uses {phoneme_type!r} phonemes, which Piper would download "
                                 f"or install more for; use a voice with espeak phonemes")
        self._config = SynthesisConfig(length_scale=length_scale)
        self._out_rate_hz = out_rate_hz
        try:
            self._voice = PiperVoice.load(model_path, config_path=config_path)
            for _ in self._voice.synthesize("Hello.", self._config):  # warm-up: onnxruntime and espeak-ng start
                pass
        except Exception as exc:  # onnxruntime, json and piper raise their own types for a bad voice
            raise ApplianceError("tts-model-invalid", f"{model_path} would not load as a Piper voice: {exc}") from exc
        self.voice_rate_hz: int = self._voice.config.sample_rate

    @property
    def sample_rate_hz(self) -> int:
        """The rate of the audio this synthesizer yields."""
        return self._out_rate_hz

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        """Speak `text`: Piper cuts it into sentences and each one is yielded as soon as it is ready."""
        if not any(char.isalnum() for char in text):  # nothing to say: "", "-", "..."
            return
        try:
            for chunk in self._voice.synthesize(text, self._config):
                yield resample(chunk.audio_int16_array, chunk.sample_rate, self._out_rate_hz)
        except Exception as exc:  # a failure inside onnxruntime or espeak-ng
            raise ApplianceError("tts-synthesis-failed", f"Piper could not speak {text[:60]!r}: {exc}") from exc

    def stream(self, sentences: Iterable[str]) -> Iterator[np.ndarray]:
        """Speak sentences as they arrive (say from a SentenceSplitter over the reply model's tokens)."""
        for sentence in sentences:
            yield from self.synthesize(sentence)
