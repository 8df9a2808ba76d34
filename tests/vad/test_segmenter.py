import pytest

from appliance.vad.segmenter import State, VadSegmenter, VoiceStarted, VoiceStopped

WINDOW_MS = 32.0


def run(segmenter, pattern):
    """Feed windows of the given confidences; return (events, window index) pairs."""
    out = []
    for index, confidence in enumerate(pattern):
        out += [(event, index) for event in segmenter.process(WINDOW_MS, confidence)]
    return out


def test_speech_start_and_end_with_exact_positions():
    segmenter = VadSegmenter(threshold=0.5, start_ms=60, end_silence_ms=300)
    pattern = [0.0] * 5 + [0.9] * 20 + [0.0] * 12
    events = run(segmenter, pattern)
    assert events[0] == (VoiceStarted(5 * WINDOW_MS), 6)  # confirmed after 2 windows (64 ms >= 60 ms)
    stopped, index = events[1]
    assert stopped == VoiceStopped(25 * WINDOW_MS, 20 * WINDOW_MS)
    assert index == 25 + 9  # the 10th silent window brings the silence to 320 ms >= 300 ms
    assert len(events) == 2 and segmenter.state is State.QUIET


def test_a_short_blip_does_not_start_speech():
    segmenter = VadSegmenter(start_ms=100)
    assert run(segmenter, [0.0, 0.9, 0.9, 0.0, 0.0, 0.9, 0.0]) == []
    assert segmenter.state is State.QUIET


def test_a_pause_shorter_than_the_end_silence_does_not_end_the_turn():
    segmenter = VadSegmenter(end_silence_ms=700)
    pattern = [0.9] * 10 + [0.0] * 15 + [0.9] * 10 + [0.0] * 25  # a 480 ms pause mid-sentence
    events = [event for event, _ in run(segmenter, pattern)]
    assert events == [VoiceStarted(0.0), VoiceStopped(35 * WINDOW_MS, 35 * WINDOW_MS)]


def test_the_same_pause_ends_the_turn_with_a_short_end_silence():
    segmenter = VadSegmenter(end_silence_ms=200)
    pattern = [0.9] * 10 + [0.0] * 15 + [0.9] * 10 + [0.0] * 25
    events = [event for event, _ in run(segmenter, pattern)]
    assert [type(e) for e in events] == [VoiceStarted, VoiceStopped, VoiceStarted, VoiceStopped]
    assert events[2] == VoiceStarted(25 * WINDOW_MS)


def test_hysteresis_keeps_soft_syllables_in_the_turn():
    segmenter = VadSegmenter(threshold=0.5, end_silence_ms=100)
    pattern = [0.9] * 5 + [0.4] * 10 + [0.0] * 5  # 0.4 is below the start threshold but above 0.35
    events = run(segmenter, pattern)
    assert events[-1][0] == VoiceStopped(15 * WINDOW_MS, 15 * WINDOW_MS)
    assert run(VadSegmenter(threshold=0.5), [0.4] * 10) == []  # but 0.4 never starts speech


@pytest.mark.parametrize("window_ms", [10.0, 20.0, 32.0])
def test_positions_follow_the_audio_not_the_window_size(window_ms):
    segmenter = VadSegmenter(start_ms=60, end_silence_ms=400)
    windows_per_second = int(1000 / window_ms)
    pattern = [0.0] * windows_per_second + [0.9] * windows_per_second + [0.0] * windows_per_second
    events = []
    for confidence in pattern:
        events += segmenter.process(window_ms, confidence)
    assert events[0].at_ms == pytest.approx(windows_per_second * window_ms)
    assert events[1].at_ms == pytest.approx(2 * windows_per_second * window_ms)


def test_a_low_threshold_still_lets_the_turn_end():
    segmenter = VadSegmenter(threshold=0.1, end_silence_ms=100)
    assert segmenter.stay_threshold == pytest.approx(0.05)  # not 0.1 - 0.15 < 0, which every frame would pass
    events = [event for event, _ in run(segmenter, [0.9] * 5 + [0.02] * 5)]
    assert events == [VoiceStarted(0.0), VoiceStopped(5 * WINDOW_MS, 5 * WINDOW_MS)]


def test_pause_ms_counts_the_silence_inside_a_turn():
    segmenter = VadSegmenter(end_silence_ms=300)
    run(segmenter, [0.9] * 5)
    assert segmenter.pause_ms == 0.0
    run(segmenter, [0.0] * 3)
    assert segmenter.state is State.STOPPING and segmenter.pause_ms == 3 * WINDOW_MS
    run(segmenter, [0.9])
    assert segmenter.state is State.SPEAKING and segmenter.pause_ms == 0.0
    run(segmenter, [0.0] * 10)
    assert segmenter.state is State.QUIET and segmenter.pause_ms == 0.0


def test_end_turn_ends_the_turn_in_a_pause_at_the_last_voiced_window():
    segmenter = VadSegmenter(end_silence_ms=700)
    run(segmenter, [0.9] * 10 + [0.0] * 7)  # 224 ms into the pause: the end-of-turn model says it is complete
    assert segmenter.end_turn() == [VoiceStopped(10 * WINDOW_MS, 10 * WINDOW_MS, "model")]
    assert segmenter.state is State.QUIET and segmenter.pause_ms == 0.0
    assert run(segmenter, [0.0] * 30) == []  # and the silence rule does not end it a second time


def test_end_turn_does_nothing_while_the_caller_speaks_or_outside_a_turn():
    segmenter = VadSegmenter()
    assert segmenter.end_turn() == []
    run(segmenter, [0.9] * 10)
    assert segmenter.end_turn() == [] and segmenter.state is State.SPEAKING


def test_end_after_holds_this_pause_for_a_longer_silence():
    segmenter = VadSegmenter(end_silence_ms=700)
    run(segmenter, [0.9] * 10 + [0.0] * 7)
    segmenter.end_after(2000)  # the model heard the caller stop mid-number
    assert run(segmenter, [0.0] * 55) == []  # 1984 ms of silence in all
    assert run(segmenter, [0.0]) == [(VoiceStopped(10 * WINDOW_MS, 10 * WINDOW_MS), 0)]  # 2016 ms: by the silence


def test_end_after_holds_one_pause_only():
    segmenter = VadSegmenter(end_silence_ms=700)
    run(segmenter, [0.9] * 10 + [0.0] * 7)
    segmenter.end_after(2000)
    run(segmenter, [0.0] * 20 + [0.9] * 10)  # the caller goes on before the 2 s are up
    events = run(segmenter, [0.0] * 22)
    assert events == [(VoiceStopped(47 * WINDOW_MS, 47 * WINDOW_MS), 21)]  # the next pause ends at 700 ms again


def test_end_after_none_goes_back_to_the_plain_rule_at_once():
    """The model failed after the pause outgrew `end_silence_ms`: the next window ends the turn."""
    segmenter = VadSegmenter(end_silence_ms=700)
    run(segmenter, [0.9] * 10 + [0.0] * 7)
    segmenter.end_after(2000)
    assert run(segmenter, [0.0] * 30) == []  # 1184 ms of pause
    segmenter.end_after(None)
    assert run(segmenter, [0.0]) == [(VoiceStopped(10 * WINDOW_MS, 10 * WINDOW_MS), 0)]


def test_end_after_outside_a_pause_changes_nothing():
    segmenter = VadSegmenter(end_silence_ms=300)
    segmenter.end_after(5000)
    run(segmenter, [0.9] * 10)
    segmenter.end_after(5000)  # the caller is speaking: no pause to hold
    events = run(segmenter, [0.0] * 10)
    assert events == [(VoiceStopped(10 * WINDOW_MS, 10 * WINDOW_MS), 9)]
