import numpy as np
import pytest

from appliance.call.turns import (Backchannel, BargeIn, Greet, HearOverlap, ReplyHeld, Reprompt, SilenceHangup,
                                  TurnEnded, TurnStarted, TurnTaker, WordsHeard)
from appliance.vad import VoiceDetector, VoiceStarted, VoiceStopped

FRAME = 160  # 20 ms at 8 kHz
FRAME_MS = 20.0


@pytest.fixture(scope="module")
def vad_model(store):
    return store.checked_path("vad")


def run(vad_model, audio, taker, speaking=lambda at_ms: False, thinking=lambda at_ms: False, end_silence_ms=700,
        words=None):
    """Feed line audio frame by frame, as a call would; return (decision, position when decided). `words`: what the
    recognizer hears, a frame after it is asked, of voice over the reply."""
    detector = VoiceDetector(vad_model, end_silence_ms=end_silence_ms)
    decided, heard = [], []
    for offset in range(0, len(audio), FRAME):
        events = detector.process(audio[offset:offset + FRAME]) + heard
        position = taker.position_ms + FRAME_MS
        heard = []
        for decision in taker.advance(FRAME_MS, events, speaking=speaking(position), thinking=thinking(position),
                                      pause_ms=detector.segmenter.pause_ms):
            decided.append((decision, position))
            heard += [WordsHeard(words)] if isinstance(decision, HearOverlap) else []
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


def test_an_interruption_holds_the_reply_within_200_ms_and_then_stops_it(vad_model, speak):
    # The appliance speaks from 0 to 6 s; the caller cuts in at 2 s.
    said = "Wait, that is not what I asked"
    audio = np.concatenate([silence(2000), speak(said, pad_ms=0), silence(3000)])
    decided = run(vad_model, audio, TurnTaker(greet_after_ms=60000), speaking=lambda at: at <= 6000, words=said)
    assert [type(d) for d, _ in decided] == [ReplyHeld, HearOverlap, BargeIn, TurnEnded]
    (held, held_at), (_, asked_at), (barge, stopped_at) = decided[:3]
    assert held.at_ms == barge.at_ms == pytest.approx(2000, abs=100)
    assert held_at - 2000 <= 200  # the caller hears the reply stop
    assert asked_at - barge.at_ms == pytest.approx(1000, abs=40)  # after a second of voice its words are heard
    assert stopped_at == asked_at + FRAME_MS  # and are not a backchannel's: the reply stops for good
    assert decided[3][0].start_ms == barge.at_ms  # the interruption is the caller's turn, from its first word


def test_a_long_backchannel_is_heard_for_its_words_and_lets_the_reply_go_on(vad_model, speak):
    said = "okay, sure, sure, I see"
    audio = np.concatenate([silence(2000), speak(said, pad_ms=0), silence(3000)])
    decided = run(vad_model, audio, TurnTaker(greet_after_ms=60000), speaking=lambda at: at <= 6000, words=said)
    assert [type(d) for d, _ in decided][:2] == [ReplyHeld, HearOverlap]
    assert type(decided[-1][0]) is Backchannel and not any(isinstance(d, (BargeIn, TurnEnded)) for d, _ in decided)


@pytest.mark.parametrize("said", ["okay", "mm hmm", "yeah"])
def test_a_backchannel_over_the_reply_holds_it_then_lets_it_go_on(vad_model, speak, said):
    audio = np.concatenate([silence(2000), speak(said, pad_ms=0), silence(3000)])
    decided = run(vad_model, audio, TurnTaker(greet_after_ms=60000), speaking=lambda at: at <= 6000)
    assert [type(d) for d, _ in decided] == [ReplyHeld, Backchannel]  # no turn: nothing to answer
    (held, held_at), (heard, resumed_at) = decided
    assert held_at - 2000 <= 200 and heard.start_ms == held.at_ms
    assert resumed_at - heard.end_ms == pytest.approx(250, abs=40)  # the reply goes on after a quarter second


def test_a_backchannel_when_the_appliance_is_silent_is_a_turn(vad_model, speak):
    audio = np.concatenate([silence(2000), speak("okay", pad_ms=0), silence(1500)])
    decided = run(vad_model, audio, TurnTaker(greet_after_ms=60000))
    assert [type(d) for d, _ in decided] == [TurnStarted, TurnEnded]


def test_voice_again_after_a_backchannel_is_held_anew_and_can_interrupt():
    taker = TurnTaker(greet_after_ms=60000)

    def feed(n: int, events=(), pausing=False) -> list:
        out = []
        for i in range(n):
            out += taker.advance(FRAME_MS, list(events) if i == 0 else [], speaking=True,
                                 pause_ms=(i + 1) * FRAME_MS if pausing else 0.0)
        return out

    assert feed(1, [VoiceStarted(0)]) == [ReplyHeld(0)]
    assert feed(20) == []  # 420 ms of voice: not yet an interruption
    assert feed(13, pausing=True) == [Backchannel(0, 420)]  # ...then a quarter second's pause: "mm-hm"
    assert feed(1) == [ReplyHeld(680)]  # voice again before the turn's silence ran out
    assert feed(50) == [HearOverlap(680)]  # a second of it: what are its words?
    assert feed(1, [WordsHeard("Okay, sure.")]) == []  # a backchannel's: still held, to be heard again
    assert feed(49) == [HearOverlap(680)]
    assert feed(1, [WordsHeard(None)]) == [BargeIn(680)]  # not heard: taken for an interruption, to be answered
    # The turn is the VAD's, from the first voice: the words said before the pause are the interruption's too.
    assert taker.advance(FRAME_MS, [VoiceStopped(2800, 2800)], speaking=False) == [TurnEnded(0, 2800)]


def test_voice_that_ends_while_its_words_are_heard_is_a_turn():
    taker = TurnTaker(hear_words=True)
    taker.advance(FRAME_MS, [VoiceStarted(0)], speaking=True)
    assert taker.advance(1000, [], speaking=True) == [HearOverlap(0)]
    assert taker.advance(FRAME_MS, [VoiceStopped(1000, 1000)], speaking=True) == [BargeIn(0), TurnEnded(0, 1000)]
    no_words = TurnTaker(hear_words=False)
    no_words.advance(FRAME_MS, [VoiceStarted(0)], speaking=True)
    assert no_words.advance(1000, [], speaking=True) == [BargeIn(0)]


def test_a_backchannel_s_end_is_no_turn_and_with_no_wait_the_first_voice_stops_the_reply():
    taker = TurnTaker()
    taker.advance(FRAME_MS, [VoiceStarted(0)], speaking=True)
    assert taker.advance(FRAME_MS, [VoiceStopped(300, 300)], speaking=True) == [Backchannel(0, 300)]
    assert taker.advance(FRAME_MS, [VoiceStarted(500)], speaking=False) == [TurnStarted(500)]
    at_once = TurnTaker(interrupt_after_ms=0)
    assert at_once.advance(FRAME_MS, [VoiceStarted(0)], speaking=True) == [BargeIn(0)]


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
