"""The call service: one set of engines, several calls at once, each written down and published."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from appliance import settings as settings_module
from appliance.line.scripted import ScriptedLine, Step
from appliance.records.models import Call, CallStats, Turn
from appliance.service import CallService

from speech import phone_speech


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    base = settings_module.load()
    settings = dataclasses.replace(base, paths=dataclasses.replace(base.paths, data_dir=tmp_path_factory.mktemp("svc")),
                                   line=dataclasses.replace(base.line, max_calls=2))
    service = CallService(settings)
    yield service
    service.close()


def caller(text: str, number: str) -> ScriptedLine:
    return ScriptedLine([Step(pcm=phone_speech(text)), Step(hangup=True)], caller_id=number, reply_gap_ms=2500)


def test_two_calls_at_once_each_get_their_own_answer_and_a_third_hears_busy(service):
    questions = {"+15550101": "What is your refund policy?", "+15550102": "Can I speak to a human please?"}
    lines = {number: caller(text, number) for number, text in questions.items()}
    busy = caller("Hello?", "+15550103")
    listener = None

    async def run():
        nonlocal listener
        listener = service.bus.listen()
        calls = [asyncio.create_task(service.answer(line)) for line in lines.values()]
        await asyncio.sleep(0.5)  # both are in progress: the third is one too many
        turned_away = await service.answer(busy)
        return await asyncio.gather(*calls), turned_away

    (refund, human), turned_away = asyncio.run(asyncio.wait_for(run(), 180))
    assert turned_away == [] and busy.hung_up_by == "appliance" and busy.playback.sent_voiced_at
    refund_turn = next(r for r in refund if r.kind == "caller")
    human_turn = next(r for r in human if r.kind == "caller")
    assert refund_turn.reply["intent"] == "policy_query" and "30" in " ".join(refund_turn.spoken)
    assert human_turn.reply["intent"] == "speak_to_human"
    events = []
    while not listener.empty():
        events.append(listener.get_nowait())
    kinds = [e.kind for e in events]
    assert kinds.count("call-started") == 2 and kinds.count("call-ended") == 2 and "call-busy" in kinds
    assert {e.data["text"] for e in events if e.kind == "caller-heard"} >= set()
    assert sum(e.kind == "caller-heard" for e in events) >= 2
    for number in {e.call for e in events if e.kind == "call-started"}:  # each answer announced as it starts to play
        own = [e.kind for e in events if e.call == number and e.kind in ("reply-started", "reply-finished")]
        assert own[:2] == ["reply-started", "reply-finished"], own
    started = [e.data["response_ms"] for e in events if e.kind == "reply-started"]
    assert started and all(ms > 0 for ms in started)
    calls = {c.caller_id: c for c in Call.select().where(Call.caller_id.in_(list(questions)))}
    assert set(calls) == set(questions) and all(c.ended_at for c in calls.values())
    assert Turn.select().where(Turn.call == calls["+15550101"].id).count() >= 1
    assert CallStats.select().where(CallStats.call == calls["+15550102"].id).get().escalated


def test_a_stage_that_fails_is_published_and_the_caller_hears_the_apology(service):
    class Broken:
        def __init__(self, inner):
            self.inner = inner

        def transcribe(self, pcm, rate_hz):
            raise RuntimeError("the model file went away")

    line = caller("What is your refund policy?", "+15550104")
    service.transcriber, real = Broken(service.transcriber), service.transcriber
    try:
        listener_events = []

        async def run():
            queue = service.bus.listen()
            records = await service.answer(line)
            while not queue.empty():
                listener_events.append(queue.get_nowait())
            return records

        records = asyncio.run(asyncio.wait_for(run(), 120))
    finally:
        service.transcriber = real
    failed = [e for e in listener_events if e.kind == "stage-failed"]
    assert failed and failed[0].data["code"] == "call-stage-failed" and "went away" in failed[0].data["error"]
    turn = next(r for r in records if r.kind == "caller")
    assert turn.latency_ms["error"] == "call-stage-failed" and "sorry" in " ".join(turn.spoken).lower()


def test_behind_a_proxy_a_call_with_no_slot_is_refused_unanswered_and_the_slots_are_published(service):
    """`[line] overflow = reject`: no busy message, so the proxy or PBX in front can try another box; a line that
    cannot say 486 (this one, AudioSocket, the modem) is hung up unanswered."""
    before = service.settings
    drained = dataclasses.replace(before.line, max_calls=0, overflow="reject")
    service.settings = dataclasses.replace(before, line=drained)
    listener = service.bus.listen()
    try:
        line = caller("Hello?", "+15550104")
        assert asyncio.run(service.answer(line)) == []
        assert line.hung_up_by == "appliance" and not line.playback.sent_voiced_at
        busy = next(e for e in iter(listener.get_nowait, None) if e.kind == "call-busy")
        assert (busy.data["why"], busy.data["refused"]) == ("drained", 503)
        service.stop_taking_calls()
        slots = next(e for e in iter(listener.get_nowait, None) if e.kind == "capacity")
        assert (slots.data["accepting"], slots.data["why_not"], slots.data["free"]) == (False, "stopping", 0)
    finally:
        service.bus.forget(listener)
        service.stopping, service.settings = False, before


def test_four_calls_at_once_all_get_their_right_answers(service):
    questions = [("What is your refund policy?", "policy_query", "30"),
                 ("Do you have a mobile app?", "product_query", "app"),
                 ("Can I speak to a human please?", "speak_to_human", None),
                 ("What is your refund policy?", "policy_query", "30")]
    lines = [caller(text, f"+1555011{n}") for n, (text, _, _) in enumerate(questions)]
    before = service.settings
    service.settings = dataclasses.replace(before, line=dataclasses.replace(before.line, max_calls=4))
    try:
        async def run():
            return await asyncio.gather(*(service.answer(line) for line in lines))

        results = asyncio.run(asyncio.wait_for(run(), 300))
    finally:
        service.settings = before
    for (text, intent, mention), records in zip(questions, results):
        turn = next(r for r in records if r.kind == "caller")
        assert turn.reply["intent"] == intent, (text, turn.heard, turn.reply)
        if mention:
            assert mention in " ".join(turn.spoken).lower(), (text, turn.spoken)
    assert service.gate.turns > 0 and service.gate.waiting == 0
