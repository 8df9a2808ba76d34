"""Test callers: speech made with espeak-ng and squeezed through a phone line, and word error counts."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from appliance.audio import LINE_RATE_HZ
from appliance.audio.g711 import telephone
from appliance.audio.wav import read_wav


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


def word_errors(expected: str, heard: str) -> int:
    """Word-level edit distance, ignoring case and punctuation."""
    a = re.findall(r"[\w']+", expected.lower())
    b = re.findall(r"[\w']+", heard.lower())
    row = list(range(len(b) + 1))
    for i, word in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != other))
    return row[-1]
