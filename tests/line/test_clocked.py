"""The live line's clock: caller audio that piled up in the line is heard at once, the reply still a frame a tick."""

from __future__ import annotations

import numpy as np

from appliance.line import FRAME_SAMPLES
from appliance.line.clocked import ClockedLine


class Sent(ClockedLine):
    """A clocked line whose transport keeps what it was given to send."""

    def __init__(self):
        super().__init__()
        self.sent: list[np.ndarray] = []

    def send_frame(self, frame: np.ndarray) -> None:
        self.sent.append(frame)


def numbered(number: int) -> np.ndarray:
    return np.full(FRAME_SAMPLES, number, np.int16)


async def test_caller_audio_that_piled_up_is_heard_in_the_same_tick_and_none_is_lost():
    line = Sent()
    for number in range(1, 11):  # 200 ms of the caller that came while the event loop was busy
        line.receive(numbered(number))
    heard = []
    async for frame in line.audio():
        heard.append(int(frame[0]))
        if len(heard) == 9:
            break
    assert heard == list(range(1, 10))  # in order, all in the first tick
    assert len(line.sent) == line.playback.frames_sent == 1  # the reply side still sends one frame per tick
    assert line.waiting_ms == 20  # one frame is left for the next tick
    assert line.position_ms == 180  # the caller's timeline, which the call session counts


async def test_a_tick_with_no_caller_audio_gives_silence_and_a_short_frame_is_padded():
    line = Sent()
    ticks = line.audio()
    assert not (await anext(ticks)).any()
    line.receive(np.full(100, 7, np.int16))
    frame = await anext(ticks)
    assert len(frame) == FRAME_SAMPLES and frame[:100].tolist() == [7] * 100 and not frame[100:].any()
    await ticks.aclose()
