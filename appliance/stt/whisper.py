"""faster-whisper on the CPU, from a local CTranslate2 model folder only."""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import ctranslate2
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
# a second of silence in front of it costs 50 encoder frames.
LEAD_S = 0.5
# The encoder's cost grows with its window: on a 2-core AVX2 box 30 s take 1.2 s, 10 s take 0.15 s. A turn is
# encoded with this much silence after it instead of the full 30 s; with less than about 6 s of silence to
# see, Whisper base loses track of where speech ends and repeats itself (measured on 120 caller lines).
TRAILING_FRAMES = 600  # 100 mel frames a second
# A decode that still came out repetitive, or that needed a warmer retry, is done again on the full window.
REPETITIVE = 2.4  # gzip compression ratio of the text, as Whisper itself uses

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
        try:
            self._model = _windowed_whisper(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads,
                                       local_files_only=True)
        except Exception as exc:  # CTranslate2 raises RuntimeError for a bad model, others for bad json
            raise ApplianceError("stt-model-invalid", f"{model_dir}: {exc}") from exc
        self.language = language
        self.beam_size = beam_size
        self.initial_prompt = initial_prompt
        self._lock = threading.Lock()  # one decode at a time: the window setting and CTranslate2's threads
        self.transcribe(np.zeros(WHISPER_RATE_HZ // 2, dtype=np.int16), WHISPER_RATE_HZ)

    def transcribe(self, pcm: np.ndarray, rate_hz: int) -> Transcript:
        """The words in `pcm`; empty text for silence."""
        audio = np.concatenate([np.zeros(int(LEAD_S * WHISPER_RATE_HZ), np.float32),
                                to_float(resample(pcm, rate_hz, WHISPER_RATE_HZ))])
        try:
            with self._lock:
                ctranslate2.set_random_seed(0)  # the warmer retries sample: the same audio, the same words
                self._model.trailing_frames = TRAILING_FRAMES
                segments, info = self._decode(audio)
                if any(s.compression_ratio > REPETITIVE or (s.temperature or 0) > 0 for s in segments):
                    self._model.trailing_frames = None
                    segments, info = self._decode(audio)
            kept = [segment for segment in segments if segment.no_speech_prob < NO_SPEECH_MAX]
        except Exception as exc:
            raise ApplianceError("stt-failed", f"Whisper could not transcribe {len(pcm)} samples: {exc}") from exc
        text = " ".join(segment.text.strip() for segment in kept).strip()
        confidence = math.exp(sum(s.avg_logprob for s in kept) / len(kept)) if text else None
        return Transcript(text, len(pcm) * 1000 / rate_hz, info.language, confidence)

    def _decode(self, audio: np.ndarray):
        segments, info = self._model.transcribe(
            audio, language=self.language, beam_size=self.beam_size, temperature=TEMPERATURES,
            vad_filter=False, condition_on_previous_text=False, without_timestamps=True,
            initial_prompt=self.initial_prompt)
        return list(segments), info


def _windowed_whisper(model_dir: str, **options):
    """A faster-whisper model whose encoder window can be cut short (imported only when a model is loaded)."""
    from faster_whisper import WhisperModel

    class WindowedWhisper(WhisperModel):
        """faster-whisper with the encoder's window cut to the audio plus `trailing_frames` of silence.

        faster-whisper pads every window to 30 s with zero columns; those are cut off here, where the
        features reach the encoder, and everything else (prompt, fallbacks, no-speech) stays faster-whisper's.
        """

        trailing_frames: int | None = None  # None: the full 30 s window

        def encode(self, features: np.ndarray):
            if self.trailing_frames is not None:
                used = np.flatnonzero(np.any(features != 0, axis=tuple(range(features.ndim - 1))))
                end = int(used[-1]) + 1 if used.size else 0
                window = -(-(end + self.trailing_frames) // 100) * 100  # whole seconds, an even frame count
                features = features[..., :min(window, features.shape[-1])]
            return super().encode(features)

    return WindowedWhisper(model_dir, **options)
