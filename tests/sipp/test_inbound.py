"""Calls from sipp, an independent SIP peer, answered over RTP by the whole appliance: a question answered, and a
caller who goes quiet."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime

import numpy as np

from appliance.audio.wav import read_wav
from appliance.bench import words
from appliance.call.session import prepared
from appliance.dialogue.conversation import greeting_for
from appliance.pipeline import default_question
from appliance.records.models import Call, Turn

from sipp.peer import Recorder, run_sipp
from speech import heard_as
from sipp.pcap import speech_pcap


def test_a_caller_asking_about_refunds_hears_the_refund_policy_back_over_rtp(running, sipp, whisper, tmp_path):
    question, rate = read_wav(default_question(), 8000)
    recorder = Recorder()
    result = run_sipp(sipp, running.port, "uac.xml", rtpport=recorder.port,
                      pcap=speech_pcap(tmp_path / "question.pcap", question), pause_ms=20000)
    audio = recorder.stop()
    assert result.returncode == 0, result.stderr[-2000:]
    heard = words(whisper.transcribe(audio, 8000).text)
    assert len(audio) > 8000 * 3, f"only {len(audio) / 8000:.1f} s of audio came back"
    said = [e.data for e in running.service.bus.recent if e.kind in ("caller-heard", "reply-finished")]
    assert heard_as(heard, "refund"), (" ".join(heard), said)


def quiet_pcap(folder, seconds: float = 1.0):
    return speech_pcap(folder / "quiet.pcap", np.zeros(int(8000 * seconds), np.int16))


def call_turns(start: float) -> tuple[Call, list[Turn]]:
    """The latest call from the uac scenarios' number, started after `start` (time.time()), and its turns."""
    call = Call.select().where(Call.caller_id == "+15550100").order_by(Call.id.desc()).get()
    assert datetime.fromisoformat(call.started_at).timestamp() >= int(start) - 1, "no new call was recorded"
    return call, list(Turn.select().where(Turn.call == call.id).order_by(Turn.number))


def test_a_caller_who_says_nothing_is_asked_once_then_told_goodbye_and_the_call_ends_by_silence(running, sipp,
                                                                                                whisper, tmp_path):
    recorder = Recorder()
    start = time.time()
    # The caller says nothing and waits for the appliance's BYE (the scenario fails without it).
    result = run_sipp(sipp, running.port, "uac_goodbye.xml", rtpport=recorder.port, pcap=quiet_pcap(tmp_path),
                      timeout=150)
    audio = recorder.stop()
    assert result.returncode == 0, result.stderr[-2000:]
    call, turns = call_turns(start)
    assert [turn.kind for turn in turns] == ["greeting", "reprompt", "goodbye"], [t.spoken for t in turns]
    assert turns[1].spoken == "Are you still there?" and "end the call" in turns[2].spoken
    assert call.ended_by == "silence"
    ended = [e for e in running.service.bus.recent if e.kind == "call-ended" and e.at >= start]
    assert ended and ended[0].data["ended_by"] == "silence"
    heard = words(whisper.transcribe(audio, 8000).text)
    assert {"still", "there", "goodbye"} <= set(heard), " ".join(heard)  # the question, then the goodbye


def test_a_caller_who_speaks_after_the_question_goes_on_as_usual(running, sipp, tmp_path):
    service = running.service
    before = service.settings
    service.settings = dataclasses.replace(before, vad=dataclasses.replace(before.vad, still_there_after_ms=4000,
                                                                            quiet_goodbye_after_ms=4000))
    greeting_s = len(prepared(service.voice, greeting_for(service.company.name, before.company.greeting))) / 8000
    asked_s = 2.0 + greeting_s + 4.0  # greeted after 2 s of silence, asked 4 s after the greeting
    question, _ = read_wav(default_question(), 8000)
    # The caller answers 2 s into the 4 s the question leaves them, with a question of their own.
    audio = np.concatenate([np.zeros(int(8000 * (asked_s + 2.0)), np.int16), question])
    start = time.time()
    try:
        result = run_sipp(sipp, running.port, "uac_goodbye.xml", rtpport=Recorder().port, timeout=150,
                          pcap=speech_pcap(tmp_path / "answer.pcap", audio))
    finally:
        service.settings = before
    assert result.returncode == 0, result.stderr[-2000:]
    call, turns = call_turns(start)
    kinds = [turn.kind for turn in turns]
    # Asked, answered as usual, and only a new silence after the answer asked about again, then the goodbye.
    assert kinds == ["greeting", "reprompt", "caller", "reprompt", "goodbye"], [(t.kind, t.heard) for t in turns]
    assert "refund" in turns[2].heard.lower() and "30" in turns[2].spoken
    assert call.ended_by == "silence"
