"""Synthesized callers: espeak-ng speech (a voice unlike the appliance's), as it sounds on a phone line."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from appliance.audio import LINE_RATE_HZ
from appliance.audio.g711 import telephone
from appliance.audio.wav import read_wav
from appliance.errors import ApplianceError


def espeak(text: str, voice: str = "en-us", rate_hz: int = LINE_RATE_HZ, words_per_minute: int = 150,
           markup: bool = False) -> np.ndarray:
    """`text` spoken by espeak-ng, as int16 samples at `rate_hz`. `markup`: the text is SSML, so a caller can
    pause mid-sentence (`<break time="800ms"/>`) and go on with the same sentence's intonation."""
    if not shutil.which("espeak-ng"):
        raise ApplianceError("line-espeak-missing", "espeak-ng speaks simulated callers: apt-get install espeak-ng")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "caller.wav"
        subprocess.run(["espeak-ng", *(["-m"] if markup else []), "-v", voice, "-s", str(words_per_minute),
                        "-w", str(path), text], check=True, capture_output=True)
        pcm, _ = read_wav(path, rate_hz)
    return pcm


def caller_speech(text: str, voice: str = "en-us", pad_ms: int = 300, markup: bool = False) -> np.ndarray:
    """`text` (SSML with `markup`) as a caller on a phone line: 8 kHz, through μ-law, with silence either side."""
    return on_the_line(espeak(text, voice, markup=markup), pad_ms)


def on_the_line(pcm: np.ndarray, pad_ms: int = 300) -> np.ndarray:
    """8 kHz speech as the appliance hears it: through μ-law, with silence either side."""
    pad = np.zeros(LINE_RATE_HZ * pad_ms // 1000, dtype=np.int16)
    return telephone(np.concatenate([pad, np.asarray(pcm, dtype=np.int16), pad]))


def with_line_noise(pcm: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """8 kHz speech with the hiss of a poor line under it: noise in the telephone band (300-3400 Hz) at `snr_db`
    below the speech's loudness, and a little mains hum, through μ-law again as the line would carry it."""
    speech = np.asarray(pcm, dtype=np.float64)
    loud = np.abs(speech) > 0.05 * (np.abs(speech).max() or 1)
    level = np.sqrt(np.mean(speech[loud] ** 2)) if loud.any() else 1000.0
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(len(speech)))
    bins = np.fft.rfftfreq(len(speech), 1 / LINE_RATE_HZ)
    spectrum[(bins < 300) | (bins > 3400)] = 0
    noise = np.fft.irfft(spectrum, len(speech))
    noise *= level / 10 ** (snr_db / 20) / (np.sqrt(np.mean(noise ** 2)) or 1)
    hum = 0.1 * level / 10 ** (snr_db / 20) * np.sin(2 * np.pi * 50 * np.arange(len(speech)) / LINE_RATE_HZ)
    return telephone(np.clip(speech + noise + hum, -32768, 32767).astype(np.int16))


class PiperCaller:
    """A caller voiced by Piper, slower than the appliance's own speech: closer to a person than espeak-ng."""

    def __init__(self, model_path, length_scale: float = 1.1):
        from appliance.tts.piper import PiperSynthesizer

        self._voice = PiperSynthesizer(model_path, length_scale=length_scale)

    def __call__(self, text: str, pad_ms: int = 300) -> np.ndarray:
        """`text` said on the line."""
        return on_the_line(np.concatenate(list(self._voice.synthesize(text))), pad_ms)
