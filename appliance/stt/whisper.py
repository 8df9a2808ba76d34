"""faster-whisper on the CPU, from a local CTranslate2 model folder only."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from appliance.audio.resample import resample, to_float
from appliance.errors import ApplianceError
from appliance.stt import Transcript

WHISPER_RATE_HZ = 16000
REQUIRED = ("model.bin", "config.json", "tokenizer.json")
# A segment Whisper itself thinks is this likely to be no speech is a hallucination on line noise.
NO_SPEECH_MAX = 0.8
# Greedy first; on a garbled decode retry warmer, but only twice, so one bad turn cannot cost seconds.
TEMPERATURES = (0.0, 0.2, 0.4)
# Whisper garbles a first word that starts right at the start of the audio ("Sorry, ..." as "R.I.W.E."); half
# a second of silence in front costs nothing, since the encoder always takes a 30-second window.
LEAD_S = 0.5

# faster-whisper resolves model names on the Hugging Face hub; the appliance only ever passes a folder,
# and this makes any attempt to go online fail at once instead of hanging on a closed network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


class WhisperTranscriber:
    """A Whisper model loaded once (int8 on the CPU), warmed up so the first caller is not slow."""

    def __init__(self, model_dir: Path, language: str | None = "en", beam_size: int = 1, threads: int = 2,
                 initial_prompt: str | None = None):
        model_dir = Path(model_dir)
        missing = [name for name in REQUIRED if not (model_dir / name).is_file()]
        if missing:
            raise ApplianceError("stt-model-missing", f"{model_dir} lacks {', '.join(missing)}: "
                                 "run `appliance models install` (nothing is downloaded at run time)")
        from faster_whisper import WhisperModel

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
        audio = np.concatenate([np.zeros(int(LEAD_S * WHISPER_RATE_HZ), np.float32),
                                to_float(resample(pcm, rate_hz, WHISPER_RATE_HZ))])
        try:
            segments, info = self._model.transcribe(
                audio, language=self.language, beam_size=self.beam_size, temperature=TEMPERATURES,
                vad_filter=False, condition_on_previous_text=False, without_timestamps=True,
                initial_prompt=self.initial_prompt)
            kept = [segment for segment in segments if segment.no_speech_prob < NO_SPEECH_MAX]
        except Exception as exc:
            raise ApplianceError("stt-failed", f"Whisper could not transcribe {len(pcm)} samples: {exc}") from exc
        text = " ".join(segment.text.strip() for segment in kept).strip()
        confidence = math.exp(sum(s.avg_logprob for s in kept) / len(kept)) if text else None
        return Transcript(text, len(pcm) * 1000 / rate_hz, info.language, confidence)
