"""The live events: from the call service's bus over the Unix socket to the panel, and out over SSE."""

from __future__ import annotations

import asyncio
import json

from appliance.panel.events import EventRelay, LiveCalls, in_progress, publish_to_socket
from appliance.service import CallEvent, EventBus

CALL = [{"kind": "call-started", "call": 7, "at": 100.0, "data": {"caller": "+15551230001", "line": "SipLine"}},
        {"kind": "caller-heard", "call": 7, "at": 103.0, "data": {"text": "What is your refund policy?"}},
        {"kind": "reply-started", "call": 7, "at": 103.9, "data": {"response_ms": 1180}},
        {"kind": "reply-finished", "call": 7, "at": 104.0,
         "data": {"intent": "callback_request", "text": "When shall we call?", "missing": ["callback_time"],
                  "latency_ms": {"endpoint": 700, "stt": 210, "llm_first_sentence": 300}}},
        {"kind": "action-queued", "call": 7, "at": 104.1, "data": {"action": "send_sms"}}]


def test_live_calls_follow_a_call_from_start_to_end():
    live = LiveCalls()
    for event in CALL:
        live.apply(event)
    (call,) = live.calls()
    assert call == {"call": 7, "caller": "+15551230001", "started_at": 100.0, "stage": "speaking",
                    "intent": "callback_request", "missing": ["callback_time"], "heard": "What is your refund policy?",
                    "actions": ["send_sms"], "response_ms": 1210, "error": ""}
    live.apply({"kind": "reply-finished", "call": 7, "at": 104.5, "data": {"intent": "callback_request"}})
    assert live.calls()[0]["missing"] == []  # the caller gave the time: nothing is missing any more
    live.apply({"kind": "stage-failed", "call": 7, "at": 105.0, "data": {"code": "llm-timeout"}})
    assert live.calls()[0]["stage"] == "error" and live.calls()[0]["error"] == "llm-timeout"
    live.apply({"kind": "call-busy", "call": 0, "at": 105.0, "data": {}})
    live.apply({"kind": "call-ended", "call": 7, "at": 106.0, "data": {"ended_by": "caller"}})
    assert live.calls() == []


def test_only_the_calls_still_in_progress_are_replayed():
    ended = [{"kind": "call-started", "call": 3, "data": {}}, {"kind": "call-ended", "call": 3, "data": {}}]
    assert in_progress(ended + CALL + [{"kind": "call-busy", "call": 0, "data": {}}]) == CALL


async def _next_sse(response, name: str, timeout_s: float = 5.0) -> dict:
    """The data of the next server-sent event called `name`."""
    async def read():
        current = None
        while True:
            line = (await response.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                current = line[len("event: "):]
            elif line.startswith("data: ") and current == name:
                return json.loads(line[len("data: "):])
    return await asyncio.wait_for(read(), timeout_s)


async def test_an_event_written_to_the_relay_socket_reaches_the_live_page_stream(admin, settings):
    response = await admin.get("/events")
    assert response.status == 200 and response.content_type == "text/event-stream"
    assert (await _next_sse(response, "calls")) == {"calls": []}
    _, writer = await asyncio.open_unix_connection(str(settings.paths.data_dir / "events.sock"))
    writer.write(b"not json\n" + json.dumps(CALL[0]).encode() + b"\n")
    await writer.drain()
    data = await _next_sse(response, "call")
    assert data["event"] == CALL[0] and data["calls"][0]["caller"] == "+15551230001"
    writer.close()
    live = await (await admin.get("/api/live")).json()
    assert [call["call"] for call in live["calls"]] == [7]
    response.close()


async def test_the_call_service_publishes_its_bus_to_the_panel_and_replays_calls_in_progress(tmp_path):
    path = tmp_path / "events.sock"
    bus = EventBus()
    bus.publish(CallEvent("call-started", 1, data={"caller": "+15550000001"}))  # before the panel listens
    bus.publish(CallEvent("call-started", 2, data={"caller": "+15550000002"}))
    bus.publish(CallEvent("call-ended", 2, data={"ended_by": "caller"}))
    publisher = asyncio.create_task(publish_to_socket(bus, path, retry_s=0.05))
    await asyncio.sleep(0.1)  # no panel yet: the service goes on, nothing waits
    relay = await EventRelay(path).start()
    queue = relay.subscribe()
    try:
        replayed = await asyncio.wait_for(queue.get(), 5)
        assert replayed["kind"] == "call-started" and replayed["call"] == 1
        bus.publish(CallEvent("caller-heard", 1, data={"text": "Hello?"}))
        heard = await asyncio.wait_for(queue.get(), 5)
        assert heard["kind"] == "caller-heard" and heard["data"] == {"text": "Hello?"}
        assert [call["call"] for call in relay.live.calls()] == [1]
    finally:
        publisher.cancel()
        await asyncio.gather(publisher, return_exceptions=True)
        await relay.close()
    assert not path.exists()
