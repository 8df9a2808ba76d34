"""The engines whole calls are run with: the seed's knowledge indexed, the reply model warmed on its prompt."""

import pytest

from appliance import engines
from appliance import settings as settings_module
from appliance.dialogue.prompt import system_prompt


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
