"""The engines whole calls are run with: the seed's knowledge indexed, the reply model warmed on its prompt."""

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from appliance import engines
from appliance import settings as settings_module
from appliance.call.session import CallSession
from appliance.dialogue.conversation import Conversation
from appliance.dialogue.prompt import system_prompt
from appliance.line.scripted import ScriptedLine


@pytest.fixture(scope="module")
def parts(tmp_path_factory, whisper, piper):
    """(settings, model store, knowledge index, reply model, speech recognizer, voice) for a module's calls."""
    settings = settings_module.load(environ={"APPLIANCE_PATHS_DATA_DIR": str(tmp_path_factory.mktemp("call"))})
    store = engines.model_store(settings)
    index = engines.knowledge_index(settings, store)
    index.ingest(settings.paths.knowledge_dir)
    responder = engines.responder(settings, store)
    responder.warm(system_prompt("TechCorp"))
    return settings, store, index, responder, whisper, piper


@pytest.fixture
def scripted_call(parts):
    """Run a whole call on a scripted line (`steps`, the seed's caller): (line, turn records, session events)."""
    settings, store, index, responder, whisper, piper = parts

    def call(steps, timeout_s: float = 120) -> tuple[ScriptedLine, list, list]:
        line = ScriptedLine(steps, caller_id="+919876543210", reply_gap_ms=2500)
        events = []
        conversation = Conversation("TechCorp", index, responder,
                                    lambda: datetime(2025, 10, 5, 9, 0, tzinfo=ZoneInfo("Asia/Kolkata")))
        session = CallSession(line, engines.voice_detector(settings, store), whisper, piper, conversation,
                              events=lambda kind, **data: events.append((kind, data)))
        return line, asyncio.run(asyncio.wait_for(session.run(), timeout_s)), events

    return call
