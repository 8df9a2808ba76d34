"""Backchannels: which words are only "I'm listening", and the call's turn taking under the appliance's own voice
coming back through an analog line's hybrid, frame by frame as `appliance bench --backchannels` measures it."""

import numpy as np
import pytest

from appliance import bench
from appliance.call.backchannel import is_backchannel
from appliance.call.turns import TurnTaker
from appliance.vad import VoiceDetector

from speech import phone_speech


@pytest.mark.parametrize("heard", ["Okay, sure.", "Mm-hmm.", "Uh huh", "Right, I see.", "Yeah, yeah, go on.",
                                   "All right, thank you!", "", "Got it, thanks.", "Hmm?"])
def test_acknowledgements_hums_and_no_words_are_backchannels(heard):
    assert is_backchannel(heard)


@pytest.mark.parametrize("heard", ["Wait.", "No, no, I want a person.", "Okay, but what about the other one?",
                                   "Sorry, can I ask something?", "Okay, so...", "Me.", None])
def test_any_other_word_or_no_answer_is_not(heard):
    assert not is_backchannel(heard)


@pytest.fixture(scope="module")
def reply(piper):
    """A long reply in the appliance's own voice."""
    return np.concatenate(list(piper.synthesize(bench.REPLY)))


def test_over_its_own_echo_a_backchannel_lets_the_reply_go_on_and_an_interruption_stops_it(store, whisper, reply):
    """An analog line's -10 dB hybrid returns the reply; cancelled and gated, its echo never holds the reply, "okay"
    over it holds it a moment and lets it go on, and a real interruption stops it."""
    echo = bench.warmed(bench.HybridEcho(), reply)

    def heard(pcm: np.ndarray) -> dict:
        detector = VoiceDetector(store.checked_path("vad"))
        return bench.held_or_stopped(reply, pcm, 1500, detector, TurnTaker(), whisper, echo)

    alone = heard(np.zeros(len(reply), np.int16))  # the whole reply comes back, and nobody speaks
    assert alone["held"] == [] and "stopped" not in alone
    okay = heard(phone_speech("okay", pad_ms=0))
    assert len(okay["held"]) == 1 and len(okay["resumed"]) == 1 and "stopped" not in okay
    assert okay["held"][0] - okay["onset"] <= 200
    wait = heard(phone_speech("Wait, that's not what I asked.", pad_ms=0))
    assert "stopped" in wait and wait["held"][0] - wait["onset"] <= 200
