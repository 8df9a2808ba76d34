"""`appliance ask`: one caller question from a WAV file, answered by a whole call session on a `wav://` line.

It is the appliance's main job in miniature: the same VAD, turn taking, speech recognition, dialogue,
retrieval, reply model and Piper voice as a phone call, on a line that plays the recording in real
time and keeps what the appliance says back.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from appliance import engines
from appliance.audio import LINE_RATE_HZ
from appliance.audio.wav import write_wav
from appliance.call.session import CallSession
from appliance.dialogue.conversation import Conversation
from appliance.dialogue.prompt import system_prompt, whole_knowledge
from appliance.errors import ApplianceError
from appliance.line.callers import PiperCaller
from appliance.line.scripted import caller_voiced_end_ms
from appliance.line.wav import WavLine
from appliance.settings import Settings

STAGE_NAMES = {
    "endpoint": "endpoint (silence after the last word)",
    "stt": "speech to text (after the turn ended)",
    "retrieval": "retrieval",
    "llm_first_token": "LLM first token",
    "llm_first_sentence": "LLM first spoken sentence",
    "llm_total": "LLM whole reply",
    "tts_first_audio": "TTS first audio (from its sentence)",
    "voice_to_voice": "voice to voice (end of speech to reply audio)",
    "voice_to_answer": "voice to answer (the answer itself, not 'One moment')",
}


def default_question() -> Path:
    """The built-in caller: a recorded question about the demo knowledge, on an 8 kHz μ-law line."""
    return Path(str(resources.files("appliance") / "data" / "refund-question.wav"))


def ask(settings: Settings, wav: str | None, out: str | None, text: str | None = None) -> int:
    """Answer one question on a `wav://` line; print what happened and write the reply audio."""
    start = time.perf_counter()
    store = engines.model_store(settings)
    index = engines.knowledge_index(settings, store)
    print(f"knowledge: {index.ingest(settings.paths.knowledge_dir)}")
    company = settings.company
    responder = engines.responder(settings, store)
    knowledge = whole_knowledge(index, settings.knowledge.prompt_chars)
    responder.warm(system_prompt(company.name, knowledge))
    transcriber, synthesizer = engines.transcriber(settings, store), engines.synthesizer(settings, store)
    judge = engines.turn_judge(settings, store)
    if text is not None:
        line = WavLine(PiperCaller(store.checked_path(settings.tts.model))(text))
        print(f"question : {text!r}, said by a synthesized caller")
    else:
        source = Path(wav) if wav else default_question()
        line = WavLine.from_file(source)
        print(f"question : {source}")
    load_s = time.perf_counter() - start
    conversation = Conversation(company.name, index, responder, lambda: datetime.now(ZoneInfo(company.timezone)),
                                country_code=company.country_code, knowledge=knowledge,
                                **engines.conversation_options(settings))
    if hasattr(transcriber, "initial_prompt"):
        transcriber.initial_prompt = engines.speech_hint(company.name, conversation.catalog.hint(),
                                                         settings.stt.vocabulary)
    session = CallSession(line, engines.voice_detector(settings, store), transcriber, synthesizer, conversation,
                          judge=judge)
    records = asyncio.run(session.run())
    turn = next((r for r in records if r.kind == "caller"), None)
    if turn is None:
        raise ApplianceError("vad-no-speech", "no question was heard in the audio")
    if not turn.reply:
        raise ApplianceError("call-no-answer", f"heard {turn.heard!r}, but the call ended before the answer was "
                             f"ready (the caller waits {line.hold_timeout_ms / 1000:.0f} s once told more is coming)")
    reply = turn.reply
    print(f"heard    : {turn.heard}")
    print(f"answered : {' '.join(turn.spoken)}")
    print(f"reply    : intent={reply['intent']} actions={reply['actions']} entities={reply['entities']} "
          f"used_knowledge={reply['used_knowledge']} escalate={reply['escalate_to_human']}")
    target = Path(out) if out else settings.paths.data_dir / "reply.wav"
    audio = line.recording()
    write_wav(target, audio, LINE_RATE_HZ)
    print(f"audio    : {target} ({len(audio) / LINE_RATE_HZ:.1f} s at {LINE_RATE_HZ} Hz, the appliance's side of the call)")
    print()
    stages = dict(turn.latency_ms)
    v2v = session.voice_to_voice(turn, caller_voiced_end_ms(line.caller_step))
    if v2v is not None:
        stages["voice_to_voice"] = v2v
    answer = session.voice_to_answer(turn, caller_voiced_end_ms(line.caller_step))
    if answer is not None:
        stages["voice_to_answer"] = answer
    for key, name in STAGE_NAMES.items():
        if isinstance(stages.get(key), (int, float)) and not isinstance(stages.get(key), bool):
            print(f"{name:48} {stages[key]:7.0f} ms")
    if stages.get("acknowledged"):
        print(f"{'(the first audio was a short acknowledgement)':48}")
    print(f"{'models loaded (once per process)':48} {load_s * 1000:7.0f} ms")
    return 0
