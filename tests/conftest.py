"""Shared fixtures: the real model store and caller speech made with espeak-ng, squeezed through a phone line."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from appliance.audio import LINE_RATE_HZ
from appliance.audio.g711 import telephone
from appliance.audio.wav import read_wav
from appliance.models import ModelStore
from appliance.settings import ROOT


@pytest.fixture(scope="session")
def store() -> ModelStore:
    """The checkout's model store, with the models `scripts/test` installed."""
    return ModelStore(ROOT / "models")


def espeak(text: str, voice: str = "en-us", rate_hz: int = LINE_RATE_HZ, words_per_minute: int = 150) -> np.ndarray:
    """`text` spoken by espeak-ng, as int16 samples at `rate_hz`."""
    assert shutil.which("espeak-ng"), "espeak-ng is installed by scripts/setup"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(path), text], check=True)
        pcm, _ = read_wav(path, rate_hz)
    return pcm


def phone_speech(text: str, voice: str = "en-us", pad_ms: int = 300) -> np.ndarray:
    """`text` as a caller on a phone line: 8 kHz, through μ-law, with silence either side."""
    pad = np.zeros(LINE_RATE_HZ * pad_ms // 1000, dtype=np.int16)
    return telephone(np.concatenate([pad, espeak(text, voice), pad]))


@pytest.fixture(scope="session")
def speak():
    """A function that turns text into 8 kHz μ-law-squeezed caller audio (int16)."""
    return phone_speech
