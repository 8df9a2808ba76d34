"""Whole calls in real time on a scripted line, with the real models."""

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from appliance import engines
from appliance.call.session import CallSession
from appliance.dialogue.conversation import Conversation, greeting_for
from appliance.line.scripted import ScriptedLine, Step, caller_voiced_end_ms

from speech import phone_speech, word_errors

NOW = datetime(2025, 10, 5, 9, 0, tzinfo=ZoneInfo("Asia/Kolkata"))


def call(parts, steps):
    settings, store, index, responder, whisper, piper = parts
    line = ScriptedLine(steps, caller_id="+919876543210", reply_gap_ms=2500)  # waits out a slow answer
    conversation = Conversation("TechCorp", index, responder, lambda: NOW)
    session = CallSession(line, engines.voice_detector(settings, store), whisper, piper, conversation)
    records = asyncio.run(asyncio.wait_for(session.run(), 120))
    return line, session, records


def test_greeting_question_and_goodbye(parts):
    steps = [Step(silence_ms=2500), Step(pcm=phone_speech("What is your refund policy?")),
             Step(pcm=phone_speech("No, that's all. Thank you!"))]
    line, session, records = call(parts, steps)
    assert [r.kind for r in records] == ["greeting", "caller", "caller"]
    greeting, question, goodbye = records
    assert greeting.at_ms == pytest.approx(800, abs=40) and "TechCorp" in greeting.spoken[0]
    assert word_errors("What is your refund policy?", question.heard) <= 1
    assert question.reply["intent"] == "policy_query" and "30" in " ".join(question.spoken)
    assert goodbye.call_ended and goodbye.reply["intent"] == "goodbye"
    assert line.hung_up_by == "appliance"
    v2v = session.voice_to_voice(question, caller_voiced_end_ms(steps[1]))
    assert v2v is not None and v2v > 0
    for stage in ("endpoint", "stt", "retrieval", "tts_first_audio"):
        assert question.latency_ms[stage] >= 0
    assert "llm_first_token" not in question.latency_ms  # the policy's own sentence is said: no model asked


def test_barge_in_stops_the_reply_within_200_ms(parts):
    steps = [Step(silence_ms=2100),
             Step(pcm=phone_speech("Sorry, what is your refund policy?", pad_ms=0), barge_in_after_ms=1000),
             Step(hangup=True)]
    line, session, records = call(parts, steps)
    greeting = records[0]
    assert greeting.kind == "greeting" and greeting.interrupted
    cut_in = steps[1].speech_start_ms
    greeting_frames = [at for at in line.playback.sent_voiced_at if greeting.at_ms <= at < steps[1].speech_end_ms]
    assert greeting_frames and max(greeting_frames) <= cut_in + 200
    assert any(r.kind == "caller" and "refund" in (r.heard or "").lower() for r in records[1:])


def test_acknowledgements_are_synthesized_once_per_voice(piper):
    from appliance.call.session import ACKNOWLEDGEMENTS, STILL_HOLDING, acknowledgements

    class CountingVoice:
        def __init__(self):
            self.texts = []

        def synthesize(self, text):
            self.texts.append(text)
            return piper.synthesize(text)

    voice = CountingVoice()
    first = acknowledgements(voice)
    assert acknowledgements(voice) is first and voice.texts == list(ACKNOWLEDGEMENTS + STILL_HOLDING)
    assert all(len(pcm) > 1600 for _, pcm in first)  # each is real audio, over 0.2 s at 8 kHz


def test_the_greeting_setting_is_said_with_the_company_name():
    assert greeting_for("Acme Water", "") == "Hello, thank you for calling Acme Water. How can I help you today?"
    assert greeting_for("Acme Water", "  {company} support, good morning!  ") == "Acme Water support, good morning!"
    assert greeting_for("Acme Water", "Welcome to our helpline.") == "Welcome to our helpline."


def test_a_barge_in_while_the_model_answers_leaves_the_call_answering_the_new_words(scripted_call, caplog):
    """The caller cuts into a knowledge answer while the reply model is still generating it: the generation stops
    quietly (no llm-generation-failed, no task error left unread) and the new words get their own answer."""
    steps = [Step(silence_ms=2100),
             Step(pcm=phone_speech("What is your refund policy?")),
             Step(pcm=phone_speech("Actually, can I speak to a person please?", pad_ms=0), barge_in_after_ms=300),
             Step(hangup=True)]
    line, records, events = scripted_call(steps)
    failed = [data for kind, data in events if kind == "stage-failed"]
    assert not failed, failed
    assert "never retrieved" not in caplog.text and "llm-generation-failed" not in caplog.text
    said = [(r.heard, r.reply["intent"] if r.reply else None, r.interrupted) for r in records if r.kind == "caller"]
    assert said[-1][1] == "speak_to_human" and "speak" in said[-1][0].lower(), said  # the new words, answered
