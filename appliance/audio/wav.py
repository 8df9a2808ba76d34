"""Reading and writing mono 16-bit WAV files, mixing down and converting rates as needed."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from appliance.audio.resample import resample
from appliance.errors import ApplianceError


def read_wav(path: str | Path, rate_hz: int | None = None) -> tuple[np.ndarray, int]:
    """(int16 mono samples, rate) from a PCM WAV; with `rate_hz`, converted to that rate."""
    try:
        with wave.open(str(path), "rb") as reader:
            channels, width, rate = reader.getnchannels(), reader.getsampwidth(), reader.getframerate()
            data = reader.readframes(reader.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise ApplianceError("audio-wav-unreadable", f"{path}: {exc}") from None
    if width != 2:
        raise ApplianceError("audio-wav-format", f"{path}: {8 * width}-bit samples; 16-bit PCM is needed")
    pcm = np.frombuffer(data, dtype="<i2").astype(np.int16)
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1).astype(np.int16)
    if rate_hz and rate_hz != rate:
        return resample(pcm, rate, rate_hz), rate_hz
    return pcm, rate


def write_wav(path: str | Path, pcm: np.ndarray, rate_hz: int) -> None:
    """Write int16 mono samples as a PCM WAV."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate_hz)
        writer.writeframes(np.asarray(pcm, dtype="<i2").tobytes())
