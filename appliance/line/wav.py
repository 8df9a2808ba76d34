"""`wav://PATH`: a recorded caller as a line. The recording is played into the call once, in real time; the
appliance answers as on any line, and everything it sends is kept, so its reply can be written to a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from appliance.audio import LINE_RATE_HZ
from appliance.audio.wav import read_wav
from appliance.line import Playback
from appliance.line.scripted import ScriptedLine, Step


class WavLine(ScriptedLine):
    """One caller turn from audio, then the caller waits for the answer and hangs up."""

    def __init__(self, pcm: np.ndarray, caller_id: str | None = None, realtime: bool = True):
        super().__init__([Step(pcm=np.asarray(pcm, dtype=np.int16)), Step(hangup=True)], caller_id=caller_id,
                         realtime=realtime, playback=Playback(keep=True))

    @classmethod
    def from_file(cls, path: str | Path, caller_id: str | None = None) -> "WavLine":
        """The caller in a WAV file, at the line rate."""
        pcm, _ = read_wav(Path(path), LINE_RATE_HZ)
        return cls(pcm, caller_id=caller_id)

    @property
    def caller_step(self) -> Step:
        return self.steps[0]

    def recording(self) -> np.ndarray:
        """What the appliance sent, from the start of the call."""
        return np.concatenate(self.playback.sent) if self.playback.sent else np.zeros(0, np.int16)
