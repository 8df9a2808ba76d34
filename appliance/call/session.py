"""One call: line audio → VAD → turn taking → STT → conversation → TTS → line, with every turn recorded.

The session is the only place that decides what happens next: a barge-in stops the reply, a stage error
plays an apology, a goodbye ends the call. Engines are synchronous and run on worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from appliance.audio import FRAME_MS, LINE_RATE_HZ
from appliance.audio.dtmf import KeyPressed
from appliance.call.turns import (BargeIn, Greet, KeysEntered, KeysStarted, Reprompt, SilenceHangup, TurnEnded,
                                  TurnStarted, TurnTaker)
from appliance.errors import ApplianceError
from appliance.llm.reply import Reply
from appliance.tts.sentences import SentenceSplitter, speakable

log = logging.getLogger(__name__)
PRE_ROLL_MS = 300
EARLY_STT_MS = 240  # a pause this long starts speech recognition before the turn is sure to be over
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
    kind: str  # greeting, caller, reprompt, goodbye
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
    """Runs one call on a line until either side hangs up."""

    def __init__(self, line, detector, transcriber, synthesizer, conversation, turns: TurnTaker | None = None,
                 events=None, opening: str | None = None):
        self.line = line
        self.opening = opening  # said at once when the line connects, instead of the greeting (a call placed)
        self.events = events or (lambda kind, **data: None)  # events(kind, **data): what the call service publishes
        self.detector = detector
        self.transcriber = transcriber
        self.synthesizer = synthesizer
        self.conversation = conversation
        self.turns = turns or TurnTaker()
        self.records: list[TurnRecord] = []
        self._task: asyncio.Task | None = None
        self._record: TurnRecord | None = None
        self._cancel = threading.Event()
        self._ending = False
        self._early: asyncio.Task | None = None  # speech recognition started in a pause
        self._acks: list[tuple[str, np.ndarray]] = []
        self._ready: dict[str, np.ndarray] = {}

    @property
    def thinking(self) -> bool:
        """Whether a reply is being prepared and not yet playing."""
        return self._task is not None and not self._task.done() and not self.line.playing

    async def run(self) -> list[TurnRecord]:
        """Answer the call until it ends; return the turns."""
        self._acks = await asyncio.to_thread(acknowledgements, self.synthesizer)
        # What the appliance says unprompted is synthesized before the call is answered: the greeting starts on time.
        # A call the appliance placed opens with who calls and why, at once: the called party has already said hello.
        first = self.opening or self.conversation.greeting()
        self._ready = dict(await asyncio.to_thread(lambda: [(text, prepared(self.synthesizer, text)) for text in (
            first, self.conversation.goodbye())]))
        if self.opening:
            self.turns.greeted = True
            self._start(self._say(self.opening, "greeting", 0.0))
        ring: deque = deque(maxlen=PRE_ROLL_MS // FRAME_MS)
        collecting: list | None = None
        held: list = []  # audio of a turn whose reply was dropped because the caller went on
        take_keys = getattr(self.line, "take_keys", None)  # keys signalled out of band (RFC 4733, AudioSocket)
        async for frame in self.line.audio():
            events = self.detector.process(frame)
            if take_keys is not None:
                events += [KeyPressed(key, self.turns.position_ms + FRAME_MS) for key in take_keys()]
            if collecting is not None:
                collecting.append(frame)
            else:
                ring.append(frame)
            decisions = self.turns.advance(FRAME_MS, events, thinking=self.thinking, speaking=self.line.playing)
            for decision in decisions:
                if isinstance(decision, (TurnStarted, BargeIn)):
                    if isinstance(decision, BargeIn) or self.thinking:
                        held = await self._interrupt(isinstance(decision, BargeIn))
                    collecting = list(ring)
                    ring.clear()
                elif isinstance(decision, TurnEnded) and collecting is not None:
                    audio = np.concatenate(held + collecting)
                    held, collecting = [], None
                    early, self._early = self._early, None
                    self._start(self._answer(audio, decision, self.turns.position_ms, early))
                elif isinstance(decision, KeysStarted):
                    await self._interrupt(barge_in=True)  # keying over a reply stops it, like speaking over it
                elif isinstance(decision, KeysEntered):
                    self._start(self._answer(None, decision, self.turns.position_ms, keyed=decision.keys))
                elif isinstance(decision, Greet):
                    self._start(self._say(self.conversation.greeting(), "greeting", decision.at_ms))
                elif isinstance(decision, Reprompt):
                    self._start(self._say(self.conversation.reprompt(decision.count), "reprompt", decision.at_ms))
                elif isinstance(decision, SilenceHangup):
                    self._ending = True
                    self._start(self._say(self.conversation.goodbye(), "goodbye", decision.at_ms, ends=True))
            self._speculate(collecting, held)
            if self._ending and (self._task is None or self._task.done()) and not self.line.playing:
                await self.line.hangup()
                break
        if self._task and not self._task.done():
            self._cancel.set()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        return self.records

    def _speculate(self, collecting: list | None, held: list) -> None:
        """Start recognising the turn in a pause; drop that if the caller goes on speaking."""
        segmenter = self.detector.segmenter
        if collecting is None or segmenter.pause_ms == 0.0:
            if self._early is not None and collecting is not None:
                self._early = None  # the caller went on: the early transcript misses words
            return
        if self._early is None and segmenter.pause_ms >= EARLY_STT_MS:
            audio = np.concatenate(held + collecting)
            self._early = asyncio.create_task(asyncio.to_thread(self.transcriber.transcribe, audio, LINE_RATE_HZ))
            self._early.add_done_callback(quietly)

    def _start(self, coroutine) -> None:
        self._cancel = threading.Event()
        self._task = asyncio.create_task(coroutine)
        self._task.add_done_callback(self._failed)

    def _failed(self, task: asyncio.Task) -> None:
        """A reply task that died of something unexpected is logged with its code, never lost in silence."""
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("call-stage-failed: %s", exc, exc_info=exc)
            self.events("stage-failed", code="call-stage-failed", error=str(exc))

    async def _interrupt(self, barge_in: bool) -> list:
        """Stop the reply in progress; a reply the caller never heard gives its audio back to the next turn."""
        held = []
        replying = self._task is not None and not self._task.done()
        if replying or self.line.playing:
            if self._record is not None:
                self._record.interrupted = True
            self._cancel.set()
            if self._task is not None:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            self.line.stop_playback()
        if not barge_in and self._record is not None and self._record.kind == "caller" and not self._record.spoken:
            held = self._record.audio
            self.records.remove(self._record)
        return held

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
        if sentence:
            record.spoken.append(sentence)
        return time.perf_counter()

    async def _say(self, text: str, kind: str, at_ms: float, ends: bool = False) -> None:
        record = self._new_record(kind, at_ms)
        record.reply = _spoken_reply(text, "greeting" if kind == "greeting" else ("goodbye" if ends else "other"))
        record.call_ended = ends
        if text in self._ready:
            self.line.play(self._ready[text])
            record.spoken.append(text)
            return
        await self._speak(text, record)

    async def _answer(self, audio: np.ndarray | None, turn: TurnEnded | KeysEntered, decided_ms: float,
                      early: asyncio.Task | None = None, keyed: str | None = None) -> None:
        """Answer a caller's turn: speech to be recognised, or digits keyed on the keypad."""
        record = self._new_record("caller", decided_ms)
        record.audio = [audio] if audio is not None else []
        record.speech_end_ms = turn.end_ms
        record.latency_ms["endpoint"] = decided_ms - turn.end_ms
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
                return queued

            speaker = asyncio.create_task(speak_all())
            try:
                if not text.strip():
                    result = None
                    sentences.put_nowait("Sorry, I didn't catch that. Could you say it again?")
                else:
                    step = time.perf_counter()
                    replying = asyncio.ensure_future(asyncio.to_thread(self.conversation.reply, text, on_text, confidence))
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
                self.events("reply-started", intent=record.reply["intent"], text=" ".join(record.spoken),
                            latency_ms={k: round(v) for k, v in record.latency_ms.items()
                                        if isinstance(v, float)})
                for action in record.reply["actions"]:
                    self.events("action-queued", action=action)
                if result.ends_call:
                    record.call_ended = True
                    self._ending = True
            else:
                record.reply = _spoken_reply(" ".join(record.spoken), "other")
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
