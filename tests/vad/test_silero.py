import numpy as np
import pytest

from appliance.errors import ApplianceError
from appliance.vad import SileroVad, VoiceDetector, VoiceStarted, VoiceStopped


@pytest.fixture(scope="module")
def model(store):
    return store.checked_path("vad")


def windows(pcm, size):
    return [pcm[i:i + size] for i in range(0, len(pcm) - size + 1, size)]


def speech_bounds_ms(pcm, rate_hz=8000):
    loud = np.nonzero(np.abs(pcm.astype(np.int32)) > 600)[0]
    return loud[0] * 1000 / rate_hz, loud[-1] * 1000 / rate_hz


def feed(detector, pcm, frame=160):
    events = []
    for offset in range(0, len(pcm), frame):
        events += detector.process(pcm[offset:offset + frame])
    return events


def test_speech_scores_high_and_silence_and_noise_low(model, speak):
    vad = SileroVad(model, 8000)
    speech = speak("What is your refund policy?")
    scores = [vad.voice_confidence(w) for w in windows(speech, vad.window_samples)]
    assert max(scores) > 0.9
    vad.reset()
    silence = [vad.voice_confidence(w) for w in windows(np.zeros(8000, np.int16), vad.window_samples)]
    noise = np.random.default_rng(1).normal(0, 300, 16000).astype(np.int16)
    vad.reset()
    hiss = [vad.voice_confidence(w) for w in windows(noise, vad.window_samples)]
    assert max(silence) < 0.2 and np.mean(hiss) < 0.3


def test_one_question_is_one_turn_at_the_right_place(model, speak):
    speech = np.concatenate([speak("What is your refund policy?"), np.zeros(8000, np.int16)])
    events = feed(VoiceDetector(model, end_silence_ms=700), speech)
    assert [type(e) for e in events] == [VoiceStarted, VoiceStopped]
    first_ms, last_ms = speech_bounds_ms(speech)
    assert abs(events[0].at_ms - first_ms) < 150
    assert abs(events[1].at_ms - last_ms) < 150


def test_a_pause_mid_sentence_is_not_the_end_of_the_turn(model, speak):
    first, second = speak("I would like to know", pad_ms=0), speak("about the professional plan", pad_ms=0)
    pause = np.zeros(8000 * 3 // 10, np.int16)
    speech = np.concatenate([np.zeros(2400, np.int16), first, pause, second, np.zeros(8000, np.int16)])
    patient = feed(VoiceDetector(model, end_silence_ms=700), speech)
    assert [type(e) for e in patient] == [VoiceStarted, VoiceStopped]
    hasty = feed(VoiceDetector(model, end_silence_ms=150), speech)
    assert [type(e) for e in hasty] == [VoiceStarted, VoiceStopped, VoiceStarted, VoiceStopped]


def test_16k_audio(store, speak):
    from appliance.audio.resample import resample

    vad = SileroVad(store.checked_path("vad"), 16000)
    speech = resample(speak("Hello, I need some help please."), 8000, 16000)
    assert vad.window_samples == 512
    assert max(vad.voice_confidence(w) for w in windows(speech, 512)) > 0.9


def test_missing_or_bad_model_is_a_clear_error(tmp_path):
    with pytest.raises(ApplianceError, match="vad-model-missing"):
        SileroVad(tmp_path / "none.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a network")
    with pytest.raises(ApplianceError, match="vad-model-invalid"):
        SileroVad(bad)
    with pytest.raises(ApplianceError, match="vad-rate-unsupported"):
        SileroVad(bad, 22050)
