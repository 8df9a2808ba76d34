import numpy as np
import pytest

from appliance.audio.g711 import telephone
from appliance.errors import ApplianceError
from appliance.tts.piper import PiperSynthesizer

from speech import word_errors


def test_speech_is_8k_int16_of_plausible_length_and_loud_enough(piper):
    text = "Thank you for calling TechCorp. How can I help you today?"
    chunks = list(piper.synthesize(text))
    audio = np.concatenate(chunks)
    assert piper.sample_rate_hz == 8000 and audio.dtype == np.int16
    seconds = len(audio) / 8000
    words = len(text.split())
    assert 0.2 * words < seconds < 0.6 * words
    assert np.sqrt(np.mean(audio.astype(np.float64) ** 2)) > 1000
    assert len(chunks) == 2  # one chunk per sentence


def test_stream_speaks_the_first_sentence_before_the_next_one_exists(piper):
    pulled = []

    def sentences():
        for sentence in ["We offer a thirty day guarantee.", "Refunds take five days.", "Anything else?"]:
            pulled.append(sentence)
            yield sentence

    stream = piper.stream(sentences())
    first = next(stream)
    assert len(first) > 4000 and pulled == ["We offer a thirty day guarantee."]
    rest = list(stream)
    assert len(rest) == 2 and len(pulled) == 3


@pytest.mark.parametrize("text", ["We offer a 30-day money-back guarantee on every purchase.",
                                  "You can get a full refund within 30 days."])
def test_round_trip_through_a_phone_line_and_whisper(piper, whisper, text):
    audio = telephone(np.concatenate(list(piper.synthesize(text))))
    heard = whisper.transcribe(audio, 8000).text
    assert word_errors(text, heard) <= 1, heard


def test_empty_text_is_no_audio(piper):
    assert list(piper.synthesize("   ")) == []


def test_missing_or_bad_voice_is_a_clear_error(tmp_path):
    with pytest.raises(ApplianceError, match="tts-model-missing"):
        PiperSynthesizer(tmp_path / "none.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a voice")
    (tmp_path / "bad.onnx.json").write_text("{}")
    with pytest.raises(ApplianceError, match="tts-model-invalid"):
        PiperSynthesizer(bad)
