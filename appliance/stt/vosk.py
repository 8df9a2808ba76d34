"""Vosk (Kaldi) speech to text from any provisioned Vosk model folder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from appliance.audio.resample import resample
from appliance.errors import ApplianceError
from appliance.stt import Transcript

REQUIRED = ("am/final.mdl", "conf/model.conf")


def _model_rate_hz(model_dir: Path) -> int:
    mfcc = model_dir / "conf" / "mfcc.conf"
    if mfcc.is_file():
        found = re.search(r"--sample-frequency=(\d+)", mfcc.read_text())
        if found:
            return int(found.group(1))
    return 16000


class VoskTranscriber:
    """A Vosk model loaded once; audio is resampled to the rate the model was trained on."""

    def __init__(self, model_dir: Path):
        import vosk

        model_dir = Path(model_dir)
        missing = [name for name in REQUIRED if not (model_dir / name).is_file()]
        if missing:
            raise ApplianceError("stt-model-invalid", f"{model_dir} is not a Vosk model: it lacks {', '.join(missing)}")
        vosk.SetLogLevel(-1)
        try:
            self._model = vosk.Model(str(model_dir))
        except Exception as exc:  # vosk raises a bare Exception when Kaldi refuses the folder
            raise ApplianceError("stt-model-invalid", f"{model_dir}: {exc}") from exc
        self._vosk = vosk
        self.rate_hz = _model_rate_hz(model_dir)

    def transcribe(self, pcm: np.ndarray, rate_hz: int) -> Transcript:
        """The words in `pcm`."""
        recognizer = self._vosk.KaldiRecognizer(self._model, self.rate_hz)
        audio = resample(pcm, rate_hz, self.rate_hz).astype("<i2").tobytes()
        recognizer.AcceptWaveform(audio)
        text = json.loads(recognizer.FinalResult()).get("text", "")
        return Transcript(text.strip(), len(pcm) * 1000 / rate_hz)
