"""What a call does next, as a state machine with no I/O: what happened goes in, commands come out.

The runner (`session.py`) feeds the controller each 20 ms frame of the caller's audio with the VAD's events
and keys, and tells it when the appliance has said something and when a reply is over. The controller
answers with commands: say a phrase, answer a turn, ask the end-of-turn model about a pause, start
recognising a turn early, forget those early starts, hold the reply silent while the caller's voice over it may be
only "mm-hm", hear that voice's words, go on with the reply, stop it, hang up. It keeps the turn's audio and
decides every interruption; the runner only carries out. While a transfer rings the controller is on hold:
the caller's words start no turn. A call handed over to a person ends here without a hang-up. A call the
appliance placed may first be screened (`voicemail.py`): what the called party says is only listened to,
until a person is heard (the opening is said) or a voicemail is recording (the message is left, then the call
ends). Nothing here waits or reads a clock, so whole calls are tested by feeding it frames.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from appliance.audio import FRAME_MS
from appliance.call.turns import (
    Backchannel,
    BargeIn,
    Greet,
    HearOverlap,
    KeysEntered,
    KeysStarted,
    ReplyHeld,
    Reprompt,
    SilenceHangup,
    TurnEnded,
    TurnStarted,
    TurnTaker,
)
from appliance.call.voicemail import LeaveMessage, PersonAnswered, VoicemailAnswered, VoicemailDetector
from appliance.vad.segmenter import VoiceStarted, VoiceStopped

PRE_ROLL_MS = 300  # audio kept from before the VAD is sure the caller speaks: the turn's first syllable
EARLY_STT_MS = 240  # a pause this long starts speech recognition before the turn is sure to be over


@dataclass(frozen=True)
class Say:
    """Say one of the conversation's phrases: `opening`, `greeting`, `reprompt` (are you still there?),
    `goodbye`, `quiet_goodbye` (to a caller who went quiet) or `voicemail` (the message a voicemail is left); or,
    as `announcement`, the `text` given (what the call service has to tell the caller)."""

    phrase: str
    at_ms: float
    ends: bool = False  # the call ends once it has been said
    text: str = ""


@dataclass(frozen=True)
class Answer:
    """Answer the caller's turn: its audio to recognise, or the digits keyed (`keys`, with no audio)."""

    turn: TurnEnded | KeysEntered
    decided_ms: float
    audio: np.ndarray | None = None
    keys: str | None = None
    early: bool = False  # the recognition started early (by `Recognise`) is of this very audio: use it


@dataclass(frozen=True)
class Recognise:
    """The caller paused: start recognising this audio now; an `Answer` with `early` will want the result."""

    audio: np.ndarray


@dataclass(frozen=True)
class JudgeTurn:
    """The caller paused: ask the end-of-turn model whether this audio is a finished turn. Its answer is about
    this pause only."""

    audio: np.ndarray


@dataclass(frozen=True)
class ForgetEarly:
    """The caller went on after the pause: the early recognition misses words, and the end-of-turn model's
    answer is about a pause that is over; drop both."""


@dataclass(frozen=True)
class HearGreeting:
    """The called party of a call being screened said something: recognise it, and report its words with
    `CallController.heard()` (a voicemail's greeting says so)."""

    audio: np.ndarray


@dataclass(frozen=True)
class VoicemailReached:
    """The call the appliance placed reached a voicemail (`why`: long greeting, words, beep); its message will be
    left once it records."""

    why: str


@dataclass(frozen=True)
class StopReply:
    """Stop the reply in progress and the audio playing. `forget_turn`: the caller went on speaking before
    anything was said to their turn, so it is not a turn of its own; its audio joins the next one."""

    barge_in: bool
    forget_turn: bool = False


@dataclass(frozen=True)
class HearWords:
    """The caller's voice over the reply has gone on: recognise this audio of it, and give the turn taker the
    words as `WordsHeard`."""

    audio: np.ndarray


@dataclass(frozen=True)
class PauseReply:
    """The caller's voice began over the reply: send silence instead of it, keeping what is queued."""


@dataclass(frozen=True)
class ResumeReply:
    """That voice was a backchannel, `heard_ms` long: go on with the reply from where it was held."""

    heard_ms: float = 0.0


@dataclass(frozen=True)
class Hangup:
    """Everything has been said: hang up."""


class CallController:
    """The call's decisions. Feed `frame()` with each frame; report `said()` and `reply_over()`."""

    def __init__(self, turns: TurnTaker | None = None, opening: bool = False, judge_after_ms: float | None = None,
                 screen: VoicemailDetector | None = None):
        self.turns = turns or TurnTaker()
        self.opening = opening  # a call the appliance placed: it speaks first, at once (or once a person is heard)
        self.screen = screen  # who answered a placed call is heard first; None: nobody is screened
        self.screening = screen is not None  # listening only: until a person is heard, or to the end on a voicemail
        self.judge_after_ms = judge_after_ms  # a pause this long is judged by the end-of-turn model; None: no model
        self.ended = False
        self._ring: deque = deque(maxlen=PRE_ROLL_MS // FRAME_MS)
        self._collecting: list | None = None  # the turn being spoken
        self._held: list = []  # audio of a turn whose reply was dropped because the caller went on
        self._early = False
        self._judging = False  # the end-of-turn model was asked about this pause
        self._ending = False
        self._replying = False  # a Say or Answer is being carried out
        self._reply_audio: list | None = None  # the audio of the turn being answered
        self._reply_said = False
        self.on_hold = False
        self.handed_over = False
        self.ended_by: str | None = None  # why the appliance ended the call: `silence`, `voicemail`; None: other

    def start(self) -> list:
        """The line is connected."""
        if not self.opening:
            return []
        self.turns.greeted = True
        return [] if self.screening else self._reply(Say("opening", 0.0))

    def frame(self, frame: np.ndarray, events: list, *, speaking: bool, pause_ms: float) -> list:
        """One frame of the caller's audio, the VAD's events and keys in it, whether the line is playing the
        appliance's audio and how long the caller has paused mid-turn (0 while they speak)."""
        if self.ended:
            return []
        if self._collecting is not None:
            self._collecting.append(frame)
        else:
            self._ring.append(frame)
        if self.on_hold:  # the caller hears the ringing of a transfer: nothing they say is a turn, and no reprompt
            self.turns.advance(FRAME_MS, events, thinking=True, pause_ms=pause_ms)
            self._collecting, self._held, self._early, self._judging = None, [], False, False
            return []
        # A reply that has begun is being said even between its sentences, or after "One moment." while the answer
        # is prepared: voice then may be a backchannel to it. Before it has said anything, voice is the caller going on.
        speaking = speaking or (self._replying and self._reply_said)
        thinking = self._replying and not speaking
        if self.screening:  # a callback listening to who answered, before it says anything
            out = self._screen(events)
        else:
            out = []
            for decision in self.turns.advance(FRAME_MS, events, thinking=thinking, speaking=speaking,
                                               pause_ms=pause_ms):
                out += self._decide(decision, thinking, speaking)
            if self._collecting is not None and not self.turns.caller_speaking:
                self._collecting = None  # a backchannel ended as a turn would: its audio is nobody's turn
            out += self._speculate(pause_ms)
        if self._ending and not self._replying and not speaking:
            self.ended = True
            out.append(Hangup())
        return out

    def heard(self, text: str) -> list:
        """The words of the oldest `HearGreeting` not yet reported ("" when they could not be recognised)."""
        if self.screen is None:
            return []
        decided = self.screen.heard(text)
        return [] if self.ended else [command for decision in decided for command in self._screened(decision)]

    def said(self) -> None:
        """The reply in progress put something on the line."""
        self._reply_said = True

    def hold(self) -> list:
        """A transfer is ringing: stop what is being said; the caller's words are not answered until `resume`."""
        out = self._stop(barge_in=True, speaking=True) if self._replying or self.turns.overlapping else []
        self.on_hold = True
        return out

    def resume(self, text: str) -> list:
        """The transfer did not happen: tell the caller `text`, and listen to them again."""
        self.on_hold = False
        return self._reply(Say("announcement", self.turns.position_ms, text=text))

    def hand_over(self) -> None:
        """The caller is connected to a person: the call goes on without the appliance, which does not hang up."""
        self.on_hold, self.handed_over, self.ended = False, True, True

    def reply_over(self, ends_call: bool = False) -> None:
        """The reply in progress finished (or failed, or was stopped); `ends_call`: it was the last word."""
        self._replying = False
        self._ending = self._ending or ends_call

    def _decide(self, decision, thinking: bool, speaking: bool) -> list:
        if isinstance(decision, ReplyHeld):
            if self._collecting is None:
                self._collect()  # should it be an interruption, its first words are the turn's
            return [PauseReply()]
        if isinstance(decision, HearOverlap):
            if self._collecting is None:  # a transfer rang meanwhile, and kept nothing
                self._collect()
            return [HearWords(np.concatenate(self._collecting))]
        if isinstance(decision, Backchannel):  # its audio is kept until its end: "wait," may go on
            return [ResumeReply(decision.end_ms - decision.start_ms)]
        if isinstance(decision, (TurnStarted, BargeIn)):
            out = []
            if isinstance(decision, BargeIn) or thinking:
                out = self._stop(barge_in=isinstance(decision, BargeIn), speaking=speaking)
            if self._collecting is None:
                self._collect()
            return out
        if isinstance(decision, TurnEnded) and self._collecting is not None:
            audio = self._held + self._collecting
            self._held, self._collecting = [], None
            early, self._early, self._judging = self._early, False, False
            self._reply_audio = audio
            return self._reply(Answer(decision, self.turns.position_ms, np.concatenate(audio), early=early))
        if isinstance(decision, KeysStarted):
            return self._stop(barge_in=True, speaking=speaking)  # keying over a reply stops it, as speaking does
        if isinstance(decision, KeysEntered):
            return self._reply(Answer(decision, self.turns.position_ms, keys=decision.keys))
        if isinstance(decision, Greet):
            return self._reply(Say("greeting", decision.at_ms))
        if isinstance(decision, Reprompt):
            return self._reply(Say("reprompt", decision.at_ms))
        if isinstance(decision, SilenceHangup):
            self._ending, self.ended_by = True, "silence"
            return self._reply(Say("quiet_goodbye", decision.at_ms, ends=True))
        return []

    def _screen(self, events: list) -> list:
        """A frame of a call being screened: the called party's speech is only collected to be recognised, and the
        screen decides. The turn taker keeps time with the call's audio but greets and asks nobody meanwhile."""
        self.turns.advance(FRAME_MS, [], thinking=True)
        out: list = []
        for event in events:
            if isinstance(event, VoiceStarted):
                self._collecting = list(self._ring)
                self._ring.clear()
            elif isinstance(event, VoiceStopped) and self._collecting is not None:
                out.append(HearGreeting(np.concatenate(self._collecting)))
                self._collecting = None
        return out + [command for decision in self.screen.advance(FRAME_MS, events)
                      for command in self._screened(decision)]

    def _screened(self, decision) -> list:
        if isinstance(decision, PersonAnswered):
            self.screening, self._collecting = False, None
            return self._reply(Say("opening", decision.at_ms))
        if isinstance(decision, VoicemailAnswered):
            self.ended_by = "voicemail"
            return [VoicemailReached(decision.why)]
        if isinstance(decision, LeaveMessage):
            self._ending = True
            return self._reply(Say("voicemail", decision.at_ms, ends=True))
        return []

    def _collect(self) -> None:
        """The caller's voice began: keep its audio from the pre-roll on."""
        self._collecting = list(self._ring)
        self._ring.clear()

    def _reply(self, command) -> list:
        """Start a reply; one already in progress (a reprompt as a late answer lands) is stopped first."""
        out = [StopReply(barge_in=False)] if self._replying else []
        self._replying, self._reply_said = True, False
        if not isinstance(command, Answer) or command.audio is None:
            self._reply_audio = None
        return out + [command]

    def _stop(self, barge_in: bool, speaking: bool) -> list:
        if not self._replying and not speaking:
            return []
        forget = not barge_in and self._replying and self._reply_audio is not None and not self._reply_said
        if forget:
            self._held = self._reply_audio
        self._replying, self._reply_audio = False, None
        return [StopReply(barge_in, forget_turn=forget)]

    def _speculate(self, pause_ms: float) -> list:
        """In a pause, ask whether the turn is finished and start recognising it; drop both if the caller goes on.
        Voice over the reply that may be, or was, a backchannel is no turn yet."""
        if self._collecting is None or self.turns.overlapping or self.turns.after_backchannel:
            return []
        if pause_ms == 0.0:
            if self._early or self._judging:
                self._early = self._judging = False
                return [ForgetEarly()]
            return []
        out: list = []
        if not self._judging and self.judge_after_ms is not None and pause_ms >= self.judge_after_ms:
            self._judging = True
            out.append(JudgeTurn(np.concatenate(self._held + self._collecting)))
        if not self._early and pause_ms >= EARLY_STT_MS:
            self._early = True
            out.append(Recognise(np.concatenate(self._held + self._collecting)))
        return out
