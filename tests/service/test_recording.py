"""A recorded call through the real call service: the notice before the greeting, both sides in the WAV, and the
call's row naming the file and its length."""

from __future__ import annotations

import asyncio
import dataclasses
import wave

import numpy as np
import pytest

from appliance import settings as settings_module
from appliance.line import voiced
from appliance.line.scripted import ScriptedLine, Step
from appliance.records.models import Call, Turn
from appliance.service import CallService

from speech import phone_speech

NOTICE = "This call is recorded."


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    base = settings_module.load()
    settings = dataclasses.replace(base, paths=dataclasses.replace(base.paths, data_dir=tmp_path_factory.mktemp("rec")),
                                   recording=dataclasses.replace(base.recording, mode="notice", notice=NOTICE))
    service = CallService(settings)
    yield service
    service.close()


def test_a_recorded_call_hears_the_notice_first_and_leaves_a_stereo_wav_of_both_sides(service):
    hello = phone_speech("Hello?")
    line = ScriptedLine([Step(silence_ms=2500), Step(pcm=hello, silence_ms=100), Step(hangup=True)],
                        caller_id="+15550199", reply_gap_ms=600, reply_timeout_ms=3000, hold_timeout_ms=3000)
    records = asyncio.run(asyncio.wait_for(service.answer(line), 180))
    greeting = next(r for r in records if r.kind == "greeting")
    assert " ".join(greeting.spoken).startswith(NOTICE + " Hello, thank you for calling")
    call = Call.select().where(Call.caller_id == "+15550199").get()
    assert call.recording.startswith("recordings/") and call.recording.endswith(f"-call-{call.id}.wav")
    assert Turn.select().where(Turn.call == call.id, Turn.kind == "greeting").get().spoken.startswith(NOTICE)
    with wave.open(str(service.settings.paths.data_dir / call.recording), "rb") as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (2, 2, 8000)
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2").reshape(-1, 2)
    assert call.recording_s == pytest.approx(len(samples) / 8000, abs=0.01)
    assert len(samples) == line.position_ms * 8  # every tick of the call, none twice
    caller, appliance = samples[:, 0], samples[:, 1]
    frames = range(0, len(samples), 160)
    heard_at = [i for i in frames if voiced(caller[i:i + 160])]
    said_at = [i for i in frames if voiced(appliance[i:i + 160])]
    assert heard_at and said_at and said_at[0] < heard_at[0]  # the notice and greeting came before the "Hello?"
    assert np.array_equal(caller[heard_at[0]:heard_at[0] + 160], hello[heard_at[0] - int(
        line.steps[1].speech_start_ms * 8):][:160])


def test_with_recording_off_a_call_leaves_no_file_and_hears_no_notice(service):
    service.settings = dataclasses.replace(service.settings, recording=dataclasses.replace(
        service.settings.recording, mode="off"))
    line = ScriptedLine([Step(silence_ms=2500), Step(pcm=phone_speech("Hello?"), silence_ms=100), Step(hangup=True)],
                        caller_id="+15550123", reply_gap_ms=600, reply_timeout_ms=3000, hold_timeout_ms=3000)
    asyncio.run(asyncio.wait_for(service.answer(line), 180))
    call = Call.select().where(Call.caller_id == "+15550123").get()
    assert call.recording == "" and call.recording_s is None
    assert not Turn.select().where(Turn.call == call.id, Turn.kind == "greeting").get().spoken.startswith(NOTICE)
    assert not list(service.settings.paths.data_dir.rglob(f"*-call-{call.id}.wav"))
