"""Vosk (Kaldi) speech to text from any provisioned Vosk model folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from appliance.audio.resample import resample
from appliance.errors import ApplianceError
from appliance.stt import Transcript

DEFAULT_RATE_HZ = 16000
REQUIRED = ("am/final.mdl", "conf/model.conf", "conf/mfcc.conf")
# A Vosk model decodes with a full graph, or with a lookahead pair of graphs composed on the fly.
GRAPHS = (("graph/HCLG.fst",), ("graph/HCLr.fst", "graph/Gr.fst"))


def model_rate_hz(model_dir: Path) -> int:
    """The sample rate a Vosk model was trained on, from its conf/mfcc.conf (16 kHz if it does not say)."""
    mfcc = Path(model_dir) / "conf" / "mfcc.conf"
    if mfcc.is_file():
        found = re.search(r"--sample-frequency=(\d+)", mfcc.read_text())
        if found:
            return int(found.group(1))
    return DEFAULT_RATE_HZ


def _problems(model_dir: Path) -> list[str]:
    missing = [name for name in REQUIRED if not (model_dir / name).is_file()]
    if not any(all((model_dir / name).is_file() for name in graph) for graph in GRAPHS):
        missing.append("graph/HCLG.fst (or graph/HCLr.fst and graph/Gr.fst)")
    return missing


class VoskTranscriber:
    """A Vosk model loaded once; audio is resampled to the rate the model was trained on."""

    def __init__(self, model_dir: Path, rate_hz: int | None = None):
        model_dir = Path(model_dir)
        missing = _problems(model_dir)
        if missing:
            raise ApplianceError("stt-model-invalid", f"{model_dir} is not a Vosk model: it lacks {', '.join(missing)}")
        import vosk

        vosk.SetLogLevel(-1)
        try:
            self._model = vosk.Model(str(model_dir))
        except Exception as exc:  # vosk raises a bare Exception when Kaldi refuses the folder
            raise ApplianceError("stt-model-invalid", f"{model_dir}: {exc}") from exc
        self._vosk = vosk
        self.rate_hz = rate_hz or model_rate_hz(model_dir)

    def transcribe(self, pcm: np.ndarray, rate_hz: int) -> Transcript:
        """The words in `pcm`; empty text for silence."""
        try:
            recognizer = self._vosk.KaldiRecognizer(self._model, self.rate_hz)
            recognizer.SetWords(True)
            recognizer.AcceptWaveform(resample(pcm, rate_hz, self.rate_hz).astype("<i2").tobytes())
            result = json.loads(recognizer.FinalResult())
        except Exception as exc:
            raise ApplianceError("stt-failed", f"Vosk could not transcribe {len(pcm)} samples: {exc}") from exc
        words = result.get("result", [])
        confidence = sum(word["conf"] for word in words) / len(words) if words else None
        return Transcript(result.get("text", "").strip(), len(pcm) * 1000 / rate_hz, None, confidence)
