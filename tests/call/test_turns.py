import numpy as np
import pytest

from appliance.call.turns import BargeIn, Greet, Reprompt, SilenceHangup, TurnEnded, TurnStarted, TurnTaker
from appliance.vad import VoiceDetector

FRAME = 160  # 20 ms at 8 kHz
FRAME_MS = 20.0


@pytest.fixture(scope="module")
def vad_model(store):
    return store.checked_path("vad")


def run(vad_model, audio, taker, speaking=lambda at_ms: False, thinking=lambda at_ms: False, end_silence_ms=700):
    """Feed line audio frame by frame, as a call would; return (decision, position when decided)."""
    detector = VoiceDetector(vad_model, end_silence_ms=end_silence_ms)
    decided = []
    for offset in range(0, len(audio), FRAME):
        events = detector.process(audio[offset:offset + FRAME])
        position = taker.position_ms + FRAME_MS
        for decision in taker.advance(FRAME_MS, events, speaking=speaking(position), thinking=thinking(position)):
            decided.append((decision, position))
    return decided


def silence(ms):
    return np.zeros(int(8 * ms), np.int16)


def test_a_silent_caller_is_greeted_after_two_seconds(vad_model):
    decided = run(vad_model, silence(2500), TurnTaker(greet_after_ms=2000))
    assert decided == [(Greet(2000.0), 2000.0)]


def test_a_caller_who_speaks_first_is_not_greeted(vad_model, speak):
    audio = np.concatenate([silence(500), speak("What is your refund policy?"), silence(2500)])
    decided = [d for d, _ in run(vad_model, audio, TurnTaker(greet_after_ms=2000, still_there_after_ms=10000))]
    assert [type(d) for d in decided] == [TurnStarted, TurnEnded]


def test_end_of_turn_waits_out_a_pause_mid_sentence(vad_model, speak):
    audio = np.concatenate([silence(300), speak("I would like to know", pad_ms=0), silence(400),
                            speak("about the professional plan", pad_ms=0), silence(1500)])
    decided = run(vad_model, audio, TurnTaker())
    turns = [d for d, _ in decided if isinstance(d, TurnEnded)]
    assert len(turns) == 1
    last_loud_ms = np.nonzero(np.abs(audio.astype(np.int32)) > 600)[0][-1] / 8
    assert turns[0].end_ms == pytest.approx(last_loud_ms, abs=150)
    position = next(p for d, p in decided if isinstance(d, TurnEnded))
    assert 650 <= position - turns[0].end_ms <= 800  # decided after the 700 ms of silence, not before


def test_a_quiet_caller_is_asked_once_whether_they_are_still_there_then_the_call_ends(vad_model, speak):
    taker = TurnTaker(greet_after_ms=2000, still_there_after_ms=5000, goodbye_after_ms=4000)
    audio = np.concatenate([speak("Hello?"), silence(30000)])
    spoken_until = len(speak("Hello?")) / 8 + 1500  # thinking and speaking the reply: no question meanwhile
    question_s = 1200  # "Are you still there?" being said: the wait for an answer starts after it
    decided = run(vad_model, audio, taker, speaking=lambda at: at <= spoken_until or
                  spoken_until + 5000 < at <= spoken_until + 5000 + question_s)
    asked = [p for d, p in decided if isinstance(d, Reprompt)]
    assert asked == [pytest.approx(spoken_until + 5000, abs=FRAME_MS)]  # once
    hangups = [p for d, p in decided if isinstance(d, SilenceHangup)]
    assert hangups == [pytest.approx(spoken_until + 5000 + question_s + 4000, abs=2 * FRAME_MS)]
    assert not any(isinstance(d, Greet) for d, _ in decided)


def test_a_caller_who_answers_the_question_goes_on_and_may_be_asked_again_later(vad_model, speak):
    taker = TurnTaker(greet_after_ms=1000, still_there_after_ms=2000, goodbye_after_ms=3000)
    answer = speak("Yes, sorry, I'm here.")
    audio = np.concatenate([silence(4000), answer, silence(12000)])
    answered_at = 4000 + len(answer) / 8
    decided = run(vad_model, audio, taker)
    kinds = [type(d) for d, _ in decided]
    # Greeted, asked, then the caller's turn as usual; a new silence is asked about again, once, before the end.
    assert kinds == [Greet, Reprompt, TurnStarted, TurnEnded, Reprompt, SilenceHangup], kinds
    assert decided[4][1] >= answered_at + 2000 - 400  # counted from the caller's turn, not the old silence


def test_barge_in_is_noticed_within_200_ms(vad_model, speak):
    # The appliance speaks from 0 to 6 s; the caller cuts in at 2 s.
    audio = np.concatenate([silence(2000), speak("Sorry, wait, I have a question", pad_ms=0), silence(3000)])
    decided = run(vad_model, audio, TurnTaker(greet_after_ms=60000), speaking=lambda at: at <= 6000)
    barge = [(d, p) for d, p in decided if isinstance(d, BargeIn)]
    assert len(barge) == 1
    event, noticed_at = barge[0]
    assert event.at_ms == pytest.approx(2000, abs=100)
    assert noticed_at - 2000 <= 200


def test_no_reprompt_while_the_appliance_is_thinking(vad_model, speak):
    taker = TurnTaker(still_there_after_ms=3000)
    audio = np.concatenate([speak("Where is my order?"), silence(9000)])
    turn_end = len(speak("Where is my order?")) / 8
    decided = run(vad_model, audio, taker, thinking=lambda at: at <= turn_end + 4000)
    reprompt = [p for d, p in decided if isinstance(d, Reprompt)]
    assert reprompt and reprompt[0] >= turn_end + 4000 + 3000 - FRAME_MS


def test_keys_make_a_turn_of_their_own_ended_by_hash_or_a_pause():
    from appliance.audio.dtmf import KeyPressed
    from appliance.call.turns import KeysEntered

    taker = TurnTaker(greet_after_ms=2000, keys_end_ms=2500)
    decided = []
    presses = {400: "9", 600: "8", 800: "#", 3000: "7", 3200: "6"}
    for step in range(1, 400):
        at = step * FRAME_MS
        events = [KeyPressed(presses[at], at)] if at in presses else []
        decided += [(d, at) for d in taker.advance(FRAME_MS, events, speaking=at < 500)]
    kinds = [(type(d).__name__, at) for d, at in decided]
    assert kinds == [("KeysStarted", 400), ("KeysEntered", 800), ("KeysStarted", 3000), ("KeysEntered", 5700)]
    assert decided[1][0] == KeysEntered("98", 400, 800) and decided[3][0].keys == "76"
    assert not any(isinstance(d, Greet) for d, _ in decided)  # a caller who keys has spoken


def test_the_detector_turns_tones_into_keys_and_not_into_speech(vad_model):
    from appliance.audio.dtmf import KeyPressed, tones
    from appliance.audio.g711 import telephone

    detector = VoiceDetector(vad_model)
    audio = np.concatenate([silence(500), telephone(tones("12#", tone_ms=120, gap_ms=80)), silence(1000)])
    events = []
    for offset in range(0, len(audio), FRAME):
        events += detector.process(audio[offset:offset + FRAME])
    assert [e.key for e in events if isinstance(e, KeyPressed)] == ["1", "2", "#"]
    assert all(isinstance(e, KeyPressed) for e in events)
    assert events[0].at_ms == pytest.approx(540, abs=20)
