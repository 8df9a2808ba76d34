"""The recording tee on a scripted line: both sides of every tick in a stereo WAV, finished even when a call fails."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from appliance.line import FRAME_SAMPLES
from appliance.line.scripted import ScriptedLine, Step
from appliance.recordings.tee import FLUSH_FRAMES, RecordedLine, StereoWavWriter


def tone(hz: float, frames: int, amplitude: int = 8000) -> np.ndarray:
    t = np.arange(frames * FRAME_SAMPLES) / 8000
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def read_stereo(path) -> tuple[np.ndarray, np.ndarray, tuple]:
    with wave.open(str(path), "rb") as reader:
        shape = (reader.getnchannels(), reader.getsampwidth(), reader.getframerate())
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2").reshape(-1, 2)
    return samples[:, 0], samples[:, 1], shape


def scripted(caller: np.ndarray, reply_gap_ms: float = 200) -> ScriptedLine:
    """The caller speaks, waits for an answer (a quiet gap ends it), then hangs up; no real-time waits."""
    return ScriptedLine([Step(pcm=caller), Step(hangup=True)], realtime=False, reply_gap_ms=reply_gap_ms,
                        reply_timeout_ms=2000)


async def test_left_is_the_caller_right_is_what_was_sent_tick_for_tick(tmp_path):
    caller, reply = tone(440, 10), tone(1000, 15)
    line = scripted(caller, reply_gap_ms=2000)
    path = tmp_path / "recordings" / "call.wav"
    recorded = RecordedLine(line, StereoWavWriter(path))
    ticks, sizes = 0, []
    async for _ in recorded.audio():
        if ticks == 3:
            recorded.play(reply)  # queued through the wrapper, sent by the line from the next tick on
        ticks += 1
        sizes.append(path.stat().st_size)
    seconds = recorded.close()
    left, right, shape = read_stereo(tmp_path / "recordings" / "call.wav")
    assert shape == (2, 2, 8000)
    assert len(left) == ticks * FRAME_SAMPLES and seconds == pytest.approx(ticks * 0.02)
    assert sizes[FLUSH_FRAMES] > sizes[0] and sizes[-1] < path.stat().st_size  # written as the call goes
    assert np.array_equal(left[:len(caller)], caller) and not left[len(caller):].any()
    start = 4 * FRAME_SAMPLES
    assert np.array_equal(right[start:start + len(reply)], reply)
    assert not right[:start].any() and not right[start + len(reply):].any()
    assert line.playback.on_sent is None  # the line no longer reports to a closed recording


async def test_a_call_that_ends_in_an_error_leaves_a_finished_file(tmp_path):
    path = tmp_path / "call.wav"
    recorded = RecordedLine(scripted(tone(440, 100)), StereoWavWriter(path))
    with pytest.raises(RuntimeError):
        try:
            ticks = 0
            async for _ in recorded.audio():
                ticks += 1
                if ticks == 7:
                    raise RuntimeError("a stage blew up")
        finally:
            recorded.close()
    left, right, _ = read_stereo(path)  # the header's lengths are right: a player reads all of it
    assert len(left) == 7 * FRAME_SAMPLES == len(right)
    assert np.array_equal(left, tone(440, 100)[:7 * FRAME_SAMPLES])


async def test_the_recorded_line_is_the_line_for_everything_but_its_audio(tmp_path):
    line = scripted(tone(440, 2))
    recorded = RecordedLine(line, StereoWavWriter(tmp_path / "call.wav"))
    recorded.play(tone(300, 2))
    assert recorded.playing and recorded.playback is line.playback and recorded.line is line
    assert recorded.stop_playback() == 2 * FRAME_SAMPLES and not recorded.playing
    await recorded.hangup()
    assert line.hung_up_by == "appliance" == recorded.hung_up_by
    assert recorded.close() == 0.0
