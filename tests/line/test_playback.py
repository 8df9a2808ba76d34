"""The outgoing side of every line, held while the caller's voice over it may be only "mm-hm"."""

import numpy as np

from appliance.line import FRAME_SAMPLES, Playback, voiced


def word(frames: int, number: int) -> np.ndarray:
    """`frames` loud frames, each sample carrying `number`, so a frame says which word it came from."""
    return np.full(frames * FRAME_SAMPLES, 1000 * number, np.int16)


def quiet(frames: int) -> np.ndarray:
    return np.zeros(frames * FRAME_SAMPLES, np.int16)


def test_a_held_reply_sends_silence_keeps_its_audio_and_goes_on_from_the_start_of_the_word_it_was_held_in():
    playback = Playback()
    playback.play(np.concatenate([word(5, 1), quiet(2), word(10, 2), quiet(2), word(5, 3)]))
    sent = [playback.next_frame(at * 20.0) for at in range(11)]  # word 1, the gap, and 4 frames of word 2
    assert int(sent[-1][0]) == 2000
    playback.pause()
    held = [playback.next_frame(at * 20.0) for at in range(11, 31)]
    assert not any(voiced(frame) for frame in held) and playback.playing  # silent, and nothing dropped
    playback.resume()
    rest = [int(playback.next_frame(at * 20.0)[0]) for at in range(31, 53)]
    assert rest[:10] == [2000] * 10  # word 2 again from its first frame, whole
    assert rest[10:12] == [0, 0] and rest[12:17] == [3000] * 5 and not playback.playing


def test_stopping_a_held_reply_drops_it_and_the_next_one_plays():
    playback = Playback()
    playback.play(word(10, 1))
    playback.next_frame(0.0)
    playback.pause()
    assert playback.stop() == 9 * FRAME_SAMPLES and not playback.playing
    playback.play(word(1, 2))
    assert int(playback.next_frame(20.0)[0]) == 2000
    playback.resume()  # nothing held: nothing said again
    assert not voiced(playback.next_frame(40.0))
