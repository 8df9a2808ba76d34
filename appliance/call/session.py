"""One call: line audio → VAD → turn taking → STT → conversation → TTS → line, with every turn recorded.

What happens next is decided by the call's controller (`controller.py`, no I/O): voice over the reply holds it,
a barge-in stops it, a backchannel lets it go on, a goodbye ends the call. The session carries out its commands:
it runs the engines (synchronous, on worker threads), streams the reply sentence by sentence, holds the caller
while the answer is being prepared, records every turn, and turns a stage's error into the apology. On a call the
appliance placed with a message for a voicemail, it also listens for the voicemail's beep and recognises what the
called party says first, for the controller's screen.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field

import numpy as np

from appliance.audio import FRAME_MS, LINE_RATE_HZ
from appliance.audio.beep import BeepDetector
from appliance.audio.dtmf import KeyPressed
from appliance.call.controller import (
    Answer,
    CallController,
    ForgetEarly,
    Hangup,
    HearGreeting,
    HearWords,
    JudgeTurn,
    PauseReply,
    Recognise,
    ResumeReply,
    Say,
    StopReply,
    VoicemailReached,
)
from appliance.call.turns import KeysEntered, TurnEnded, TurnTaker, WordsHeard
from appliance.call.voicemail import VoicemailDetector
from appliance.errors import ApplianceError
from appliance.llm.reply import Reply
from appliance.tts.sentences import SentenceSplitter, speakable
from appliance.vad.turn_model import TurnJudge

log = logging.getLogger(__name__)
APOLOGY = "Sorry, I had a problem there. Could you say that again?"
ACK_AFTER_S = 0.25  # a reply with nothing to say by then gets a short acknowledgement first
HOLD_AGAIN_S = 3.5  # and while the answer is still not ready, another holding phrase this long after the last one
ACKNOWLEDGEMENTS = ("One moment.", "Let me check.", "Sure, let me see.")
STILL_HOLDING = ("Thanks for waiting, I'm still looking that up.", "Almost there, one more moment.")


class Interrupted(Exception):
    """The caller barged in: generation for the old turn stops."""


@dataclass
class TurnRecord:
    """One turn of the call as it happened: what was heard, the reply, what was spoken, and the times."""

    index: int
    kind: str  # greeting, caller, reprompt, goodbye, announcement, voicemail
    at_ms: float
    heard: str | None = None
    reply: dict | None = None
    spoken: list[str] = field(default_factory=list)
    interrupted: bool = False
    call_ended: bool = False
    speech_end_ms: float | None = None
    latency_ms: dict = field(default_factory=dict)
    audio: list = field(default_factory=list, repr=False)


def quietly(task: asyncio.Task) -> None:
    """Collect the outcome of a task that may be dropped, so its error is not reported as never retrieved."""
    if not task.cancelled():
        task.exception()


_ACKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def synthesized(synthesizer, text: str) -> np.ndarray:
    """All the audio of one text in this voice; nothing for a text with no words to say."""
    spoken = speakable(text) or ""
    return np.concatenate(list(synthesizer.synthesize(spoken))) if spoken else np.zeros(0, np.int16)


_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def prepared(synthesizer, text: str) -> np.ndarray:
    """A phrase said on every call (the greeting, the goodbye), synthesized once per voice and kept."""
    phrases = _PREPARED.setdefault(synthesizer, {})
    if text not in phrases:
        phrases[text] = synthesized(synthesizer, text)
    return phrases[text]


def acknowledgements(synthesizer) -> list[tuple[str, np.ndarray]]:
    """The holding phrases in this voice (the acknowledgements, then the "still looking" ones), synthesized once
    per synthesizer and kept for every later call."""
    if synthesizer not in _ACKS:
        _ACKS[synthesizer] = [(text, synthesized(synthesizer, text)) for text in ACKNOWLEDGEMENTS + STILL_HOLDING]
    return _ACKS[synthesizer]


def _spoken_reply(text: str, intent: str) -> dict:
    return Reply(text, intent).to_dict()


class CallSession:
    """Runs one call on a line until either side hangs up: the runner of the call's controller."""

    def __init__(self, line, detector, transcriber, synthesizer, conversation, turns: TurnTaker | None = None,
                 events=None, opening: str | None = None, judge: TurnJudge | None = None,
                 voicemail: str | None = None):
        """`judge`: the end-of-turn model and when to ask it; None: silence alone ends the caller's turn.
        `voicemail` (with an `opening`): who answers is listened to first; a person hears the opening, a voicemail
        this message ("": none, the call just ends). None: the opening is said at once."""
        self.line = line
        self.opening = opening  # said when the line connects (or a person is heard), instead of the greeting
        self.voicemail = voicemail
        self.events = events or (lambda kind, **data: None)  # events(kind, **data): what the call service publishes
        self.detector = detector
        self.transcriber = transcriber
        self.synthesizer = synthesizer
        self.conversation = conversation
        self.judge = judge
        screen = VoicemailDetector() if opening is not None and voicemail is not None else None
        self.beeps = BeepDetector() if screen is not None else None
        self.controller = CallController(turns, opening=opening is not None,
                                         judge_after_ms=judge.decide_after_ms if judge else None, screen=screen)
        self.records: list[TurnRecord] = []
        self._task: asyncio.Task | None = None
        self._record: TurnRecord | None = None
        self._cancel = threading.Event()
        self._early: asyncio.Task | None = None  # speech recognition started in a pause
        self._judging: asyncio.Task | None = None  # the end-of-turn model's answer about this pause
        self._finished: bool | None = None  # the model's verdict on this pause; its words, once recognised, have a say
        self._hearing: asyncio.Task | None = None  # the words of the caller's voice over the reply
        self._acks: list[tuple[str, np.ndarray]] = []
        self._ready: dict[str, np.ndarray] = {}
        self._greeting_words: list[asyncio.Task] = []  # the called party's words being recognised, oldest first
        self._message: asyncio.Task | None = None  # the voicemail message's audio, synthesized once one is reached
        self._voicemail_record: TurnRecord | None = None

    async def run(self) -> list[TurnRecord]:
        """Answer the call until it ends; return the turns."""
        self._acks = await asyncio.to_thread(acknowledgements, self.synthesizer)
        # What the appliance says unprompted is synthesized before the call is answered: the greeting starts on time.
        # A call the appliance placed opens with who calls and why: at once (the called party has already said
        # hello), or, when it may reach a voicemail, as soon as a person is heard.
        first = self.opening or self.conversation.greeting()
        self._ready = dict(await asyncio.to_thread(lambda: [(text, prepared(self.synthesizer, text)) for text in (
            first, self.conversation.goodbye(), self.conversation.reprompt(), self.conversation.quiet_goodbye())]))
        controller = self.controller
        for command in controller.start():
            await self._carry_out(command)
        take_keys = getattr(self.line, "take_keys", None)  # keys signalled out of band (RFC 4733, AudioSocket)
        async for frame in self.line.audio():
            events = self.detector.process(frame) + self._verdict() + self._words()
            if controller.screening:
                events += self.beeps.process(frame)
                for command in self._words_heard():
                    await self._carry_out(command)
            if take_keys is not None:
                events += [KeyPressed(key, controller.turns.position_ms + FRAME_MS) for key in take_keys()]
            for command in controller.frame(frame, events, speaking=self.line.playing,
                                            pause_ms=self.detector.segmenter.pause_ms):
                await self._carry_out(command)
            if controller.ended:
                break
        if self._task and not self._task.done():
            self._cancel.set()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._voicemail_record is not None:  # what the greeting said, all of it, for the call's record
            for task in self._greeting_words:
                await asyncio.gather(task, return_exceptions=True)
            self._voicemail_record.heard = " ".join(filter(None, self.controller.screen.words + [
                self._words_of(task) for task in self._greeting_words]))
        return self.records

    @property
    def ended_by(self) -> str | None:
        """Why the appliance ended the call, when it was for a reason of its own: `silence` (the caller went quiet)
        or `voicemail` (a call it placed reached one); None otherwise."""
        return self.controller.ended_by

    def _words_heard(self) -> list:
        """The controller's commands for the called party's words recognised since the last frame, in order."""
        out = []
        while self._greeting_words and self._greeting_words[0].done():
            out += self.controller.heard(self._words_of(self._greeting_words.pop(0)))
        return out

    @staticmethod
    def _words_of(task: asyncio.Task) -> str:
        """What a recognition task heard; "" when it failed (the screen decides without those words)."""
        if task.cancelled() or task.exception() is not None:
            return ""
        return task.result().text

    async def hold(self) -> None:
        """A transfer rings: the caller's words are not answered meanwhile (the service plays the ringing)."""
        for command in self.controller.hold():
            await self._carry_out(command)

    async def resume(self, text: str) -> None:
        """The transfer did not happen: say `text` and go on with the call."""
        for command in self.controller.resume(text):
            await self._carry_out(command)

    def hand_over(self) -> None:
        """The caller now talks to a person: `run` returns at the next frame and leaves the line up."""
        self.controller.hand_over()

    @property
    def handed_over(self) -> bool:
        return self.controller.handed_over

    async def _carry_out(self, command) -> None:
        if isinstance(command, Say) and command.phrase == "voicemail":
            self._start(self._leave_message(command.at_ms))
        elif isinstance(command, Say):
            text = {"opening": lambda: self.opening, "greeting": self.conversation.greeting,
                    "reprompt": self.conversation.reprompt, "goodbye": self.conversation.goodbye,
                    "quiet_goodbye": self.conversation.quiet_goodbye,
                    "announcement": lambda: command.text}[command.phrase]()
            kind = {"opening": "greeting", "quiet_goodbye": "goodbye"}.get(command.phrase, command.phrase)
            self._start(self._say(text, kind, command.at_ms, ends=command.ends))
        elif isinstance(command, HearGreeting):
            task = asyncio.create_task(asyncio.to_thread(self.transcriber.transcribe, command.audio, LINE_RATE_HZ))
            task.add_done_callback(quietly)
            self._greeting_words.append(task)
        elif isinstance(command, VoicemailReached):
            # The message is made while the greeting plays on, so that it starts right after the beep.
            self._message = asyncio.create_task(asyncio.to_thread(synthesized, self.synthesizer, self.voicemail))
            self._message.add_done_callback(quietly)
            record = self._voicemail_record = self._new_record("voicemail", self.controller.turns.position_ms)
            record.heard = " ".join(filter(None, self.controller.screen.words))
            record.reply = _spoken_reply(self.voicemail, "other")
            record.call_ended = True
            self.events("voicemail-reached", why=command.why)
        elif isinstance(command, Answer):
            early, self._early, self._judging = (self._early if command.early else None), None, None
            self._finished = None
            self._start(self._answer(command.audio, command.turn, command.decided_ms, early, keyed=command.keys))
        elif isinstance(command, Recognise):
            self._early = asyncio.create_task(asyncio.to_thread(self.transcriber.transcribe, command.audio,
                                                                LINE_RATE_HZ))
            self._early.add_done_callback(quietly)
        elif isinstance(command, JudgeTurn):
            # Until the model answers, only the longer silence ends the turn: a slow answer is not pre-empted by
            # the plain rule, which would cut a caller pausing mid-number.
            self.detector.segmenter.end_after(self.judge.incomplete_silence_ms)
            self._judging = asyncio.create_task(asyncio.to_thread(self.judge.complete, command.audio, LINE_RATE_HZ))
            self._judging.add_done_callback(quietly)
        elif isinstance(command, ForgetEarly):
            self._early = self._judging = None
            self._finished = None
        elif isinstance(command, HearWords):
            self._hearing = asyncio.create_task(asyncio.to_thread(self.transcriber.transcribe, command.audio,
                                                                  LINE_RATE_HZ))
            self._hearing.add_done_callback(quietly)
        elif isinstance(command, PauseReply):
            self.line.pause_playback()
            self.events("reply-held", at_ms=round(self.controller.turns.position_ms))  # on the call's audio timeline
        elif isinstance(command, ResumeReply):
            self.line.resume_playback()
            self.events("caller-backchannel", heard_ms=round(command.heard_ms))
        elif isinstance(command, StopReply):
            await self._interrupt(command.forget_turn)
        elif isinstance(command, Hangup):
            await self.line.hangup()

    def _verdict(self) -> list:
        """The end-of-turn model's answer about this pause, once it is in: unfinished leaves the turn to the longer
        silence, unless its words, once recognised, close the call ("okay, thanks, bye"), which nobody says and then
        goes on; no answer (the model failed) leaves it to the plain silence rule; finished ends it as soon as the
        words recognised in the pause are in, unless they stop where no sentence does ("my number is nine eight
        seven", "I'd like to ask about the"). The reply waits for those words anyway, so waiting for them here
        costs the caller nothing."""
        segmenter = self.detector.segmenter
        if self._judging is not None and self._judging.done():
            complete, self._judging = self._judging.result(), None
            if complete is None:
                segmenter.end_after(None)
            else:
                self._finished = complete
                if complete:
                    segmenter.end_after(float("inf"))  # the words decide, however long they take to recognise
        if self._finished is None or (self._early is not None and not self._early.done()) or (
                self._early is None and self._finished is False):
            return []
        finished, self._finished = self._finished, None
        early = self._early
        heard = early is not None and not early.cancelled() and early.exception() is None
        if heard and not self.judge.ends(finished, early.result()):
            if finished:
                segmenter.end_after(self.judge.incomplete_silence_ms)  # heard mid-number or mid-phrase: the longer silence
            return []
        return segmenter.end_turn() if finished or heard else []

    def _words(self) -> list:
        """The words of the voice over the reply, once recognised (None when recognition failed)."""
        if self._hearing is None or not self._hearing.done():
            return []
        hearing, self._hearing = self._hearing, None
        failed = hearing.cancelled() or hearing.exception() is not None
        return [WordsHeard(None if failed else hearing.result().text)]

    def _start(self, coroutine) -> None:
        self._cancel = threading.Event()
        self._task = asyncio.create_task(coroutine)
        self._task.add_done_callback(self._over)

    def _over(self, task: asyncio.Task) -> None:
        """A reply is over. One that died of something unexpected is logged with its code, never lost in silence."""
        if task is self._task:
            self.controller.reply_over(ends_call=bool(not task.cancelled() and task.exception() is None
                                                      and task.result()))
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("call-stage-failed: %s", exc, exc_info=exc)
            self.events("stage-failed", code="call-stage-failed", error=str(exc))

    async def _interrupt(self, forget_turn: bool) -> None:
        """Stop the reply in progress; a turn the caller went on from before hearing anything is forgotten (the
        controller keeps its audio for the next turn)."""
        if self._record is not None:
            self._record.interrupted = True
        self._cancel.set()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.line.stop_playback()
        if forget_turn and self._record is not None and self._record.kind == "caller" and self._record in self.records:
            self.records.remove(self._record)

    def _new_record(self, kind: str, at_ms: float) -> TurnRecord:
        record = TurnRecord(len(self.records), kind, at_ms)
        self.records.append(record)
        self._record = record
        return record

    async def _speak(self, sentence: str, record: TurnRecord, more: bool = False) -> float:
        """Synthesize one sentence and queue it on the line (`more`: the reply goes on); return when it was queued."""
        spoken = getattr(self.conversation, "spoken", None)
        sentence = speakable(spoken(sentence) if spoken else sentence) or ""
        chunks = await asyncio.to_thread(lambda: list(self.synthesizer.synthesize(sentence))) if sentence else []
        if self._cancel.is_set():
            raise asyncio.CancelledError
        if chunks:
            self.line.play(np.concatenate(chunks), more=more)
            self.controller.said()
        if sentence:
            record.spoken.append(sentence)
        return time.perf_counter()

    async def _say(self, text: str, kind: str, at_ms: float, ends: bool = False) -> bool:
        """Say a phrase of the conversation's own; return whether the call ends after it."""
        record = self._new_record(kind, at_ms)
        record.reply = _spoken_reply(text, "greeting" if kind == "greeting" else ("goodbye" if ends else "other"))
        record.call_ended = ends
        if text in self._ready:
            self.line.play(self._ready[text])
            self.controller.said()
            record.spoken.append(text)
        else:
            await self._speak(text, record)
        return ends

    async def _leave_message(self, at_ms: float) -> bool:
        """Say the voicemail's message (nothing when there is none); the call ends after it."""
        record = self._voicemail_record or self._new_record("voicemail", at_ms)
        pcm = await self._message if self._message is not None else np.zeros(0, np.int16)
        if len(pcm):
            self.line.play(pcm)
            self.controller.said()
            record.spoken.append(self.voicemail)
        self.events("voicemail-message", after=self.controller.screen.recording_after, left=bool(len(pcm)))
        return True

    async def _answer(self, audio: np.ndarray | None, turn: TurnEnded | KeysEntered, decided_ms: float,
                      early: asyncio.Task | None = None, keyed: str | None = None) -> bool:
        """Answer a caller's turn: speech to be recognised, or digits keyed on the keypad. Return whether the
        call ends after the answer."""
        record = self._new_record("caller", decided_ms)
        record.audio = [audio] if audio is not None else []
        record.speech_end_ms = turn.end_ms
        record.latency_ms["endpoint"] = decided_ms - turn.end_ms
        if isinstance(turn, TurnEnded):
            record.latency_ms["endpoint_by"] = turn.ended_by
        waiting = getattr(self.line, "waiting_ms", None)  # caller audio a live line holds, not yet heard
        if waiting is not None:
            record.latency_ms["line_in"] = float(waiting)
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        try:
            confidence = None  # keyed digits are certain
            if keyed is not None:
                text = keyed
            else:
                heard = await early if early is not None else await asyncio.to_thread(
                    self.transcriber.transcribe, audio, LINE_RATE_HZ)
                text, confidence = heard.text, heard.confidence
            record.heard = text
            if keyed is None:
                record.latency_ms["stt"] = (time.perf_counter() - start) * 1000
            self.events("caller-heard", text=text, keyed=keyed is not None, confidence=confidence)
            sentences: asyncio.Queue = asyncio.Queue()
            splitter = SentenceSplitter()
            cancel = self._cancel
            first_sentence: list[float] = []

            def on_text(delta: str) -> None:  # runs on the LLM's thread
                if cancel.is_set():
                    raise Interrupted
                for sentence in splitter.push(delta):
                    first_sentence.append(time.perf_counter())
                    loop.call_soon_threadsafe(sentences.put_nowait, sentence)

            async def speak_all() -> list[float]:
                queued = []
                while (sentence := await sentences.get()) is not None:
                    queued.append(await self._speak(sentence, record, more=True))
                    if len(queued) == 1:  # the answer itself (not a holding phrase) starts to play
                        self.events("reply-started", response_ms=round(record.latency_ms["endpoint"]
                                                                       + (queued[0] - start) * 1000))
                return queued

            speaker = asyncio.create_task(speak_all())
            try:
                if not text.strip():
                    result = None
                    sentences.put_nowait("Sorry, I didn't catch that. Could you say it again?")
                else:
                    step = time.perf_counter()
                    replying = asyncio.ensure_future(asyncio.to_thread(self.conversation.reply, text, on_text, confidence))
                    replying.add_done_callback(quietly)  # a barge-in leaves it to finish (Interrupted) unawaited
                    await self._hold(replying, first_sentence, record)
                    result = await replying
                    for sentence in splitter.flush():
                        first_sentence.append(time.perf_counter())
                        sentences.put_nowait(sentence)
                    record.latency_ms.update(result.stages_ms)
                    record.latency_ms["llm_first_sentence"] = ((first_sentence[0] - step) * 1000
                                                               if first_sentence else None)
            finally:
                sentences.put_nowait(None)
                queued = await speaker
                self.line.play(np.zeros(0, np.int16))  # the reply is complete
            if first_sentence and queued:
                record.latency_ms["tts_first_audio"] = (queued[0] - first_sentence[0]) * 1000
            if result is not None:
                record.reply = result.reply.to_dict()
                missing = (record.reply.get("entities") or {}).get("missing_info") or []
                self.events("reply-finished", intent=record.reply["intent"], text=" ".join(record.spoken),
                            missing=[str(item) for item in missing] if isinstance(missing, list) else [],
                            latency_ms={k: round(v) for k, v in record.latency_ms.items()
                                        if isinstance(v, float)})
                for action in record.reply["actions"]:
                    self.events("action-queued", action=action)
                if result.ends_call:
                    record.call_ended = True
                    return True
            else:
                record.reply = _spoken_reply(" ".join(record.spoken), "other")
            return False
        except (Interrupted, asyncio.CancelledError):
            record.interrupted = True
            raise asyncio.CancelledError from None
        except Exception as exc:  # a stage that fails: the caller hears the apology, the log has the code
            code = exc.code if isinstance(exc, ApplianceError) else "call-stage-failed"
            log.error("turn %d failed: %s", record.index, exc, exc_info=not isinstance(exc, ApplianceError))
            self.events("stage-failed", code=code, error=str(exc))
            record.latency_ms["error"] = code
            record.reply = _spoken_reply(APOLOGY, "other")
            await self._speak(APOLOGY, record)
            return False

    async def _hold(self, replying: asyncio.Future, first_sentence: list, record: TurnRecord) -> None:
        """Keep the caller informed while the answer is being prepared: never dead air on a slow box."""
        if not self._acks:
            return
        acks, still = self._acks[:len(ACKNOWLEDGEMENTS)], self._acks[len(ACKNOWLEDGEMENTS):]
        wait_s, said = ACK_AFTER_S, 0
        while True:
            done, _ = await asyncio.wait({replying}, timeout=wait_s)
            if done or first_sentence:
                return
            phrases = acks if said == 0 else still
            text, pcm = phrases[(record.index + said) % len(phrases)]
            self.line.play(pcm, filler=True, more=True)
            self.controller.said()
            record.spoken.append(text)
            record.latency_ms["acknowledged"] = True
            said += 1
            record.latency_ms["held"] = said
            wait_s = len(pcm) / LINE_RATE_HZ + HOLD_AGAIN_S

    def voice_to_voice(self, record: TurnRecord, speech_end_ms: float | None = None) -> float | None:
        """From the caller's last voiced frame to the first voiced frame of the reply, on the line."""
        end = speech_end_ms if speech_end_ms is not None else record.speech_end_ms
        if end is None:
            return None
        sent = getattr(self.line, "playback", None)
        after = [at for at in (sent.sent_voiced_at if sent else []) if at >= end]
        return after[0] - end if after else None

    def voice_to_answer(self, record: TurnRecord, speech_end_ms: float | None = None) -> float | None:
        """From the caller's last voiced frame to the first voiced frame of the answer itself, holding phrases
        ("One moment.") left out: how long the caller waited for what they asked."""
        end = speech_end_ms if speech_end_ms is not None else record.speech_end_ms
        sent = getattr(self.line, "playback", None)
        if end is None or sent is None:
            return None
        after = [at for at in sent.sent_answer_at if at >= end]
        return after[0] - end if after else None
