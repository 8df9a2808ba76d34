"""Turn taking as a pure state machine over the call's audio time: greeting, a quiet caller, barge-in, end of turn.

It is fed the VAD's events for each stretch of line audio and whether the appliance is thinking or
speaking, and answers with what should happen. It counts milliseconds of audio, never a clock, so the
call session's timing is tested without sleeping.

Voice over the appliance's own is not yet an interruption. People say "mm-hm", "yeah", "okay" while listening,
and the start of a voice does not say whether it is one of those or "wait, that's not what I asked". So the reply
is held silent at once (the caller hears it stop as soon as the VAD is sure of a voice), and then:

- voice that ends before `interrupt_after_ms`, followed by `backchannel_gap_ms` of quiet, was a backchannel (a
  hum, "yeah", a cough the VAD took for a voice): it is no turn, and the reply goes on. Its words are not asked
  for: a recognizer hears a hum as "M.M." or "in a minute", and can take seconds over it.
- voice that goes on for `interrupt_after_ms` has its words heard: nothing but backchannels ("okay, sure, sure")
  keeps it a backchannel, heard again after as long again; any other word makes it an interruption. The reply
  stops for good, and what the caller says is their turn.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.audio.dtmf import KeyPressed
from appliance.call.backchannel import is_backchannel
from appliance.vad.segmenter import VoiceStarted, VoiceStopped


@dataclass(frozen=True)
class Greet:
    """The caller has been silent since the call began: greet them."""

    at_ms: float


@dataclass(frozen=True)
class Reprompt:
    """The caller has been silent since the appliance last spoke: ask, once, whether they are still there."""

    at_ms: float


@dataclass(frozen=True)
class SilenceHangup:
    """Still silent after that question: the caller has gone. Say goodbye and hang up."""

    at_ms: float


@dataclass(frozen=True)
class TurnStarted:
    """The caller began speaking at `at_ms`."""

    at_ms: float


@dataclass(frozen=True)
class ReplyHeld:
    """The caller's voice began at `at_ms` over the appliance's: hold the reply silent until it is known whether
    they interrupt."""

    at_ms: float


@dataclass(frozen=True)
class HearOverlap:
    """The voice over the reply, from `at_ms`, has gone on long enough that its words say what it is: hear them
    (and tell the turn taker with `WordsHeard`)."""

    at_ms: float


@dataclass(frozen=True)
class WordsHeard:
    """The words of the voice over the reply, as asked by `HearOverlap`; None: the recognizer failed."""

    text: str | None


@dataclass(frozen=True)
class Backchannel:
    """The voice over the reply, from `start_ms` to `end_ms`, was too short to interrupt ("mm-hm", "okay", a
    cough): it is no turn; go on with the reply."""

    start_ms: float
    end_ms: float


@dataclass(frozen=True)
class BargeIn:
    """The caller began speaking at `at_ms` over the appliance's voice and went on long enough to interrupt: stop
    the reply; what they say is their turn."""

    at_ms: float


@dataclass(frozen=True)
class TurnEnded:
    """The caller's turn: speech from `start_ms` to `end_ms` of the call's audio, ended by `silence` or by the
    end-of-turn `model`."""

    start_ms: float
    end_ms: float
    ended_by: str = "silence"


@dataclass(frozen=True)
class KeysStarted:
    """The caller began keying digits: stop any reply that is playing."""

    at_ms: float


@dataclass(frozen=True)
class KeysEntered:
    """The caller's keyed entry, ended by `#` or by a pause: a turn of its own."""

    keys: str
    start_ms: float
    end_ms: float


# Backchannels mostly last 0.3-0.9 s ("mm-hm", "yeah", "I see"), an interruption rarely under a second ("wait, that's
# not what I asked", "no no, I want a person"); a lone word that means stop ("wait.") is heard once the caller
# says more. Voice longer than this is judged by its words.
INTERRUPT_AFTER_MS = 1000
# A pause this long ends a short voice: longer than most pauses between words, short enough that the reply, held
# through a backchannel, goes on before it sounds like it gave up. After a longer one ("wait, | that's not...") the
# reply goes on for the moment the VAD needs to hear the voice again, and the words after it are heard with it.
BACKCHANNEL_GAP_MS = 250


class TurnTaker:
    """Decides, from the audio timeline, when the appliance greets, asks whether the caller is still there, holds,
    stops or hangs up.

    A caller who goes quiet is asked once, `still_there_after_ms` after the appliance stopped speaking; one who
    stays quiet `goodbye_after_ms` after that question has gone (a dropped signal, a phone put down), and the call
    ends. Asking more than once only keeps an empty line busy; anything the caller says or keys starts over.

    `interrupt_after_ms`: voice over the appliance's this long (its short pauses included) is heard for its words,
    or with `hear_words` off, interrupts at once; 0 stops the reply at the first voice, as the appliance once did.
    `backchannel_gap_ms`: quiet after a shorter voice that lets the reply go on."""

    def __init__(self, greet_after_ms: float = 800, still_there_after_ms: float = 8000,
                 goodbye_after_ms: float = 6000, keys_end_ms: float = 2500,
                 interrupt_after_ms: float = INTERRUPT_AFTER_MS, backchannel_gap_ms: float = BACKCHANNEL_GAP_MS,
                 hear_words: bool = True):
        self.interrupt_after_ms = interrupt_after_ms
        self.hear_words = hear_words
        self.backchannel_gap_ms = backchannel_gap_ms
        self.greet_after_ms = greet_after_ms
        self.still_there_after_ms = still_there_after_ms
        self.goodbye_after_ms = goodbye_after_ms
        self.keys_end_ms = keys_end_ms
        self.keys = ""
        self._keys_start = self._last_key = 0.0
        self.position_ms = 0.0
        self.quiet_ms = 0.0
        self.greeted = False
        self.caller_spoke = False
        self.caller_speaking = False
        self.asked = False  # whether the caller was asked if they are still there, since they last spoke
        self.hung_up = False
        self._turn_start = 0.0
        self._overlap: float | None = None  # where voice over the reply began, while it is not yet known what it is
        self._words_after = 0.0  # how long that voice may go on before its words are heard (again)
        self._hearing = False  # its words are asked for
        self._backchannel = False  # the caller's voice since then was a backchannel: its end is no turn's end

    @property
    def overlapping(self) -> bool:
        """Whether the reply is held while the caller's voice over it is not yet an interruption or a backchannel."""
        return self._overlap is not None

    @property
    def after_backchannel(self) -> bool:
        """Whether the caller's voice was a backchannel and has not yet ended as a turn would: voice again now (after a
        comma: "wait, | that's not...") goes on from it."""
        return self._backchannel

    def advance(self, duration_ms: float, events: list, *, thinking: bool = False, speaking: bool = False,
                pause_ms: float = 0.0) -> list:
        """Move on by `duration_ms` of line audio with the VAD `events` it held; return what to do. `pause_ms`: how
        long the caller has been quiet in the middle of their voice (0 while they speak)."""
        self.position_ms += duration_ms
        out: list = []
        for event in events:
            if isinstance(event, VoiceStarted):
                self.caller_speaking = self.caller_spoke = True
                self.asked = False
                self._turn_start = event.at_ms
                out += self._voice(event.at_ms, speaking)
            elif isinstance(event, VoiceStopped) and self.caller_speaking:
                self.caller_speaking = False
                if self._overlap is not None:  # unheard words at the end of a turn: an interruption, to be answered
                    out.append(self._interrupted() if self._hearing else self._heard_out(event.at_ms))
                if self._backchannel:
                    self._backchannel = False
                else:
                    out.append(TurnEnded(self._turn_start, event.at_ms, event.ended_by))
            elif isinstance(event, WordsHeard) and self._hearing:
                self._hearing = False
                if not is_backchannel(event.text):
                    out.append(self._interrupted())
            elif isinstance(event, KeyPressed):
                out += self._key(event)
        if self._overlap is not None and not self._hearing:
            heard_until = self.position_ms - pause_ms
            if heard_until - self._overlap >= self._words_after:
                if self.hear_words:
                    self._hearing, self._words_after = True, self._words_after + self.interrupt_after_ms
                    out.append(HearOverlap(self._overlap))
                else:
                    out.append(self._interrupted())
            elif pause_ms >= self.backchannel_gap_ms:
                out.append(self._heard_out(heard_until))
        elif self._backchannel and self.caller_speaking and pause_ms == 0.0:
            self._backchannel = False  # voice again in the same turn of the VAD's: "wait, | that's not..."
            out += self._voice(self.position_ms - duration_ms, speaking)
        if self.keys and self.position_ms - self._last_key >= self.keys_end_ms:
            out.append(KeysEntered(self.keys, self._keys_start, self._last_key))
            self.keys = ""
        if self.caller_speaking or self.keys or thinking or speaking or self.hung_up:
            self.quiet_ms = 0.0
            return out
        self.quiet_ms += duration_ms
        if not self.greeted and not self.caller_spoke:
            if self.quiet_ms >= self.greet_after_ms:
                self.greeted = True
                self.quiet_ms = 0.0
                out.append(Greet(self.position_ms))
        elif not self.asked:
            if self.quiet_ms >= self.still_there_after_ms:
                self.asked = True
                self.quiet_ms = 0.0
                out.append(Reprompt(self.position_ms))
        elif self.quiet_ms >= self.goodbye_after_ms:
            self.hung_up = True
            out.append(SilenceHangup(self.position_ms))
        return out

    def _voice(self, at_ms: float, speaking: bool) -> list:
        """The caller's voice began at `at_ms`: a turn, or over the appliance's voice, a reply held or stopped."""
        if not speaking:
            return [TurnStarted(at_ms)]
        if self.interrupt_after_ms <= 0:
            return [BargeIn(at_ms)]
        self._overlap, self._words_after = at_ms, self.interrupt_after_ms
        return [ReplyHeld(at_ms)]

    def _heard_out(self, end_ms: float) -> Backchannel:
        """The voice over the reply ended, and was no interruption."""
        start, self._overlap, self._backchannel = self._overlap, None, True
        return Backchannel(start, end_ms)

    def _interrupted(self) -> BargeIn:
        """The voice over the reply is an interruption."""
        start, self._overlap, self._hearing = self._overlap, None, False
        return BargeIn(start)

    def _key(self, event: KeyPressed) -> list:
        self.caller_spoke = True
        self.asked = False
        started = [] if self.keys else [KeysStarted(event.at_ms)]
        self._last_key = event.at_ms
        if not self.keys:
            self._keys_start = event.at_ms
        if event.key == "#":  # the usual end of an entry; a lone # enters nothing
            entry, self.keys = self.keys, ""
            return started + ([KeysEntered(entry, self._keys_start, event.at_ms)] if entry else [])
        self.keys += event.key
        return started
