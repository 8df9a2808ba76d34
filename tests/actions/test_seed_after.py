"""Every `after` check of the seed's six calls, from the callers' words to the relay, the modem and the rows.

`appliance simulate` plays these calls as audio in real time; here the callers' words go straight to the
conversation, so what is tested is everything after speech recognition: the dialogue, the real reply
model, the validation, the outbox, the queue, the SMTP relay on loopback and the modem simulator.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

import pytest

from appliance import engines
from appliance.actions.perform import ActionTaker
from appliance.actions.queue import make_queue
from appliance.dialogue.conversation import Conversation
from appliance.dialogue.prompt import system_prompt
from appliance.knowledge.index import KnowledgeIndex
from appliance.modem.simulator import SimulatorThread
from appliance.outcome import collect, modem_texts, relay_emails, score_after
from appliance.records.load import RecordsCrm, load_fixtures
from appliance.settings import ROOT
from appliance.simulate import load_set

SEED = ROOT.parent / "shared" / "scenarios" / "seed"
FOLDER, SCENARIOS, FIXTURES = load_set(SEED)


@pytest.fixture(scope="module")
def index(embedder, tmp_path_factory):
    built = KnowledgeIndex(tmp_path_factory.mktemp("index") / "knowledge.db", embedder)
    built.ingest(SEED / "knowledge")
    return built


@pytest.fixture(scope="module")
def responder(store):
    from appliance.settings import Settings

    model = engines.responder(Settings(), store)
    model.warm(system_prompt("TechCorp"))
    return model


@pytest.fixture(scope="module")
def modem():
    running = SimulatorThread()
    yield running
    running.close()


@pytest.mark.parametrize("path, scenario", SCENARIOS, ids=[path.stem for path, _ in SCENARIOS])
def test_the_seed_calls_leave_exactly_what_they_promised(path, scenario, settings, records, relay, modem, index,
                                                         responder):
    load_fixtures(FIXTURES)
    settings = dataclasses.replace(settings, modem=dataclasses.replace(settings.modem, device=modem.path))
    queue = make_queue(settings)
    texts_before = len(modem.sent)
    now = datetime.fromisoformat(scenario["now"])
    crm = RecordsCrm()
    taker = ActionTaker("TechCorp", scenario["caller"], index, crm, wake=queue.wake)
    conversation = Conversation("TechCorp", index, responder, lambda: now, caller_id=scenario["caller"], crm=crm,
                                actions=taker, country_code=FIXTURES["company"]["default_country_code"])
    for turn in scenario["turns"]:
        said = turn.get("say") or turn.get("dtmf", "").rstrip("#")
        if said:
            conversation.reply(said)
    queue.drain()
    queue.close()
    outcome = collect(relay_emails(relay.received), modem_texts(modem.sent[texts_before:]))
    checks = score_after(scenario["after"], outcome, FIXTURES["company"]["default_country_code"])
    assert checks and [check for check in checks if not check["ok"]] == [], json.dumps(checks, indent=1)
