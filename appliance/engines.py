"""Loads each engine once from the settings and the checked model files."""

from __future__ import annotations

from appliance.models import ModelStore
from appliance.settings import Settings


def model_store(settings: Settings) -> ModelStore:
    """The model store the settings point at."""
    return ModelStore(settings.paths.models_dir)


def vad_model(settings: Settings, store: ModelStore):
    """The Silero VAD model, checked and loaded: one for every call of a service."""
    from appliance.vad.silero import load_model

    return load_model(store.checked_path(settings.vad.model))


def voice_detector(settings: Settings, store: ModelStore, model=None):
    """Silero VAD and the end-of-turn segmenter, at the line rate; `model` from `vad_model()` is shared."""
    from appliance.audio import LINE_RATE_HZ
    from appliance.vad import VoiceDetector

    path = None if model is not None else store.checked_path(settings.vad.model)
    return VoiceDetector(path, rate_hz=LINE_RATE_HZ, threshold=settings.vad.threshold,
                         start_ms=settings.vad.start_ms, end_silence_ms=settings.vad.end_silence_ms, model=model)


def turn_taker(settings: Settings):
    """A call's turn taking, with the `[vad]` times for a caller who goes quiet."""
    from appliance.call.turns import TurnTaker

    return TurnTaker(greet_after_ms=settings.vad.greet_after_ms, still_there_after_ms=settings.vad.still_there_after_ms,
                     goodbye_after_ms=settings.vad.quiet_goodbye_after_ms)


def turn_judge(settings: Settings, store: ModelStore, gate=None):
    """The end-of-turn model and when to ask it, or None when `[vad] turn_model` is empty (silence alone ends a
    turn). One for every call; with a `CpuGate`, each decision takes its turn on it."""
    vad = settings.vad
    if not vad.turn_model:
        return None
    from appliance.vad.turn_model import SmartTurnDetector, TurnJudge

    model = SmartTurnDetector(store.checked_path(vad.turn_model))
    if gate is not None:
        from appliance.call.gate import GatedTurnDetector

        model = GatedTurnDetector(model, gate)
    return TurnJudge(model, complete_at=vad.complete_at, decide_after_ms=vad.decide_after_ms,
                     incomplete_silence_ms=vad.incomplete_silence_ms, sure_words_at=vad.sure_words_at)


def transcriber(settings: Settings, store: ModelStore):
    """Whisper or Vosk, as the settings say."""
    path = store.checked_path(settings.stt.model)
    if settings.stt.engine == "vosk":
        from appliance.stt.vosk import VoskTranscriber

        return VoskTranscriber(path)
    from appliance.stt.whisper import WhisperTranscriber

    hint = speech_hint(settings.company.name, "", settings.stt.vocabulary)
    return WhisperTranscriber(path, language=settings.stt.language, beam_size=settings.stt.beam_size,
                              threads=settings.stt.threads, initial_prompt=hint)


def responder(settings: Settings, store: ModelStore):
    """The reply model: a GGUF in this process, or an OpenAI-compatible server."""
    llm = settings.llm
    if llm.backend == "http":
        from appliance.llm.http import HttpResponder

        return HttpResponder(llm.url, model=llm.http_model, timeout_s=llm.timeout_s,
                             max_tokens=llm.max_tokens, temperature=llm.temperature)
    from appliance.llm.llama import LlamaResponder

    return LlamaResponder(store.checked_path(llm.model), threads=llm.threads, context_tokens=llm.context_tokens,
                          max_tokens=llm.max_tokens, temperature=llm.temperature)


def synthesizer(settings: Settings, store: ModelStore):
    """The Piper voice, delivering 8 kHz telephone audio."""
    from appliance.audio import LINE_RATE_HZ
    from appliance.tts.piper import PiperSynthesizer

    return PiperSynthesizer(store.checked_path(settings.tts.model), length_scale=settings.tts.length_scale,
                            out_rate_hz=LINE_RATE_HZ)


def knowledge_index(settings: Settings, store: ModelStore):
    """The knowledge index in the data directory, with its embedder."""
    from appliance.knowledge.embed import MiniLmEmbedder
    from appliance.knowledge.index import KnowledgeIndex

    model = store.checked_path(settings.knowledge.model)
    embedder = MiniLmEmbedder(model, model.parent / "tokenizer.json")
    settings.paths.data_dir.mkdir(parents=True, exist_ok=True)
    return KnowledgeIndex(settings.paths.data_dir / "knowledge.db", embedder)


def speech_hint(company: str, names: str, vocabulary: str = "", order_ids=()) -> str:
    """What Whisper is told to expect: the company, what its order numbers look like (from the orders table),
    the names of its documents and offers, and any other words."""
    from appliance.dialogue.entities import id_shapes

    shapes = id_shapes(order_ids)
    orders = f"Order numbers look like {' or '.join(shapes)}." if shapes else ""
    return " ".join(part for part in (f"{company} phone support.", orders, f"{names}." if names else "", vocabulary)
                    if part)


def conversation_options(settings: Settings) -> dict:
    """The settings a Conversation takes, as keyword arguments."""
    return {"top_k": settings.knowledge.top_k, "min_score": settings.knowledge.min_score,
            "quote_at": settings.knowledge.quote_at,
            "currency_words": settings.company.currency_words, "issue_types": settings.tickets.issue_types,
            "unanswered_expertise": settings.handoff.unanswered_expertise,
            "sales_expertise": settings.handoff.sales_expertise, "greeting": settings.company.greeting,
            "identify_by": settings.privacy.identify_by}
