import re

import numpy as np
import pytest

from appliance import settings as settings_module
from appliance.audio.wav import read_wav
from appliance.cli import main
from appliance.pipeline import Pipeline, default_question

from speech import word_errors

QUESTION = "What is your refund policy?"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def pipeline(data_dir):
    return Pipeline(settings_module.load(environ={"APPLIANCE_PATHS_DATA_DIR": str(data_dir)}))


def test_the_built_in_question_is_answered_from_the_knowledge(pipeline, whisper):
    pcm, rate = read_wav(default_question())
    answer = pipeline.answer(pcm)
    assert word_errors(QUESTION, answer.heard) <= 1, answer.heard
    assert answer.passages[0].source == "refund-policy.md"
    assert answer.reply.intent == "policy_query" and answer.reply.used_knowledge
    assert "30" in " ".join(answer.spoken)
    assert len(answer.audio) > 8000 and np.abs(answer.audio).max() > 5000
    spoken_back = whisper.transcribe(answer.audio, 8000).text
    assert "30" in spoken_back or "thirty" in spoken_back.lower(), spoken_back
    for stage in ("endpoint", "stt", "retrieval", "llm_first_token", "llm_total", "tts_first_audio", "voice_to_voice"):
        assert answer.stages_ms[stage] >= 0
    silence_ms = pipeline.settings.vad.end_silence_ms
    assert silence_ms <= answer.stages_ms["endpoint"] <= silence_ms + 100  # the end-of-turn silence, to a VAD window


def test_spoken_sentences_are_the_reply(pipeline):
    answer = pipeline.answer(None, text=QUESTION)
    assert " ".join(answer.spoken) == answer.reply.immediate_response
    assert "stt" not in answer.stages_ms


def test_silence_is_a_clear_error(pipeline):
    from appliance.errors import ApplianceError

    with pytest.raises(ApplianceError, match="vad-no-speech"):
        pipeline.answer(np.zeros(16000, np.int16))


def test_ask_command_prints_each_stage_and_writes_the_reply(data_dir, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("APPLIANCE_PATHS_DATA_DIR", str(data_dir))
    out = tmp_path / "reply.wav"
    assert main(["ask", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    heard = re.search(r"^heard\s*: (.*)$", printed, re.M).group(1)
    assert word_errors(QUESTION, heard) <= 1
    assert re.search(r"^answered : .*30", printed, re.M)
    for name in ("speech to text", "retrieval", "LLM first token", "TTS first audio", "voice to voice"):
        assert re.search(rf"^{name}.* \d+ ms$", printed, re.M), name
    audio, rate = read_wav(out)
    assert rate == 8000 and len(audio) > 8000
