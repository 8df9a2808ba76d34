"""Who answered a call the appliance placed, a person or a voicemail, as a pure state machine over the call's audio.

It is fed the VAD's events, the beeps heard (`audio/beep.py`) and the words of each stretch of speech once they are
recognised, and answers with what happened. Like `turns.py`, it counts milliseconds of audio, never a clock.

A person answers with a few words ("Hello?", "Yes, speaking") and waits for the caller; a voicemail plays a long
greeting without waiting, says so ("leave a message after the tone") and beeps. So it is a voicemail when one
stretch of speech runs on past `long_greeting_ms`, when the words say so, or at a beep; and it is a person when,
after what they said (its words heard, and none of them a voicemail's), they are silent for
`answered_silence_ms`, or when nobody says anything for `no_greeting_ms`. Every doubt goes to the person: being
greeted by a machine costs nothing, leaving a message to someone who is listening costs the call.

Once it is a voicemail, the message waits for the recording to start: right after the beep, or, with no beep,
after `beep_wait_ms` of silence at the end of the greeting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.audio.beep import Beep
from appliance.vad.segmenter import VoiceStarted, VoiceStopped

# What voicemail greetings say and people answering the phone do not, after normalising (lower case, letters only).
# Not "not available" or "can't come to the phone": someone answering for another person says those too, and
# "would you like to leave a message?" is theirs.
VOICEMAIL_WORDS = re.compile(
    r"\b(?:(?<!like to )(?<!want to )leave (?:me |us )?(?:a |your )?(?:short |brief )?(?:message|name and number)|"
    r"(?:after|at) the (?:tone|beep|signal)|voice ?mail|mail ?box|record your message)\b")


def voicemail_words(text: str) -> bool:
    """Whether these words are a voicemail's greeting ("please leave a message after the tone")."""
    return bool(VOICEMAIL_WORDS.search(" ".join(re.sub(r"[^a-z]+", " ", text.lower()).split())))


@dataclass(frozen=True)
class PersonAnswered:
    """A person answered: speak to them."""

    at_ms: float


@dataclass(frozen=True)
class VoicemailAnswered:
    """A voicemail answered; `why`: `long greeting`, `words` or `beep`."""

    at_ms: float
    why: str


@dataclass(frozen=True)
class LeaveMessage:
    """The voicemail is recording: say the message now. `after`: `beep`, `greeting` (it ended, and no beep came)
    or `waiting` (the greeting never ended)."""

    at_ms: float
    after: str


class VoicemailDetector:
    """Feed `advance()` with each stretch of audio's events and `heard()` with the words of each stretch of speech
    (one call per `VoiceStopped`, "" when they could not be recognised); both return what was decided."""

    def __init__(self, long_greeting_ms: float = 3500, answered_silence_ms: float = 1000,
                 no_greeting_ms: float = 3000, listen_max_ms: float = 12000, beep_wait_ms: float = 2500,
                 message_max_wait_ms: float = 45000):
        self.long_greeting_ms = long_greeting_ms
        self.answered_silence_ms = answered_silence_ms
        self.no_greeting_ms = no_greeting_ms
        self.listen_max_ms = listen_max_ms  # no decision by then, and quiet now: a person
        self.beep_wait_ms = beep_wait_ms
        self.message_max_wait_ms = message_max_wait_ms
        self.position_ms = 0.0
        self.verdict: str | None = None  # "person" or "voicemail"
        self.why = ""
        self.done = False  # a person was found, or the message is due: nothing more to decide
        self.speaking = False
        self._speech_start = 0.0
        self._speech_end: float | None = None  # where the last stretch of speech ended; None: none yet
        self.unheard = 0  # stretches of speech whose words are not in yet
        self.words: list[str] = []
        self.recording_after = ""  # what showed the voicemail was recording (LeaveMessage.after), once it did

    def advance(self, duration_ms: float, events: list) -> list:
        """Move on by `duration_ms` of audio with the events it held (VAD events, beeps; others are ignored)."""
        self.position_ms += duration_ms
        out: list = []
        for event in events:
            if isinstance(event, VoiceStarted):
                self.speaking, self._speech_start = True, event.at_ms
            elif isinstance(event, VoiceStopped) and self.speaking:
                self.speaking, self._speech_end = False, event.at_ms
                self.unheard += 1
            elif isinstance(event, Beep) and not self.done:
                out += self._voicemail("beep") + self._leave("beep")
        if self.done:
            return out
        if self.verdict is None:
            out += self._listen()
        if self.verdict == "voicemail" and not self.done:
            quiet_ms = self.position_ms - self._speech_end if self._speech_end is not None else 0.0
            if not self.speaking and quiet_ms >= self.beep_wait_ms:
                out += self._leave("greeting")
            elif self.position_ms >= self.message_max_wait_ms:
                out += self._leave("waiting")
        return out

    def heard(self, text: str) -> list:
        """The words of the oldest stretch of speech not yet heard."""
        self.unheard = max(self.unheard - 1, 0)
        self.words.append(text)
        if self.verdict is not None:
            return []
        return self._voicemail("words") if voicemail_words(text) else self._listen()

    def _listen(self) -> list:
        """No verdict yet: is it one now?"""
        if self.speaking:
            if self.position_ms - self._speech_start >= self.long_greeting_ms:
                return self._voicemail("long greeting")
            return []
        if self.position_ms >= self.listen_max_ms:
            return self._person()
        if self.unheard:
            return []  # the words of what was said may yet show a voicemail
        if self._speech_end is None:
            return self._person() if self.position_ms >= self.no_greeting_ms else []
        return self._person() if self.position_ms - self._speech_end >= self.answered_silence_ms else []

    def _person(self) -> list:
        self.verdict, self.done = "person", True
        return [PersonAnswered(self.position_ms)]

    def _voicemail(self, why: str) -> list:
        if self.verdict is not None:
            return []
        self.verdict, self.why = "voicemail", why
        return [VoicemailAnswered(self.position_ms, why)]

    def _leave(self, after: str) -> list:
        self.done, self.recording_after = True, after
        return [LeaveMessage(self.position_ms, after)]
