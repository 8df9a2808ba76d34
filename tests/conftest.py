"""Shared fixtures: the real model store and caller speech made with espeak-ng, squeezed through a phone line."""

from __future__ import annotations

import pytest

from appliance.models import ModelStore
from appliance.settings import ROOT
from speech import phone_speech


@pytest.fixture(scope="session")
def store() -> ModelStore:
    """The checkout's model store, with the models `scripts/test` installed."""
    return ModelStore(ROOT / "models")


@pytest.fixture(scope="session")
def speak():
    """A function that turns text into 8 kHz μ-law-squeezed caller audio (int16)."""
    return phone_speech


@pytest.fixture(scope="session")
def whisper(store):
    """The default Whisper model, loaded once for the whole run."""
    from appliance.stt.whisper import WhisperTranscriber

    return WhisperTranscriber(store.checked_path("stt"))


@pytest.fixture(scope="session")
def piper(store):
    """The default Piper voice at 8 kHz, loaded once for the whole run."""
    from appliance.tts.piper import PiperSynthesizer

    return PiperSynthesizer(store.checked_path("tts"))


@pytest.fixture(scope="session")
def embedder(store):
    """The MiniLM embedder, loaded once for the whole run."""
    from appliance.knowledge.embed import MiniLmEmbedder

    model = store.checked_path("embed")
    return MiniLmEmbedder(model, model.parent / "tokenizer.json")
