"""Voice activity detection: where the caller's speech starts and where their turn ends."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from appliance.audio.dtmf import DtmfDetector, KeyPressed
from appliance.vad.segmenter import State, VadSegmenter, VoiceStarted, VoiceStopped
from appliance.vad.silero import SileroVad

__all__ = ["KeyPressed", "State", "VadSegmenter", "VoiceDetector", "VoiceStarted", "VoiceStopped", "SileroVad"]


class VoiceDetector:
    """Line audio in chunks of any length → Silero windows → segmenter events on the audio timeline.

    Events are decided per whole model window (32 ms), so an event's `at_ms` falls on a window edge.
    Keypad tones are heard here too: a chunk with a tone in it reaches the VAD as silence (a tone is not
    speech) and a held key becomes a `KeyPressed` event. Feed 20 ms chunks for DTMF to be heard.
    """

    def __init__(self, model_path: Path, rate_hz: int = 8000, threshold: float = 0.5, start_ms: float = 60,
                 end_silence_ms: float = 700, model=None):
        self.vad = SileroVad(model_path, rate_hz, model=model)
        self.segmenter = VadSegmenter(threshold, start_ms, end_silence_ms)
        self._pending = np.zeros(0, dtype=np.int16)
        self._window_ms = self.vad.window_samples * 1000 / rate_hz
        self.last_confidence = 0.0
        self.rate_hz = rate_hz
        self.keys = DtmfDetector(rate_hz)
        self._samples = 0

    def reset(self) -> None:
        """Start over at position 0 with no speech and an empty buffer (a new call)."""
        self.vad.reset()
        segmenter = self.segmenter
        self.segmenter = VadSegmenter(segmenter.threshold, segmenter.start_ms, segmenter.end_silence_ms)
        self._pending = np.zeros(0, dtype=np.int16)
        self.last_confidence = 0.0
        self.keys = DtmfDetector(self.rate_hz)
        self._samples = 0

    def process(self, pcm: np.ndarray) -> list:
        """Events completed by this chunk of int16 audio."""
        pcm = np.asarray(pcm, dtype=np.int16)
        self._samples += len(pcm)
        key = self.keys.process(pcm)
        if self.keys.active:
            pcm = np.zeros_like(pcm)
        self._pending = np.concatenate([self._pending, pcm])
        events: list = [KeyPressed(key, self._samples * 1000 / self.rate_hz)] if key else []
        size = self.vad.window_samples
        while len(self._pending) >= size:
            window, self._pending = self._pending[:size], self._pending[size:]
            self.last_confidence = self.vad.voice_confidence(window)
            events += self.segmenter.process(self._window_ms, self.last_confidence)
        return events

    @property
    def speaking(self) -> bool:
        """Whether the caller is in the middle of a turn."""
        return self.segmenter.state in (State.SPEAKING, State.STOPPING)
