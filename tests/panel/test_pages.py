"""The panel's pages over a real records file: figures, history, a call's transcript, and the changes an admin makes."""

from __future__ import annotations

import re

from appliance.actions.queue import make_queue
from appliance.records.models import Agent, AuditLog, Callback, Escalation, Lead, Outbox, Ticket


def _audited(what: str) -> bool:
    return AuditLog.select().where((AuditLog.who == "alice") & (AuditLog.what == what)).exists()


async def test_the_live_page_shows_the_last_hours_figures(admin, panel):
    panel.seed_call(p50_ms=700)
    panel.seed_call(caller="+15551230002", p50_ms=900, knowledge=False, escalated=True, intents=("speak_to_human",))
    panel.seed_call(caller="+15551230003", p50_ms=None, knowledge=False, ended_by="silence", intents=("other",))
    Escalation.create(agent="John", reason="asked for a person")
    panel.seed_message(state="sent", channel="sms", key="s1")
    panel.seed_message(state="sent", channel="email", key="e1")
    panel.seed_message(state="sent", channel="email", key="e2")
    panel.seed_message(state="failed", channel="email", key="f1")
    text = await (await admin.get("/")).text()
    figures = dict(re.findall(r'data-figure="(\w+)">([^<]*)<', text))
    # The caller who went quiet is a call, but neither resolved nor escalated.
    assert figures == {"calls": "3", "response_ms": "800", "knowledge": "1", "resolved": "1", "escalations": "1",
                       "abandoned": "1", "sms": "1", "emails": "2", "whatsapp": "0"}
    assert "No calls in progress." in text
    assert set(re.findall(r'<img class="chart" data-chart="(\w+)" src="/chart.svg\?of=\1"', text)) == {
        "calls", "response_ms", "escalations"}
    live = await (await admin.get("/api/live")).json()
    assert live["figures"]["emails"] == 2 and live["calls"] == []


async def test_the_charts_have_a_bar_per_hour_drawn_by_the_server(admin, panel):
    panel.seed_call(p50_ms=700)
    panel.seed_call(p50_ms=900, escalated=True)
    panel.seed_call(p50_ms=None)  # a call with no measured reply counts, but not in the average
    response = await admin.get("/chart.svg")
    svg = await response.text()
    assert response.content_type == "image/svg+xml" and svg.startswith("<svg")
    assert svg.count("<rect") == 24 and svg.count(": 3</title>") == 1 and svg.count(": 0</title>") == 23
    response_ms = await (await admin.get("/chart.svg?of=response_ms")).text()
    assert response_ms.count(": 800 ms</title>") == 1 and response_ms.count(": none</title>") == 23
    escalations = await (await admin.get("/chart.svg?of=escalations")).text()
    assert escalations.count(": 1</title>") == 1 and "handed to a person" in escalations
    missing = await admin.get("/chart.svg?of=secrets")
    assert missing.status == 404 and "calls, response_ms, escalations" in await missing.text()


async def test_calls_are_found_by_number_and_by_intent(admin, panel):
    panel.seed_call(caller="+15551230001", intents=("faq",))
    panel.seed_call(caller="+15559990002", intents=("order_status", "faq"))
    panel.seed_call(caller="+15557770003", intents=("complaint",))

    async def found(query: str) -> set[str]:
        text = await (await admin.get(f"/calls{query}")).text()
        return set(re.findall(r"\+1555\d{7}", text))

    assert await found("") == {"+15551230001", "+15559990002", "+15557770003"}
    assert await found("?q=999") == {"+15559990002"}
    assert await found("?intent=faq") == {"+15551230001", "+15559990002"}
    assert await found("?q=777&intent=faq") == set()
    options = await (await admin.get("/calls")).text()
    assert '<option value="complaint">' in options and '<option value="order_status">' in options


async def test_the_call_list_says_how_each_call_ended(admin, panel):
    panel.seed_call(caller="+15551230001")
    quiet = panel.seed_call(caller="+15554440004", ended_by="silence")
    listed = await (await admin.get("/calls")).text()
    assert "<th>Ended</th>" in listed and "<td>caller went quiet</td>" in listed and "<td>caller hung up</td>" in listed
    assert "(caller went quiet)" in await (await admin.get(f"/calls/{quiet.id}")).text()


async def test_a_calls_page_has_its_transcript_reply_json_and_timings(admin, panel):
    call = panel.seed_call(heard="Can I get a refund?")
    text = await (await admin.get(f"/calls/{call.id}")).text()
    assert "Can I get a refund?" in text and "We offer a 30-day money back guarantee." in text
    assert "&quot;intent&quot;: &quot;faq&quot;" in text  # the reply JSON, escaped in its <pre>
    assert "stt 212 ms" in text and "llm_first_sentence 302 ms" in text and "tts_first_audio 80 ms" in text
    assert (await admin.get("/calls/999")).status == 404
    assert (await admin.get("/calls/abc")).status == 404


async def test_retry_moves_a_failed_message_back_to_queued_wakes_the_worker_and_is_audited(admin, panel, settings):
    row = panel.seed_message(state="failed")
    page = await (await admin.get("/outbox?state=failed")).text()
    assert "550 5.1.1 no such user" in page and f'action="/outbox/{row.id}/retry"' in page
    response = await admin.post(f"/outbox/{row.id}/retry", data={"csrf": panel.csrf_of(page)}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/outbox"
    stored = Outbox.get_by_id(row.id)
    assert stored.state == "queued" and stored.attempts == 0
    assert _audited(f"retried outbox message {row.id}")
    assert make_queue(settings, channels={}).huey.pending_count() == 1  # the worker is told at once
    again = await admin.post(f"/outbox/{row.id}/retry", data={"csrf": panel.csrf_of(page)})
    assert again.status == 409  # a queued message is not "retried" twice


async def test_cancel_stops_a_queued_message(admin, panel):
    row = panel.seed_message(state="queued")
    page = await (await admin.get("/outbox")).text()
    await admin.post(f"/outbox/{row.id}/cancel", data={"csrf": panel.csrf_of(page)})
    stored = Outbox.get_by_id(row.id)
    assert stored.state == "cancelled" and stored.last_error == "cancelled by alice"
    assert _audited(f"cancelled outbox message {row.id}")
    sent = panel.seed_message(state="sent", key="s1")
    assert (await admin.post(f"/outbox/{sent.id}/cancel", data={"csrf": panel.csrf_of(page)})).status == 409
    assert Outbox.get_by_id(sent.id).state == "sent"


async def test_callbacks_tickets_and_agents_take_their_actions(admin, panel):
    callback = Callback.create(phone="+15551230001", at="2030-01-01T10:00:00+00:00",
                               at_utc="2030-01-01T10:00:00+00:00", reason="refund status")
    ticket = Ticket.create(issue_type="damaged", priority="high", description="broken screen")
    agent = Agent.create(name="John", expertise=["technical"], contact="sip:201@pbx.local")
    page = await (await admin.get("/callbacks")).text()
    assert "refund status" in page
    token = panel.csrf_of(page)
    await admin.post(f"/callbacks/{callback.id}/cancel", data={"csrf": token})
    assert Callback.get_by_id(callback.id).state == "cancelled"
    assert "broken screen" in await (await admin.get("/tickets")).text()
    await admin.post(f"/tickets/{ticket.id}/close", data={"csrf": token})
    assert Ticket.get_by_id(ticket.id).status == "closed"
    agents = await (await admin.get("/agents")).text()
    assert "Mark away" in agents and "sip:201@pbx.local" in agents
    await admin.post(f"/agents/{agent.id}/status", data={"csrf": token, "status": "away"})
    assert Agent.get_by_id(agent.id).status == "offline"  # away: not handed callers (policy picks "available")
    await admin.post(f"/agents/{agent.id}/status", data={"csrf": token, "status": "available"})
    assert Agent.get_by_id(agent.id).status == "available"
    assert (await admin.post(f"/agents/{agent.id}/status", data={"csrf": token, "status": "boss"})).status == 400
    for what in (f"cancelled callback {callback.id}", f"closed ticket {ticket.id}", f"marked agent {agent.id} away",
                 f"marked agent {agent.id} available"):
        assert _audited(what), what
    log = await (await admin.get("/audit")).text()
    assert f"closed ticket {ticket.id}" in log and "alice" in log


async def test_hot_leads_come_first(admin):
    Lead.create(phone="+15550000001", name="Cold Carl", quality="cold")
    Lead.create(phone="+15550000002", name="Hot Hana", quality="hot")
    Lead.create(phone="+15550000003", name="Warm Wim", quality="warm")
    text = await (await admin.get("/leads")).text()
    assert text.index("Hot Hana") < text.index("Warm Wim") < text.index("Cold Carl")


async def test_a_callback_is_rescheduled_to_a_time_to_come_and_audited(admin, panel):
    callback = Callback.create(phone="+15551230001", at="2030-01-01T10:00:00+00:00",
                               at_utc="2030-01-01T10:00:00+00:00", reason="refund status", state="due")
    page = await (await admin.get("/callbacks")).text()
    assert f'action="/callbacks/{callback.id}/reschedule"' in page
    token = panel.csrf_of(page)
    moved = await admin.post(f"/callbacks/{callback.id}/reschedule", data={"csrf": token, "at": "2031-02-03T14:30"})
    assert moved.status == 200  # after the 303 back to the list
    stored = Callback.get_by_id(callback.id)
    assert (stored.state, stored.at, stored.at_utc) == ("scheduled", "2031-02-03T14:30:00+00:00",
                                                         "2031-02-03T14:30:00+00:00")
    assert _audited(f"rescheduled callback {callback.id} to 2031-02-03T14:30+00:00")
    past = await admin.post(f"/callbacks/{callback.id}/reschedule", data={"csrf": token, "at": "2001-01-01T09:00"})
    assert past.status == 400 and Callback.get_by_id(callback.id).at_utc == "2031-02-03T14:30:00+00:00"
    assert (await admin.post(f"/callbacks/{callback.id}/reschedule", data={"csrf": token, "at": "soon"})).status == 400
    Callback.update(state="done").where(Callback.id == callback.id).execute()
    done = await admin.post(f"/callbacks/{callback.id}/reschedule", data={"csrf": token, "at": "2032-01-01T09:00"})
    assert done.status == 409 and Callback.get_by_id(callback.id).state == "done"


def test_a_chart_with_nothing_in_it_says_so_rather_than_drawing_an_empty_axis():
    from appliance.panel.chart import bar_chart

    hours = [f"{hour:02d}" for hour in range(24)]
    assert "nothing yet" in str(bar_chart([None] * 24, hours, "Average response time per hour", unit=" ms"))
    assert "nothing yet" in str(bar_chart([0] * 24, hours, "Calls per hour"))
    assert "nothing yet" not in str(bar_chart([0] * 23 + [2], hours, "Calls per hour"))
