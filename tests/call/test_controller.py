"""The call's controller alone: frames and what happened in, commands out, with no event loop and no models."""

import numpy as np

from appliance.audio import FRAME_MS
from appliance.audio.dtmf import KeyPressed
from appliance.audio.beep import Beep
from appliance.call.controller import (EARLY_STT_MS, PRE_ROLL_MS, Answer, CallController, ForgetEarly, Hangup,
                                       HearGreeting, HearWords, JudgeTurn, PauseReply, Recognise, ResumeReply,
                                       Say, StopReply, VoicemailReached)
from appliance.call.turns import KeysEntered, TurnEnded, TurnTaker, WordsHeard
from appliance.call.voicemail import VoicemailDetector
from appliance.vad.segmenter import VoiceStarted, VoiceStopped

SAMPLES = 160  # one 20 ms frame at 8 kHz


class Caller:
    """Feeds the controller frame by frame; each frame's samples carry its number, to follow audio through."""

    def __init__(self, controller: CallController):
        self.controller = controller
        self.count = 0
        self.commands: list = []

    def frames(self, n: int, events_at: dict | None = None, speaking=False, pause_ms=0.0) -> list:
        out = []
        for i in range(n):
            self.count += 1
            events = (events_at or {}).get(i, [])
            frame = np.full(SAMPLES, self.count, np.int16)
            got = self.controller.frame(frame, events, speaking=speaking(self.count) if callable(speaking) else speaking,
                                        pause_ms=pause_ms(i) if callable(pause_ms) else pause_ms)
            out += got
        self.commands += out
        return out

    @property
    def at_ms(self) -> float:
        return self.count * FRAME_MS


def frames_in(audio: np.ndarray) -> list[int]:
    return sorted(set(audio.tolist()))


def test_silence_greets_then_asks_once_then_says_goodbye_and_hangs_up_ended_by_silence():
    controller = CallController(TurnTaker(greet_after_ms=2000, still_there_after_ms=3000, goodbye_after_ms=3000))
    caller = Caller(controller)
    assert controller.start() == []
    greet = caller.frames(100)
    assert greet == [Say("greeting", 2000.0)]
    controller.said()
    controller.reply_over()
    again = caller.frames(150)
    assert again == [Say("reprompt", 5000.0)]
    controller.reply_over()
    bye = caller.frames(150)
    assert bye == [Say("quiet_goodbye", 8000.0, ends=True)]
    assert caller.frames(5, speaking=True) == []  # the goodbye is still playing: no hang-up yet
    controller.reply_over(ends_call=True)
    assert caller.frames(1) == [Hangup()]
    assert controller.ended and caller.frames(10) == []
    assert controller.ended_by == "silence"


def test_a_caller_who_speaks_after_the_question_is_answered_and_not_hung_up_on():
    controller = CallController(TurnTaker(greet_after_ms=1000, still_there_after_ms=3000, goodbye_after_ms=3000))
    caller = Caller(controller)
    assert caller.frames(50) == [Say("greeting", 1000.0)]
    controller.said()
    controller.reply_over()
    assert caller.frames(150) == [Say("reprompt", 4000.0)]
    controller.said()
    controller.reply_over()
    caller.frames(100)  # two seconds to think
    caller.frames(1, {0: [VoiceStarted(caller.at_ms)]})
    caller.frames(50)
    out = caller.frames(1, {0: [VoiceStopped(caller.at_ms, 1000)]})
    assert len(out) == 1 and isinstance(out[0], Answer)  # a turn like any other
    controller.said()
    controller.reply_over()
    assert not any(isinstance(c, Say) for c in caller.frames(140))  # the old silence counts no more
    again = caller.frames(10)
    assert [c.phrase for c in again] == ["reprompt"]  # a new silence is asked about, after the full wait
    assert controller.ended_by is None


def test_a_turn_is_answered_with_its_audio_and_pre_roll():
    controller = CallController(TurnTaker(greet_after_ms=60000))
    caller = Caller(controller)
    caller.frames(50)  # 1 s of silence before the caller speaks
    started = caller.at_ms + 40
    caller.frames(1, {0: [VoiceStarted(started)]})
    caller.frames(60)
    out = caller.frames(1, {0: [VoiceStopped(caller.at_ms, 1200)]})
    assert len(out) == 1 and isinstance(out[0], Answer)
    answer = out[0]
    assert answer.turn == TurnEnded(started, caller.at_ms - FRAME_MS) and answer.keys is None and not answer.early
    got = frames_in(answer.audio)
    pre_roll = PRE_ROLL_MS // FRAME_MS
    assert got == list(range(51 - pre_roll + 1, caller.count + 1))  # the ring's frames, then every frame of the turn


def test_a_pause_starts_recognition_early_and_the_answer_uses_it():
    controller = CallController(TurnTaker(greet_after_ms=60000))
    caller = Caller(controller)
    caller.frames(1, {0: [VoiceStarted(0)]})
    caller.frames(40)
    pause_frames = int(EARLY_STT_MS // FRAME_MS)
    out = caller.frames(pause_frames + 2, pause_ms=lambda i: (i + 1) * FRAME_MS)
    recognise = [c for c in out if isinstance(c, Recognise)]
    assert len(recognise) == 1
    answer = caller.frames(1, {0: [VoiceStopped(caller.at_ms, 900)]}, pause_ms=700)
    assert isinstance(answer[0], Answer) and answer[0].early


def test_speaking_again_after_the_pause_forgets_the_early_recognition():
    controller = CallController(TurnTaker(greet_after_ms=60000))
    caller = Caller(controller)
    caller.frames(1, {0: [VoiceStarted(0)]})
    caller.frames(20)
    caller.frames(int(EARLY_STT_MS // FRAME_MS) + 1, pause_ms=lambda i: (i + 1) * FRAME_MS)
    assert caller.frames(1, pause_ms=0.0) == [ForgetEarly()]
    answer = caller.frames(1, {0: [VoiceStopped(caller.at_ms, 900)]}, pause_ms=700)
    assert isinstance(answer[0], Answer) and not answer[0].early


def test_a_pause_is_judged_once_by_the_end_of_turn_model_with_the_turns_audio():
    controller = CallController(TurnTaker(greet_after_ms=60000), judge_after_ms=200)
    caller = Caller(controller)
    caller.frames(1, {0: [VoiceStarted(0)]})
    caller.frames(20)
    out = caller.frames(20, pause_ms=lambda i: (i + 1) * FRAME_MS)
    judged = [c for c in out if isinstance(c, JudgeTurn)]
    assert len(judged) == 1 and out.index(judged[0]) < out.index(next(c for c in out if isinstance(c, Recognise)))
    assert frames_in(judged[0].audio)[-1] == caller.count - 10  # asked at 200 ms of pause, with the audio so far
    answer = caller.frames(1, {0: [VoiceStopped(caller.at_ms, 900, "model")]}, pause_ms=500)
    assert isinstance(answer[0], Answer) and answer[0].early and answer[0].turn.ended_by == "model"


def test_going_on_after_a_judged_pause_forgets_the_judgement_and_the_next_pause_is_judged_again():
    controller = CallController(TurnTaker(greet_after_ms=60000), judge_after_ms=200)
    caller = Caller(controller)
    caller.frames(1, {0: [VoiceStarted(0)]})
    caller.frames(20)
    assert [type(c) for c in caller.frames(11, pause_ms=lambda i: (i + 1) * FRAME_MS)] == [JudgeTurn]
    assert caller.frames(1, pause_ms=0.0) == [ForgetEarly()]  # before the early recognition: the verdict is stale
    caller.frames(10)
    again = caller.frames(11, pause_ms=lambda i: (i + 1) * FRAME_MS)
    assert [type(c) for c in again] == [JudgeTurn]


def test_without_a_model_no_pause_is_judged():
    controller = CallController(TurnTaker(greet_after_ms=60000))
    caller = Caller(controller)
    caller.frames(1, {0: [VoiceStarted(0)]})
    caller.frames(20)
    out = caller.frames(40, pause_ms=lambda i: (i + 1) * FRAME_MS)
    assert not [c for c in out if isinstance(c, JudgeTurn)] and [c for c in out if isinstance(c, Recognise)]


def test_voice_over_the_reply_holds_it_at_once_and_an_interruption_stops_it():
    controller = CallController(TurnTaker(greet_after_ms=1000))
    caller = Caller(controller)
    assert caller.frames(50) == [Say("greeting", 1000.0)]
    controller.said()
    assert caller.frames(1, {0: [VoiceStarted(caller.at_ms)]}, speaking=True) == [PauseReply()]
    first = caller.count
    assert caller.frames(48, speaking=True) == []  # no early recognition or turn model while it may be "mm-hm"
    hear = caller.frames(1, speaking=True)  # a second of voice: its words are asked for
    assert len(hear) == 1 and isinstance(hear[0], HearWords) and frames_in(hear[0].audio)[-1] == caller.count
    assert first in frames_in(hear[0].audio)
    stop = caller.frames(1, {0: [WordsHeard("Wait, that's not what I asked.")]}, speaking=True)
    assert stop == [StopReply(barge_in=True, forget_turn=False)]
    controller.reply_over()
    caller.frames(20)
    turn = caller.frames(1, {0: [VoiceStopped(caller.at_ms, 1400)]})[0]
    assert isinstance(turn, Answer) and first in frames_in(turn.audio)  # the interruption's first words are its own


def test_a_backchannel_over_the_reply_lets_it_go_on_and_is_no_turn():
    controller = CallController(TurnTaker(greet_after_ms=1000))
    caller = Caller(controller)
    caller.frames(50)
    controller.said()
    assert caller.frames(1, {0: [VoiceStarted(caller.at_ms)]}, speaking=True) == [PauseReply()]
    caller.frames(20, speaking=True)  # "mm-hm"
    out = caller.frames(20, speaking=True, pause_ms=lambda i: (i + 1) * FRAME_MS)
    assert out == [ResumeReply(420.0)]  # after a quarter second of quiet
    quiet_on = caller.frames(15, {14: [VoiceStopped(caller.at_ms, 420)]}, speaking=True,
                             pause_ms=lambda i: 400 + (i + 1) * FRAME_MS)
    assert quiet_on == []  # its end is no turn
    controller.reply_over()
    caller.frames(1, {0: [VoiceStarted(caller.at_ms)]})  # the reply is over: words now are a turn
    caller.frames(20)
    turn = caller.frames(1, {0: [VoiceStopped(caller.at_ms, 400)]})[0]
    assert isinstance(turn, Answer) and frames_in(turn.audio)[0] > 92  # the backchannel's audio is no part of it


def test_words_after_a_pause_that_let_the_reply_go_on_keep_what_came_before_it():
    controller = CallController(TurnTaker(greet_after_ms=1000))
    caller = Caller(controller)
    caller.frames(50)
    controller.said()
    caller.frames(1, {0: [VoiceStarted(caller.at_ms)]}, speaking=True)  # "wait,"
    first = caller.count
    caller.frames(20, speaking=True)
    assert caller.frames(13, speaking=True, pause_ms=lambda i: (i + 1) * FRAME_MS) == [ResumeReply(420.0)]
    assert caller.frames(1, speaking=True) == [PauseReply()]  # "...that's not what I asked": held again
    hear = caller.frames(60, speaking=True)[-1]
    assert isinstance(hear, HearWords) and first in frames_in(hear.audio)  # heard with the "wait," before it


def test_a_transfer_that_rings_while_the_reply_is_held_stops_it():
    controller = CallController(TurnTaker(greet_after_ms=1000))
    caller = Caller(controller)
    caller.frames(50)
    controller.said()
    controller.reply_over()  # all of it queued; it plays on
    assert caller.frames(1, {0: [VoiceStarted(caller.at_ms)]}, speaking=True) == [PauseReply()]
    assert controller.hold() == [StopReply(barge_in=True)]  # the held reply does not keep the ringing silent


def test_going_on_before_the_answer_is_heard_joins_both_parts_into_one_turn():
    controller = CallController(TurnTaker(greet_after_ms=60000))
    caller = Caller(controller)
    caller.frames(1, {0: [VoiceStarted(0)]})
    caller.frames(30)
    first = caller.frames(1, {0: [VoiceStopped(caller.at_ms, 600)]})[0]
    first_frames = frames_in(first.audio)
    caller.frames(10)  # the reply is being prepared; nothing said yet
    resumed = caller.frames(1, {0: [VoiceStarted(caller.at_ms)]})
    assert resumed == [StopReply(barge_in=False, forget_turn=True)]
    caller.frames(20)
    second = caller.frames(1, {0: [VoiceStopped(caller.at_ms, 400)]})[0]
    assert isinstance(second, Answer)
    joined = frames_in(second.audio)
    assert joined[:len(first_frames)] == first_frames and joined[-1] == caller.count


def test_going_on_after_a_holding_phrase_keeps_the_first_turn():
    controller = CallController(TurnTaker(greet_after_ms=60000))
    caller = Caller(controller)
    caller.frames(1, {0: [VoiceStarted(0)]})
    caller.frames(30)
    caller.frames(1, {0: [VoiceStopped(caller.at_ms, 600)]})
    controller.said()  # "One moment." went out, then the line went quiet again while the model works
    resumed = caller.frames(1, {0: [VoiceStarted(caller.at_ms)]})
    assert resumed == [PauseReply()]  # may be "okay" to the holding phrase: the answer is held, not dropped
    assert isinstance(caller.frames(50)[-1], HearWords)  # a second of it
    assert caller.frames(1, {0: [WordsHeard("And also the blue one")]}) == [StopReply(barge_in=True,
                                                                                       forget_turn=False)]
    caller.frames(20)
    second = caller.frames(1, {0: [VoiceStopped(caller.at_ms, 400)]})[0]
    assert frames_in(second.audio)[0] > 31 - PRE_ROLL_MS // FRAME_MS  # only the new words (and their pre-roll)


def test_keys_stop_the_reply_and_become_a_turn():
    controller = CallController(TurnTaker(greet_after_ms=1000, keys_end_ms=2500))
    caller = Caller(controller)
    caller.frames(50)
    controller.said()
    out = caller.frames(1, {0: [KeyPressed("4", caller.at_ms)]}, speaking=True)
    assert out == [StopReply(barge_in=True)]
    caller.frames(1, {0: [KeyPressed("2", caller.at_ms)]})
    entered = caller.frames(1, {0: [KeyPressed("#", caller.at_ms)]})
    assert len(entered) == 1 and entered[0].keys == "42" and isinstance(entered[0].turn, KeysEntered)
    assert entered[0].audio is None


def test_a_reply_that_ends_the_call_hangs_up_once_it_has_played():
    controller = CallController(TurnTaker(greet_after_ms=60000))
    caller = Caller(controller)
    caller.frames(1, {0: [VoiceStarted(0)]})
    caller.frames(1, {0: [VoiceStopped(20, 20)]})
    controller.said()
    controller.reply_over(ends_call=True)
    assert caller.frames(3, speaking=True) == []
    assert caller.frames(1) == [Hangup()]


def test_a_placed_call_opens_at_once():
    controller = CallController(TurnTaker(greet_after_ms=2000), opening=True)
    assert controller.start() == [Say("opening", 0.0)]
    controller.said()
    controller.reply_over()
    caller = Caller(controller)
    assert not any(isinstance(c, Say) for c in caller.frames(150))  # no greeting after the opening


def test_on_hold_the_caller_starts_no_turn_and_hears_no_reprompt_then_resume_says_why():
    controller = CallController(TurnTaker(greet_after_ms=60000, still_there_after_ms=1000))
    caller = Caller(controller)
    caller.frames(1, {0: [VoiceStarted(0)]})
    caller.frames(1, {0: [VoiceStopped(20, 20)]})
    controller.said()
    controller.reply_over()
    assert controller.hold() == []  # nothing was being said
    spoken = caller.frames(1, {0: [VoiceStarted(caller.at_ms)]}, speaking=True)
    spoken += caller.frames(100, speaking=lambda n: n % 2 == 0)  # the ringing, and the caller saying "hello?"
    spoken += caller.frames(1, {0: [VoiceStopped(caller.at_ms, 400)]})
    assert spoken == []
    resumed = controller.resume("Nobody could take your call.")
    assert len(resumed) == 1 and resumed[0].phrase == "announcement" and resumed[0].text.startswith("Nobody")
    controller.reply_over()
    caller.frames(1, {0: [VoiceStarted(caller.at_ms)]})
    assert isinstance(caller.frames(1, {0: [VoiceStopped(caller.at_ms, 20)]})[0], Answer)  # listening again


def test_handed_over_the_call_ends_without_a_hang_up():
    controller = CallController(TurnTaker(greet_after_ms=60000))
    caller = Caller(controller)
    controller.hold()
    caller.frames(10)
    controller.hand_over()
    assert controller.ended and controller.handed_over
    assert Hangup() not in caller.frames(10)


# A call the appliance placed, screened for a voicemail first


def screened() -> tuple[CallController, Caller]:
    controller = CallController(TurnTaker(greet_after_ms=2000), opening=True, screen=VoicemailDetector())
    assert controller.start() == []  # the opening waits for a person
    return controller, Caller(controller)


def test_a_person_who_says_hello_then_waits_hears_the_opening_once_their_words_are_in():
    controller, caller = screened()
    caller.frames(10)
    out = caller.frames(1, {0: [VoiceStarted(caller.at_ms)]})
    out += caller.frames(30)
    out += caller.frames(1, {0: [VoiceStopped(caller.at_ms - 700, 600)]})
    assert len(out) == 1 and isinstance(out[0], HearGreeting)
    assert len(frames_in(out[0].audio)) > 30  # "Hello?", with its first syllable
    assert caller.frames(100) == []  # silent long enough, but what they said is not recognised yet
    opened = controller.heard("Hello?")
    assert [c.phrase for c in opened] == ["opening"]
    controller.said()
    controller.reply_over()
    assert controller.turns.position_ms == caller.at_ms  # the turn taker kept the call's time while screening
    caller.frames(1, {0: [VoiceStarted(caller.at_ms)]})
    assert isinstance(caller.frames(1, {0: [VoiceStopped(caller.at_ms, 20)]})[0], Answer)  # a call like any other
    assert controller.ended_by is None


def test_nobody_saying_anything_is_a_person_too():
    controller, caller = screened()
    out = caller.frames(200)
    assert [c.phrase for c in out if isinstance(c, Say)] == ["opening"] and out[0].at_ms == 3000.0


def test_a_voicemail_is_heard_out_then_left_the_message_after_its_beep_and_the_call_ends():
    controller, caller = screened()
    out = caller.frames(1, {0: [VoiceStarted(0)]}) + caller.frames(200)  # a greeting that runs on
    assert out == [VoicemailReached("long greeting")]
    assert controller.ended_by == "voicemail"
    out = caller.frames(1, {0: [VoiceStopped(caller.at_ms - 700, 4000)]}) + caller.frames(20)
    assert len(out) == 1 and isinstance(out[0], HearGreeting)
    controller.heard("Please leave a message after the tone.")
    out = caller.frames(1, {0: [Beep(caller.at_ms - 500, caller.at_ms, 1000.0)]})
    assert out == [Say("voicemail", caller.at_ms, ends=True)]
    controller.said()
    spoken = caller.frames(1, {0: [VoiceStarted(caller.at_ms)]}, speaking=True) + caller.frames(50, speaking=True)
    assert spoken == []  # the voicemail's noise never interrupts the message
    controller.reply_over(ends_call=True)
    assert caller.frames(1) == [Hangup()]
