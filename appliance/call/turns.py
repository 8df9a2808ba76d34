"""Turn taking as a pure state machine over the call's audio time: greeting, a quiet caller, barge-in, end of turn.

It is fed the VAD's events for each stretch of line audio and whether the appliance is thinking or
speaking, and answers with what should happen. It counts milliseconds of audio, never a clock, so the
call session's timing is tested without sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.audio.dtmf import KeyPressed
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
class BargeIn:
    """The caller began speaking at `at_ms` while the appliance was speaking: stop the reply."""

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


class TurnTaker:
    """Decides, from the audio timeline, when the appliance greets, asks whether the caller is still there, stops
    or hangs up.

    A caller who goes quiet is asked once, `still_there_after_ms` after the appliance stopped speaking; one who
    stays quiet `goodbye_after_ms` after that question has gone (a dropped signal, a phone put down), and the call
    ends. Asking more than once only keeps an empty line busy; anything the caller says or keys starts over.
    """

    def __init__(self, greet_after_ms: float = 2000, still_there_after_ms: float = 8000,
                 goodbye_after_ms: float = 6000, keys_end_ms: float = 2500):
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

    def advance(self, duration_ms: float, events: list, *, thinking: bool = False, speaking: bool = False) -> list:
        """Move on by `duration_ms` of line audio with the VAD `events` it held; return what to do."""
        self.position_ms += duration_ms
        out: list = []
        for event in events:
            if isinstance(event, VoiceStarted):
                self.caller_speaking = self.caller_spoke = True
                self.asked = False
                self._turn_start = event.at_ms
                out.append(BargeIn(event.at_ms) if speaking else TurnStarted(event.at_ms))
            elif isinstance(event, VoiceStopped) and self.caller_speaking:
                self.caller_speaking = False
                out.append(TurnEnded(self._turn_start, event.at_ms, event.ended_by))
            elif isinstance(event, KeyPressed):
                out += self._key(event)
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
