"""`appliance bench --lines`: serve's log read back, and the per-line table from the calls' timings (no calls made)."""

from __future__ import annotations

from pathlib import Path

from appliance.bench_lines import Ear, Serve, summary


def test_serves_call_events_are_read_from_its_log():
    serve = Serve([], Path("unused"))
    serve.said = [
        "2026-12-07 15:00:00,001 WARNING appliance.serve: answering calls on sip://127.0.0.1:5070\n",
        "2026-12-07 15:00:01,002 INFO appliance.service: call 3 call-started caller='+155****101' line='ModemLine'\n",
        "2026-12-07 15:00:02,003 INFO appliance.line.modem: modem line: call from +155****101 answered\n",
        "2026-12-07 15:00:05,004 INFO appliance.service: call 3 reply-finished intent='policy_query' text='We offer'\n",
        "2026-12-07 15:00:09,005 INFO appliance.service: call 3 call-ended ended_by='caller' turns=2\n",
    ]
    assert serve.events("reply-finished", 0) == [(3, "intent='policy_query' text='We offer'\n")]
    assert serve.events("call-ended", 4) == [(3, "ended_by='caller' turns=2\n")]
    assert serve.events("call-ended", 5) == []


def test_a_caller_hears_the_first_voiced_audio_after_its_last_word():
    ear = Ear(said=[1.0, 1.02], heard=[(0.5, True), (1.5, False), (2.1, True), (2.2, True)])
    assert ear.voiced_since(ear.said[-1]) == 2.1


def call(line: str, caller_ms: float, own_ms: float, line_in: float, endpoint: float = 300.0) -> dict:
    return {"line": line, "voice_to_voice_ms": caller_ms, "appliance_ms": own_ms, "intent": "policy_query",
            "line_in": line_in, "endpoint": endpoint, "stt": 200.0, "llm_first_sentence": 180.0,
            "tts_first_audio": 190.0, "acknowledged": False}


def test_each_line_gets_its_caller_figures_and_what_the_appliance_does_not_see():
    rows = summary([call("sip", 1100, 950, 40), call("modem", 1000, 900, 20), call("sip", 1300, 1130, 60),
                    call("modem", 1200, 1080, 0, endpoint=1232)])
    assert [row["line"] for row in rows] == ["sip", "modem"]  # no AudioSocket calls, no row
    sip, modem = rows
    assert (sip["calls"], sip["p50"], sip["min"], sip["max"]) == (2, 1200, 1100, 1300)
    assert (sip["transport_p50"], sip["transport_min"], sip["transport_max"], sip["line_in"]) == (160, 150, 170, 50)
    assert (modem["appliance_p50"], modem["endpoint"], modem["understood"]) == (990, 766, 2)
