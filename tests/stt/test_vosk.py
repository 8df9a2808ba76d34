import re

import numpy as np
import pytest

from appliance.errors import ApplianceError
from appliance.stt.vosk import VoskTranscriber, model_rate_hz

from speech import espeak

HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.fixture(scope="module")
def korean(store):
    return VoskTranscriber(store.checked_path("vosk-ko"))


def mostly_hangul(text: str) -> bool:
    letters = text.replace(" ", "")
    return bool(letters) and len(HANGUL.findall(letters)) >= len(letters) / 2


def test_reads_the_model_rate(korean):
    assert korean.rate_hz == 16000


def test_the_model_rate_comes_from_mfcc_conf(tmp_path):
    assert model_rate_hz(tmp_path) == 16000
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mfcc.conf").write_text("--use-energy=false\n--sample-frequency=8000\n")
    assert model_rate_hz(tmp_path) == 8000


@pytest.mark.parametrize("text", ["안녕하세요", "환불 정책이 뭐예요", "오늘 날씨가 좋습니다"])
def test_korean_speech_comes_back_as_korean_words(korean, text):
    # espeak-ng's Korean voice is rough and the model is the small one, so most words come out wrong
    # ("안녕하세요" is heard as "아 휴 영파 하세요"); what must hold is that Kaldi decoded the audio
    # into Hangul words that share syllables with what was said.
    transcript = korean.transcribe(espeak(text, "ko", 16000, 130), 16000)
    assert mostly_hangul(transcript.text), transcript.text
    assert set(transcript.text) & set(text.replace(" ", "")), transcript.text
    assert 0 < transcript.confidence <= 1


def test_korean_numbers_share_a_word(korean):
    # "일 이 삼 사" (one two three four) comes back as "이어 이 사와 [4] 와".
    heard = korean.transcribe(espeak("일 이 삼 사", "ko", 16000, 100), 16000).text
    assert set(heard.split()) & {"일", "이", "삼", "사"}, heard


@pytest.mark.parametrize("text", ["환불 정책이 뭐예요", "오늘 날씨가 좋습니다"])
def test_line_rate_audio_is_resampled(korean, speak, text):
    heard = korean.transcribe(speak(text, "ko"), 8000).text
    assert mostly_hangul(heard) and set(heard) & set(text.replace(" ", "")), heard


def test_silence_is_no_words(korean):
    transcript = korean.transcribe(np.zeros(16000, np.int16), 16000)
    assert transcript.text == "" and transcript.confidence is None and transcript.audio_ms == 1000


def test_a_folder_that_is_not_a_vosk_model_is_refused(tmp_path):
    (tmp_path / "conf").mkdir()
    with pytest.raises(ApplianceError) as error:
        VoskTranscriber(tmp_path)
    assert error.value.code == "stt-model-invalid" and "am/final.mdl" in str(error.value)


def test_a_folder_of_broken_vosk_files_is_refused(tmp_path):
    for name in ("am/final.mdl", "conf/model.conf", "conf/mfcc.conf", "graph/HCLG.fst"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("not a model\n")
    with pytest.raises(ApplianceError) as error:
        VoskTranscriber(tmp_path)
    assert error.value.code == "stt-model-invalid" and str(tmp_path) in str(error.value)
