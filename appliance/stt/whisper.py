"""faster-whisper on the CPU, from a local CTranslate2 model folder only."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from appliance.audio.resample import resample, to_float
from appliance.errors import ApplianceError
from appliance.stt import Transcript

WHISPER_RATE_HZ = 16000
REQUIRED = ("model.bin", "config.json", "tokenizer.json")

# faster-whisper resolves model names on the Hugging Face hub; the appliance only ever passes a folder,
# and this makes any attempt to go online fail at once instead of hanging on a closed network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


class WhisperTranscriber:
    """A Whisper model loaded once (int8 on the CPU), warmed up so the first caller is not slow."""

    def __init__(self, model_dir: Path, language: str = "en", beam_size: int = 1, threads: int = 2,
                 initial_prompt: str | None = None):
        from faster_whisper import WhisperModel

        model_dir = Path(model_dir)
        missing = [name for name in REQUIRED if not (model_dir / name).is_file()]
        if missing:
            raise ApplianceError("stt-model-missing", f"{model_dir} lacks {', '.join(missing)}")
        try:
            self._model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads,
                                       local_files_only=True)
        except Exception as exc:  # CTranslate2 raises RuntimeError for a bad model, others for bad json
            raise ApplianceError("stt-model-invalid", f"{model_dir}: {exc}") from exc
        self.language = language
        self.beam_size = beam_size
        self.initial_prompt = initial_prompt
        self.transcribe(np.zeros(WHISPER_RATE_HZ // 2, dtype=np.int16), WHISPER_RATE_HZ)

    def transcribe(self, pcm: np.ndarray, rate_hz: int) -> Transcript:
        """The words in `pcm`; empty text for silence."""
        audio = to_float(resample(pcm, rate_hz, WHISPER_RATE_HZ))
        try:
            segments, info = self._model.transcribe(
                audio, language=self.language, beam_size=self.beam_size, vad_filter=False,
                condition_on_previous_text=False, without_timestamps=True, initial_prompt=self.initial_prompt)
            text = " ".join(segment.text.strip() for segment in segments if segment.no_speech_prob < 0.8)
        except Exception as exc:
            raise ApplianceError("stt-failed", str(exc)) from exc
        return Transcript(text.strip(), len(pcm) * 1000 / rate_hz, info.language)
