"""Warm transfer against sipp: the appliance calls the agent (a sipp UAS), tells them who is waiting and why,
then connects the caller (a sipp UAC) through the box; a busy agent gets the caller a callback offer."""

from __future__ import annotations

import time

import numpy as np
import pytest

from appliance.bench import words
from appliance.line.callers import PiperCaller
from appliance.records.models import Agent, Callback

from sipp.pcap import speech_pcap
from sipp.peer import Recorder
from sipp.test_call_control import ended, events_since, idle, sipp_call, wait_for

CALLER = "+15550100"  # the From of the uac scenarios


@pytest.fixture(scope="module")
def voice(store):
    return PiperCaller(store.checked_path("tts"))


@pytest.fixture
def warm(running):
    """The service dials agents through its SIP line, as `serve` sets it up; only one agent is on duty."""
    running.service.dialer = running.sip.place_call
    others = [agent.id for agent in Agent.select().where(Agent.status == "available")]
    Agent.update(status="offline").where(Agent.id.in_(others)).execute()
    yield
    running.service.dialer = None
    Agent.update(status="available").where(Agent.id.in_(others)).execute()


def on_duty(port: int) -> Agent:
    return Agent.create(name="Morgan Reyes", expertise=["sales", "support"], status="available",
                        contact=f"sip:201@127.0.0.1:{port}")


def test_the_agent_hears_who_is_waiting_and_then_talks_with_the_caller(running, sipp, callee, voice, warm,
                                                                       tmp_path, whisper):
    said = voice("Hello, this is the accounts desk. How can I help you today?")
    gap = np.zeros(8000 * 2, np.int16)
    agent_pcap = speech_pcap(tmp_path / "agent.pcap", np.concatenate([said, gap] * 8))  # about 50 s of it
    agent_heard, caller_heard = Recorder(), Recorder()
    uas = callee("uas_agent.xml", sets={"phone": "201", "hold": 60000}, rtpport=agent_heard.port, pcap=agent_pcap,
                 timeout=150)
    agent = on_duty(uas.port)
    question = speech_pcap(tmp_path / "human.pcap", voice("Could I talk to a real person, please?"))
    start = time.time()
    try:
        result = sipp_call(sipp, running.port, "uac_put_through.xml", tmp_path, rtpport=caller_heard.port,
                           pcap=question, timeout=150)
    finally:
        to_agent, to_caller = agent_heard.stop(), caller_heard.stop()
        agent.delete_instance()
    seen = [(e.kind, e.data) for e in events_since(running, start)]
    assert result.returncode == 0, result.stderr
    assert uas.wait(30) == 0, uas.output()
    transferred = events_since(running, start, "call-transferred")
    assert transferred and transferred[0].data["mode"] == "warm", seen
    summary = words(whisper.transcribe(to_agent[:8000 * 20], 8000).text)
    assert "assistant" in summary and "morgan" in summary, summary  # who is calling them, and for whom
    assert {"through", "connecting"} & set(summary), summary
    heard = words(whisper.transcribe(to_caller, 8000).text)
    assert "morgan" in heard, heard  # "I've reached Morgan..."
    assert "accounts" in heard, heard  # and then the agent's own voice, carried through the box
    assert wait_for(lambda: ended(running, start), 10), seen
    assert ended(running, start)[0].data["ended_by"] == "agent"
    assert wait_for(lambda: idle(running), 10)


def test_a_busy_agent_gets_the_caller_a_callback_offer_they_can_take(running, sipp, callee, voice, warm, tmp_path):
    uas = callee("uas_busy.xml")
    agent = on_duty(uas.port)
    ask = voice("I need to speak to somebody on your team.")
    when = voice("Tomorrow at ten in the morning, please.")
    pcap = speech_pcap(tmp_path / "busy.pcap", np.concatenate([ask, np.zeros(8000 * 22, np.int16), when]))
    recorder = Recorder()
    start = time.time()
    try:
        result = sipp_call(sipp, running.port, "uac.xml", tmp_path, rtpport=recorder.port, pcap=pcap,
                           pause_ms=int(len(ask) / 8 + 22000 + len(when) / 8 + 12000), timeout=120)
    finally:
        recorder.stop()
        agent.delete_instance()
    seen = [(e.kind, e.data) for e in events_since(running, start)]
    assert result.returncode == 0, result.stderr
    assert not events_since(running, start, "call-transferred"), seen
    failed = [e.data for e in events_since(running, start, "stage-failed")]
    assert any(f["code"] == "line-transfer-failed" for f in failed), seen
    intents = [e.data["intent"] for e in events_since(running, start, "reply-finished")]
    assert "callback_request" in intents, seen
    booked = Callback.select().where((Callback.phone == CALLER) & (Callback.state == "scheduled"))
    assert booked.count() >= 1, seen
    assert wait_for(lambda: ended(running, start), 10), seen
    assert wait_for(lambda: idle(running), 10)
