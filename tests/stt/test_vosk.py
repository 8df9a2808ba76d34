import re

import numpy as np
import pytest

from appliance.errors import ApplianceError
from appliance.stt.vosk import VoskTranscriber

from speech import espeak

HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.fixture(scope="module")
def korean(store):
    return VoskTranscriber(store.checked_path("vosk-ko"))


def test_reads_the_model_rate(korean):
    assert korean.rate_hz == 16000


@pytest.mark.parametrize("text", ["오늘 날씨가 좋습니다", "사과"])
def test_korean_speech_comes_back_as_korean_words(korean, text):
    # espeak-ng's Korean voice is rough, so the words are not all right; what must hold is that
    # Kaldi decoded the audio into Hangul words that share syllables with what was said.
    heard = korean.transcribe(espeak(text, "ko", 16000, 100), 16000).text
    letters = heard.replace(" ", "")
    assert letters and len(HANGUL.findall(letters)) >= len(letters) / 2, heard
    assert set(heard) & set(text.replace(" ", "")), heard


def test_line_rate_audio_is_resampled(korean):
    speech = espeak("오늘 날씨가 좋습니다", "ko", 8000, 100)
    assert korean.transcribe(speech, 8000).text


def test_silence_is_no_words(korean):
    assert korean.transcribe(np.zeros(16000, np.int16), 16000).text == ""


def test_a_folder_that_is_not_a_vosk_model_is_refused(tmp_path):
    (tmp_path / "conf").mkdir()
    with pytest.raises(ApplianceError) as error:
        VoskTranscriber(tmp_path)
    assert error.value.code == "stt-model-invalid" and "am/final.mdl" in str(error.value)
