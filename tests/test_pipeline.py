import re

import numpy as np
import pytest

from appliance.audio.wav import read_wav, write_wav
from appliance.cli import main
from appliance.line import open_line
from appliance.line.wav import WavLine
from appliance.pipeline import default_question

from speech import word_errors

QUESTION = "What is your refund policy?"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def test_ask_answers_the_built_in_question_through_a_call_session(data_dir, monkeypatch, capsys, tmp_path, whisper):
    monkeypatch.setenv("APPLIANCE_PATHS_DATA_DIR", str(data_dir))
    # Silence alone ends the turn, so the endpoint is known to a VAD window; the end-of-turn model's endpoint
    # depends on how fast it answers, and is tested in tests/call/test_end_of_turn.py.
    monkeypatch.setenv("APPLIANCE_VAD_TURN_MODEL", "")
    out = tmp_path / "reply.wav"
    assert main(["ask", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    heard = re.search(r"^heard\s*: (.*)$", printed, re.M).group(1)
    assert word_errors(QUESTION, heard) <= 1
    assert re.search(r"^answered : .*30", printed, re.M)
    assert "intent=policy_query" in printed and "used_knowledge=True" in printed
    for name in ("endpoint", "retrieval", "TTS first audio", "voice to voice"):
        assert re.search(rf"^{name}.* \d+ ms$", printed, re.M), name
    endpoint = int(re.search(r"^endpoint.* (\d+) ms$", printed, re.M).group(1))
    assert 700 <= endpoint <= 800  # the end-of-turn silence, to a VAD window
    audio, rate = read_wav(out)
    assert rate == 8000 and np.abs(audio).max() > 5000
    spoken_back = whisper.transcribe(audio, 8000).text
    assert "30" in spoken_back or "thirty" in spoken_back.lower(), spoken_back


def test_a_recording_with_no_question_is_a_clear_error(data_dir, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("APPLIANCE_PATHS_DATA_DIR", str(data_dir))
    silent = tmp_path / "silence.wav"
    write_wav(silent, np.zeros(8000, np.int16), 8000)
    assert main(["ask", str(silent)]) == 2
    assert "vad-no-speech" in capsys.readouterr().err


def test_wav_lines_open_from_their_uri():
    line = open_line(f"wav://{default_question()}")
    assert isinstance(line, WavLine) and len(line.caller_step.pcm) > 8000
    with pytest.raises(ValueError, match="unknown line"):
        open_line("carrier-pigeon://roof")
