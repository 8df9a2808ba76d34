"""One caller question from a WAV file through the whole chain: VAD, STT, retrieval, LLM, TTS."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from appliance import engines
from appliance.audio import FRAME_MS, LINE_RATE_HZ
from appliance.audio.wav import read_wav, write_wav
from appliance.dialogue.prompt import messages, system_prompt
from appliance.errors import ApplianceError
from appliance.settings import Settings
from appliance.tts.sentences import SentenceSplitter

STT_PAD_MS = 200


def default_question() -> Path:
    """The built-in caller: "What is your refund policy?" on an 8 kHz μ-law line."""
    return Path(str(resources.files("appliance") / "data" / "refund-question.wav"))


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


@dataclass
class Answer:
    """What one question produced: the words heard, the reply, the audio and the time each stage took."""

    heard: str
    reply: object
    passages: list
    audio: np.ndarray
    spoken: list[str] = field(default_factory=list)
    stages_ms: dict[str, float] = field(default_factory=dict)


class Pipeline:
    """The engines of the call path, loaded once, and one question answered at a time."""

    def __init__(self, settings: Settings):
        self.settings = settings
        store = engines.model_store(settings)
        self.index = engines.knowledge_index(settings, store)
        self.ingested = self.index.ingest(settings.paths.knowledge_dir)
        self.detector_factory = lambda: engines.voice_detector(settings, store)
        self.transcriber = engines.transcriber(settings, store)
        self.responder = engines.responder(settings, store)
        self.system = system_prompt(settings.company.name)
        self.responder.warm(self.system)
        self.synthesizer = engines.synthesizer(settings, store)

    def endpoint(self, pcm: np.ndarray) -> tuple[np.ndarray, float]:
        """The caller's turn cut out of line audio, and how long after their last word the turn ended."""
        detector = self.detector_factory()
        frame = LINE_RATE_HZ * FRAME_MS // 1000
        started = stopped = None
        for offset in range(0, len(pcm), frame):
            for event in detector.process(pcm[offset:offset + frame]):
                if type(event).__name__ == "VoiceStarted" and started is None:
                    started = event
                elif type(event).__name__ == "VoiceStopped" and started is not None:
                    stopped, fired_ms = event, (offset + frame) * 1000 / LINE_RATE_HZ
                    break
            if stopped:
                break
        if started is None:
            raise ApplianceError("vad-no-speech", "no speech found in the audio")
        if stopped is None:  # the recording ends mid-turn: the end of the file ends the turn
            end_ms = len(pcm) * 1000 / LINE_RATE_HZ
            stopped_at, wait_ms = end_ms, 0.0
        else:
            stopped_at, wait_ms = stopped.at_ms, fired_ms - stopped.at_ms
        pad = STT_PAD_MS * LINE_RATE_HZ // 1000
        first = max(0, int(started.at_ms * LINE_RATE_HZ / 1000) - pad)
        last = int(stopped_at * LINE_RATE_HZ / 1000) + pad
        return pcm[first:last], wait_ms

    def answer(self, pcm: np.ndarray | None, text: str | None = None) -> Answer:
        """Answer one question given as 8 kHz line audio (or as text), streaming the reply into speech."""
        stages: dict[str, float] = {}
        if text is None:
            speech, stages["endpoint"] = self.endpoint(pcm)
            start = time.perf_counter()
            heard = self.transcriber.transcribe(speech, LINE_RATE_HZ).text
            stages["stt"] = _ms(start)
        else:
            heard = text
            start = time.perf_counter()
        step = time.perf_counter()
        knowledge = self.settings.knowledge
        passages = self.index.search(heard, k=knowledge.top_k, min_score=knowledge.min_score)
        stages["retrieval"] = _ms(step)

        sentences: queue.Queue = queue.Queue()
        chunks: list[np.ndarray] = []
        spoken: list[str] = []
        first_audio: list[float] = []
        first_sentence: list[float] = []

        def queue_sentences(delta: str) -> None:
            for sentence in splitter.push(delta):
                if not first_sentence:
                    first_sentence.append(time.perf_counter())
                sentences.put(sentence)

        def speak() -> None:
            while (sentence := sentences.get()) is not None:
                spoken.append(sentence)
                for chunk in self.synthesizer.synthesize(sentence):
                    if not first_audio:
                        first_audio.append(time.perf_counter())
                    chunks.append(chunk)

        speaker = threading.Thread(target=speak, name="tts", daemon=True)
        speaker.start()
        splitter = SentenceSplitter()
        step = time.perf_counter()
        try:
            result = self.responder.respond(messages(self.settings.company.name, heard, passages),
                                            on_text=queue_sentences)
            for sentence in splitter.flush():
                first_sentence.append(time.perf_counter())
                sentences.put(sentence)
        finally:
            sentences.put(None)
            speaker.join()
        stages["llm_first_token"] = result.first_token_ms
        stages["llm_total"] = result.total_ms
        if first_audio:
            stages["llm_first_sentence"] = (first_sentence[0] - step) * 1000
            stages["tts_first_audio"] = (first_audio[0] - first_sentence[0]) * 1000
            stages["voice_to_voice"] = stages.get("endpoint", 0.0) + (first_audio[0] - start) * 1000
        audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        return Answer(heard, result.reply, passages, audio, spoken, stages)


STAGE_NAMES = {
    "endpoint": "endpoint (silence after the last word)",
    "stt": "speech to text",
    "retrieval": "retrieval",
    "llm_first_token": "LLM first token",
    "llm_first_sentence": "LLM first spoken sentence",
    "llm_total": "LLM whole reply",
    "tts_first_audio": "TTS first audio (from its sentence)",
    "voice_to_voice": "voice to voice (end of speech to reply audio)",
}


def ask(settings: Settings, wav: str | None, out: str | None, text: str | None = None) -> int:
    """`appliance ask`: answer one question, print what happened and write the reply audio."""
    start = time.perf_counter()
    pipeline = Pipeline(settings)
    load_s = time.perf_counter() - start
    print(f"knowledge: {pipeline.ingested}")
    pcm = None
    if text is None:
        source = Path(wav) if wav else default_question()
        pcm, _ = read_wav(source, LINE_RATE_HZ)
        print(f"question : {source}")
    result = pipeline.answer(pcm, text)
    reply = result.reply
    print(f"heard    : {result.heard}")
    for passage in result.passages:
        print(f"passage  : {passage.source} > {passage.heading} (score {passage.score:.2f})")
    print(f"answered : {' '.join(result.spoken) or reply.immediate_response}")
    print(f"reply    : intent={reply.intent} actions={list(reply.actions)} entities={dict(reply.entities)} "
          f"used_knowledge={reply.used_knowledge} escalate={reply.escalate_to_human}")
    target = Path(out) if out else settings.paths.data_dir / "reply.wav"
    write_wav(target, result.audio, LINE_RATE_HZ)
    print(f"audio    : {target} ({len(result.audio) / LINE_RATE_HZ:.1f} s at {LINE_RATE_HZ} Hz)")
    print()
    for key, name in STAGE_NAMES.items():
        if key in result.stages_ms:
            print(f"{name:48} {result.stages_ms[key]:7.0f} ms")
    print(f"{'models loaded (once per process)':48} {load_s * 1000:7.0f} ms")
    return 0
