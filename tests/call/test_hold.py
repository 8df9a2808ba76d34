"""A caller told to hold waits for the answer; the answer's own first audio is told apart from "One moment"."""

import asyncio

import numpy as np

from appliance.line import Playback
from appliance.line.scripted import ScriptedLine, Step

TONE = (np.sin(np.arange(8000) * 0.3) * 8000).astype(np.int16)  # one second of loud audio


def run(line, react):
    """Drive the line's caller for its whole script; `react(position_ms, line)` plays the appliance's side."""
    async def main():
        async for _ in line.audio():
            react(line.position_ms, line)
    asyncio.run(asyncio.wait_for(main(), 60))


def test_a_caller_who_hears_one_moment_waits_for_the_answer():
    line = ScriptedLine([Step(pcm=TONE), Step(pcm=TONE)], realtime=False, reply_gap_ms=1500)
    played = set()

    def react(at, line):
        if at >= 1500 and "hold" not in played:
            played.add("hold")
            line.play(TONE[:2400], filler=True, more=True)  # "One moment." after the caller's first turn
        if at >= 7000 and "answer" not in played:  # the answer comes 5 s later, on a slow box
            played.add("answer")
            line.play(TONE)
    run(line, react)
    first = line.steps[0]
    assert first.ended_ms > 7000  # the caller waited through the silence for the answer
    assert line.steps[1].speech_start_ms > 8000


def test_a_caller_not_told_to_hold_takes_a_long_silence_as_the_end():
    line = ScriptedLine([Step(pcm=TONE), Step(pcm=TONE)], realtime=False, reply_gap_ms=1500)
    played = set()

    def react(at, line):
        if at >= 1500 and "short" not in played:
            played.add("short")
            line.play(TONE[:2400])  # a complete short reply
    run(line, react)
    assert line.steps[0].ended_ms < 4500


def test_the_answers_first_audio_is_not_the_holding_phrase():
    playback = Playback()
    playback.play(TONE[:1600], filler=True, more=True)
    playback.play(TONE[:1600], more=True)
    sent = [playback.next_frame(at * 20.0) for at in range(30)]
    assert len(sent) == 30 and playback.sent_voiced_at[0] == 0.0
    assert playback.sent_answer_at[0] == 200.0  # 1600 samples of holding phrase are 10 frames
    playback.play(np.zeros(0, np.int16))
    assert not playback.more_coming
