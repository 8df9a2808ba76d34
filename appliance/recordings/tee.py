"""A call's audio both ways, teed into a stereo 8 kHz 16-bit WAV as the call goes: left the caller as heard,
right what the appliance sent. Written a second at a time, so a long call is never held in memory, and the
file's header is brought up to date each second (a power cut loses at most the last second)."""

from __future__ import annotations

import wave
from collections import deque
from pathlib import Path

import numpy as np

from appliance.audio import LINE_RATE_HZ
from appliance.line import FRAME_SAMPLES

FLUSH_FRAMES = 50  # ticks of 20 ms between writes to the file
SILENCE = np.zeros(FRAME_SAMPLES, np.int16)


def _frame(pcm: np.ndarray) -> np.ndarray:
    pcm = np.asarray(pcm, dtype=np.int16)[:FRAME_SAMPLES]
    return pcm if len(pcm) == FRAME_SAMPLES else np.concatenate([pcm, SILENCE[len(pcm):]])


class StereoWavWriter:
    """A two-channel WAV at the line rate, written incrementally; `close` finishes it."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._wave = wave.open(str(path), "wb")
        self._wave.setnchannels(2)
        self._wave.setsampwidth(2)
        self._wave.setframerate(LINE_RATE_HZ)
        self._chunks: list[bytes] = []
        self.samples = 0  # per channel

    def write(self, left: np.ndarray, right: np.ndarray) -> None:
        """One tick: the caller's frame and the appliance's, side by side."""
        self._chunks.append(np.column_stack((_frame(left), _frame(right))).astype("<i2").tobytes())
        self.samples += FRAME_SAMPLES
        if len(self._chunks) >= FLUSH_FRAMES:
            self.flush()

    def flush(self) -> None:
        """Write what is buffered and bring the header's lengths up to date."""
        if self._chunks:
            self._wave.writeframes(b"".join(self._chunks))
            self._chunks = []

    def close(self) -> None:
        self.flush()
        self._wave.close()

    @property
    def seconds(self) -> float:
        return self.samples / LINE_RATE_HZ


class RecordedLine:
    """A line whose every tick is also written to a recording; the session, a transfer and a bridge use it as the
    line itself (everything but `audio` is the line's own). The appliance's side is heard at the line's playback,
    so ringing, replies and a bridged agent are all in it."""

    def __init__(self, line, writer: StereoWavWriter):
        self._line = line
        self._writer = writer
        self._sent: deque[np.ndarray] = deque()
        self.failed: OSError | None = None  # the disk refused a write: the call goes on, unrecorded from then
        line.playback.on_sent = self._on_sent

    def __getattr__(self, name: str):
        return getattr(self._line, name)

    @property
    def line(self):
        """The line being recorded."""
        return self._line

    @property
    def seconds(self) -> float:
        """How much of the call is recorded so far."""
        return self._writer.seconds

    async def audio(self):
        """The line's caller frames, each written with the frame the line sent in the same tick."""
        async for frame in self._line.audio():
            self._write(frame, self._sent.popleft() if self._sent else SILENCE)
            yield frame

    def _write(self, left: np.ndarray, right: np.ndarray) -> None:
        if self.failed is None:
            try:
                self._writer.write(left, right)
            except OSError as exc:
                self.failed = exc

    def _on_sent(self, frame: np.ndarray) -> None:
        # A line sends its frame in the tick before it hands over the caller's; a second sent frame with no caller
        # frame between (nobody is listening) is written against silence.
        if self._sent:
            self._write(SILENCE, self._sent.popleft())
        self._sent.append(frame)

    def close(self) -> float:
        """Stop recording and finish the file; returns its length in seconds."""
        if getattr(self._line.playback, "on_sent", None) == self._on_sent:
            self._line.playback.on_sent = None
        while self._sent:
            self._write(SILENCE, self._sent.popleft())
        self._writer.close()
        if self.failed is not None:
            raise self.failed
        return self._writer.seconds
