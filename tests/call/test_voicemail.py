"""Who answered a placed call: the detector alone on made timelines, then the real VAD, beep detector and Whisper on
the audio of people answering and of voicemail greetings, through the call's controller."""

import numpy as np
import pytest

from appliance.audio import FRAME_MS
from appliance.audio.beep import Beep, BeepDetector
from appliance.call.controller import CallController, HearGreeting, Say, VoicemailReached
from appliance.call.turns import TurnTaker
from appliance.call.voicemail import LeaveMessage, PersonAnswered, VoicemailAnswered, VoicemailDetector, voicemail_words
from appliance.vad import VoiceDetector
from appliance.vad.segmenter import VoiceStarted, VoiceStopped

FRAME = 160


class Timeline:
    """Feeds a detector 20 ms at a time; `events_at` maps a position (ms) to the events of the frame ending there."""

    def __init__(self, detector: VoicemailDetector):
        self.detector = detector
        self.decided: list = []

    def run_to(self, until_ms: float, events_at: dict | None = None) -> list:
        out = []
        while self.detector.position_ms < until_ms:
            at = self.detector.position_ms + FRAME_MS
            out += self.detector.advance(FRAME_MS, (events_at or {}).get(at, []))
        self.decided += out
        return out

    def heard(self, text: str) -> list:
        out = self.detector.heard(text)
        self.decided += out
        return out


def said(start_ms: float, end_ms: float) -> dict:
    """The VAD's events for speech from `start_ms` to `end_ms`: started 60 ms in, stopped after 700 ms of silence."""
    return {start_ms + 60: [VoiceStarted(start_ms)], end_ms + 700: [VoiceStopped(end_ms, end_ms - start_ms)]}


# The detector alone


def test_a_short_hello_then_silence_is_a_person_once_their_words_are_heard():
    line = Timeline(VoicemailDetector())
    assert line.run_to(3000, said(400, 900)) == []  # silent 2.1 s, but "Hello?" is still being recognised
    assert line.heard("Hello?") == [PersonAnswered(3000)]
    assert line.detector.verdict == "person" and line.run_to(20000, {5000: [Beep(4500, 5000, 1000)]}) == []


@pytest.mark.parametrize("words", ["Hello?", "Yes, speaking.", "Hello, Sam speaking.", "Hi, who's this?", ""])
def test_people_answering_are_people_after_a_second_of_silence(words):
    line = Timeline(VoicemailDetector())
    line.run_to(2200, said(300, 1500))
    line.heard(words)
    assert line.run_to(10000) == [PersonAnswered(2500)]  # 1 s after their last word


def test_nobody_saying_anything_for_three_seconds_is_a_person():
    assert Timeline(VoicemailDetector()).run_to(10000) == [PersonAnswered(3000)]


def test_a_long_unbroken_greeting_is_a_voicemail_and_the_message_follows_its_beep():
    line = Timeline(VoicemailDetector())
    events = said(200, 7000) | {8500: [Beep(8000, 8500, 1000.0)]}
    assert line.run_to(3700, events) == [VoicemailAnswered(3700, "long greeting")]  # 3.5 s into it
    line.run_to(7700, events)
    line.heard("Hi, this is Sam. I can't take your call. Please leave a message after the tone.")
    assert line.run_to(20000, events) == [LeaveMessage(8500, "beep")]


def test_with_no_beep_the_message_starts_once_the_greeting_has_been_over_for_a_while():
    line = Timeline(VoicemailDetector())
    line.run_to(20000, said(200, 6000))
    assert line.decided == [VoicemailAnswered(3700, "long greeting"), LeaveMessage(8500, "greeting")]


def test_a_short_greeting_is_a_voicemail_by_its_words_or_by_its_beep():
    line = Timeline(VoicemailDetector())
    line.run_to(2400, said(300, 1700))
    assert line.heard("Leave a message.") == [VoicemailAnswered(2400, "words")]
    assert line.run_to(5000, {3000: [Beep(2500, 3000, 950.0)]}) == [LeaveMessage(3000, "beep")]
    beeped = Timeline(VoicemailDetector())
    assert beeped.run_to(5000, {1000: [Beep(500, 1000, 1400.0)]}) == [
        VoicemailAnswered(1000, "beep"), LeaveMessage(1000, "beep")]  # no greeting at all, just the beep


def test_a_greeting_in_two_parts_waits_for_the_words_of_each():
    line = Timeline(VoicemailDetector())
    events = said(300, 1500) | said(2300, 3200)  # "Hi, it's Alex." ... "Leave your message after the beep."
    line.run_to(2300, events)
    assert line.heard("Hi, it's Alex.") == []  # they are speaking again
    line.run_to(4500, events)
    assert line.heard("Leave your message after the beep.") == [VoicemailAnswered(4500, "words")]


def test_someone_talking_on_in_short_bursts_is_a_person_by_the_listening_limit():
    line = Timeline(VoicemailDetector())
    events = {}
    for start in range(300, 12000, 2200):  # 1.5 s of words, then 0.7 s of pause, again and again
        events |= said(start, start + 1500)
    line.run_to(16000, events)
    assert [type(d) for d in line.decided] == [PersonAnswered] and line.decided[0].at_ms >= 12000


def test_a_greeting_that_never_ends_still_gets_the_message():
    line = Timeline(VoicemailDetector(message_max_wait_ms=30000))
    line.run_to(60000, said(200, 59000))
    assert line.decided == [VoicemailAnswered(3700, "long greeting"), LeaveMessage(30000, "waiting")]


@pytest.mark.parametrize("words", [
    "Hi, you've reached Sam. Please leave a message after the tone.", "Leave your name and number.",
    "The person you are calling is not available. At the tone, please record your message.",
    "Welcome to the Vodafone voicemail service.", "The mailbox is full."])
def test_a_voicemails_words_are_known(words):
    assert voicemail_words(words)


@pytest.mark.parametrize("words", [
    "Hello?", "Yes, speaking.", "Hello, John's phone, he's not available, would you like to leave a message?",
    "Sorry, she can't come to the phone right now.", "Hi, you've reached Acme Plumbing, this is Dana.", ""])
def test_a_persons_words_are_not_a_voicemails(words):
    assert not voicemail_words(words)


# From audio: Silero VAD, the beep detector and Whisper through the controller, as a placed call runs them


def screen(audio: np.ndarray, vad_model, whisper) -> tuple[list, list[str]]:
    """Run a placed call's screening over `audio`; the controller's commands (HearGreeting carried out at once)
    and the words recognised."""
    vad, beeps = VoiceDetector(vad_model), BeepDetector()
    controller = CallController(TurnTaker(), opening=True, screen=VoicemailDetector())
    assert controller.start() == []
    commands, words = [], []
    for offset in range(0, len(audio), FRAME):
        frame = audio[offset:offset + FRAME]
        out = controller.frame(frame, vad.process(frame) + beeps.process(frame), speaking=False, pause_ms=0.0)
        for command in out:
            if isinstance(command, HearGreeting):
                words.append(whisper.transcribe(command.audio, 8000).text)
                out += controller.heard(words[-1])
        commands += [command for command in out if not isinstance(command, HearGreeting)]
        if any(isinstance(command, Say) for command in commands):
            break
    return commands, words


@pytest.fixture(scope="module")
def vad_model(store):
    return store.checked_path("vad")


def silence(ms: float) -> np.ndarray:
    return np.zeros(int(8 * ms), np.int16)


def beep(hz: float = 1000.0, ms: float = 500.0) -> np.ndarray:
    t = np.arange(int(8 * ms)) / 8000
    return (np.sin(2 * np.pi * hz * t) * 0.3 * 32767).astype(np.int16)


@pytest.mark.parametrize("words", ["Hello?", "Yes, speaking.", "Hello, this is Priya."])
def test_a_person_saying_a_few_words_then_waiting_hears_the_opening(vad_model, whisper, speak, words):
    commands, heard = screen(np.concatenate([speak(words), silence(8000)]), vad_model, whisper)
    assert [c.phrase for c in commands] == ["opening"], (commands, heard)


def test_a_voicemail_greeting_and_its_beep_get_the_message_after_the_beep(vad_model, whisper, speak):
    greeting = speak("Hi, you have reached the Lee family. We can't come to the phone right now. "
                     "Please leave a message after the tone.")
    commands, heard = screen(np.concatenate([greeting, silence(600), beep(), silence(8000)]), vad_model, whisper)
    assert commands[0] == VoicemailReached("long greeting"), (commands, heard)
    assert [type(c) for c in commands] == [VoicemailReached, Say] and commands[1].phrase == "voicemail"
    beep_end_ms = (len(greeting) / 8 + 600 + 500)
    assert beep_end_ms <= commands[1].at_ms <= beep_end_ms + 200  # right after the beep, not at the greeting's end
