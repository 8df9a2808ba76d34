"""The shipped knowledge base, indexed once for the dialogue tests."""

import pytest

from appliance.knowledge.index import KnowledgeIndex
from appliance.settings import ROOT


@pytest.fixture(scope="module")
def index(embedder, tmp_path_factory):
    built = KnowledgeIndex(tmp_path_factory.mktemp("index") / "knowledge.db", embedder)
    built.ingest(ROOT / "knowledge")
    return built
