"""A running call service takes up a knowledge base re-indexed by another process (the panel) between calls,
without a restart: the next call's prompt, catalog and answers have the new document."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from appliance import engines
from appliance import settings as settings_module
from appliance.serve import take_up_knowledge
from appliance.service import CallService

FIRST = "# Opening hours\n\nThe shop is open Monday to Friday from 9 AM to 6 PM.\n"
ADDED = ("# Bicycle repairs\n\n## Puncture service\n\nA puncture is mended while you wait for 12 euros; bring the "
         "wheel to the workshop counter.\n")


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    base = settings_module.load()
    data, folder = tmp_path_factory.mktemp("data"), tmp_path_factory.mktemp("knowledge")
    (folder / "hours.md").write_text(FIRST)
    settings = dataclasses.replace(base, paths=dataclasses.replace(base.paths, data_dir=data, knowledge_dir=folder))
    service = CallService(settings)
    yield service
    service.close()


def _panel_reindexes(service: CallService) -> None:
    """What the panel does in its own process: a document added to the folder, indexed through its own index."""
    settings = service.settings
    (settings.paths.knowledge_dir / "repairs.md").write_text(ADDED)
    with engines.knowledge_index(settings, engines.model_store(settings)) as index:
        index.ingest(settings.paths.knowledge_dir)


def test_a_reindex_elsewhere_is_taken_up_between_calls_and_answered_from(service):
    assert not service.knowledge_changed()
    before = service.knowledge_seen
    conversation, _, _ = service._conversation("+15550100")
    assert not any("puncture" in passage.text for passage in conversation.knowledge)
    _panel_reindexes(service)
    assert service.knowledge_changed()

    async def watch() -> None:
        watcher = asyncio.create_task(take_up_knowledge(service, every_s=0.05))
        try:
            for _ in range(600):
                await asyncio.sleep(0.1)
                if not service.knowledge_changed():
                    return
        finally:
            watcher.cancel()

    asyncio.run(watch())
    assert service.knowledge_seen != before and not service.knowledge_changed()
    assert any("puncture" in passage.text for passage in service.knowledge)
    assert not any("puncture" in passage.text for passage in conversation.knowledge)  # a call begun before keeps its
    answer = service._conversation("+15550101")[0].reply("How much does it cost to fix a puncture?").reply
    assert "12" in answer.immediate_response or "twelve" in answer.immediate_response.lower(), answer


def test_no_reload_while_a_call_is_in_progress(service):
    (service.settings.paths.knowledge_dir / "hours.md").write_text(FIRST.replace("6 PM", "7 PM"))
    with engines.knowledge_index(service.settings, engines.model_store(service.settings)) as index:
        index.ingest(service.settings.paths.knowledge_dir)
    service.active[99] = object()  # a call in progress

    async def wait_a_while() -> None:
        watcher = asyncio.create_task(take_up_knowledge(service, every_s=0.05))
        await asyncio.sleep(0.5)
        assert service.knowledge_changed()  # not taken up under the call
        del service.active[99]
        for _ in range(600):
            await asyncio.sleep(0.1)
            if not service.knowledge_changed():
                break
        watcher.cancel()

    asyncio.run(wait_a_while())
    assert not service.knowledge_changed()
    assert any("7 PM" in passage.text for passage in service.knowledge)
