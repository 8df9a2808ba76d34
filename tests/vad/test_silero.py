import numpy as np
import pytest

from appliance.audio.resample import resample
from appliance.errors import ApplianceError
from appliance.vad import SileroVad, VoiceDetector, VoiceStarted, VoiceStopped


@pytest.fixture(scope="module")
def model(store):
    return store.checked_path("vad")


def windows(pcm, size):
    return [pcm[i:i + size] for i in range(0, len(pcm) - size + 1, size)]


def speech_bounds_ms(pcm, rate_hz=8000):
    """Where the speech is, by 10 ms frame energy: the first and last frame within 40 dB of the loudest."""
    frame = rate_hz // 100
    frames = pcm[:len(pcm) // frame * frame].astype(np.float64).reshape(-1, frame)
    energy_db = 10 * np.log10((frames ** 2).mean(axis=1) + 1e-9)
    loud = np.nonzero(energy_db > energy_db.max() - 40)[0]
    return loud[0] * 10.0, (loud[-1] + 1) * 10.0


def trimmed(pcm):
    """Speech with the silence espeak-ng leaves around it cut off."""
    first_ms, last_ms = speech_bounds_ms(pcm)
    return pcm[int(first_ms * 8):int(last_ms * 8)]


def silence(ms, rate_hz=8000):
    return np.zeros(rate_hz * ms // 1000, np.int16)


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
    assert max(scores[:5]) < 0.2  # the 160 ms of silence before the voice
    vad.reset()
    quiet = [vad.voice_confidence(w) for w in windows(silence(1000), vad.window_samples)]
    noise = np.random.default_rng(1).normal(0, 300, 16000).astype(np.int16)
    vad.reset()
    hiss = [vad.voice_confidence(w) for w in windows(noise, vad.window_samples)]
    assert max(quiet) < 0.2 and np.mean(hiss) < 0.3


def test_reset_forgets_the_previous_audio(model, speak):
    vad = SileroVad(model, 8000)
    speech = speak("Hello, I need some help please.")
    first = [vad.voice_confidence(w) for w in windows(speech, 256)]
    vad.reset()
    again = [vad.voice_confidence(w) for w in windows(speech, 256)]
    assert again == pytest.approx(first, abs=1e-5)
    with pytest.raises(ValueError):
        vad.voice_confidence(speech[:255])


def test_calls_sharing_one_loaded_model_keep_their_own_state(model, speak):
    from appliance.vad.silero import load_model

    shared = load_model(model)
    speech, other = speak("Hello, I need some help please."), speak("Where is my order?")
    by_itself = SileroVad(model, 8000)
    alone = [by_itself.voice_confidence(w) for w in windows(speech, 256)]
    first, second = SileroVad(None, 8000, model=shared), SileroVad(None, 8000, model=shared)
    interleaved = []
    for mine, theirs in zip(windows(speech, 256), windows(np.resize(other, len(speech)), 256)):
        interleaved.append(first.voice_confidence(mine))
        second.voice_confidence(theirs)
    assert interleaved == pytest.approx(alone, abs=1e-5)


def test_one_question_is_one_turn_at_the_right_place(model, speak):
    speech = np.concatenate([speak("What is your refund policy?"), silence(1000)])
    events = feed(VoiceDetector(model, end_silence_ms=700), speech)
    assert [type(e) for e in events] == [VoiceStarted, VoiceStopped]
    first_ms, last_ms = speech_bounds_ms(speech)
    assert abs(events[0].at_ms - first_ms) < 150
    assert abs(events[1].at_ms - last_ms) < 150
    assert events[1].speech_ms == events[1].at_ms - events[0].at_ms


@pytest.mark.parametrize("chunk", [37, 256, 1000])
def test_chunk_size_does_not_change_the_events(model, speak, chunk):
    speech = np.concatenate([speak("What is your refund policy?"), silence(1000)])
    assert feed(VoiceDetector(model), speech, chunk) == feed(VoiceDetector(model), speech, 160)


def test_a_pause_mid_sentence_is_not_the_end_of_the_turn(model, speak):
    first, second = trimmed(speak("My order number is")), trimmed(speak("four five six"))
    speech = np.concatenate([silence(300), first, silence(300), second, silence(1000)])
    patient = feed(VoiceDetector(model, end_silence_ms=700), speech)
    assert [type(e) for e in patient] == [VoiceStarted, VoiceStopped]
    # Silero stays above threshold ~100 ms past the voice: a 300 ms pause is ~220 ms of silence to the segmenter.
    hasty = feed(VoiceDetector(model, end_silence_ms=150), speech)
    assert [type(e) for e in hasty] == [VoiceStarted, VoiceStopped, VoiceStarted, VoiceStopped]
    first_end_ms, resume_ms = 300 + len(first) / 8, 300 + len(first) / 8 + 300
    assert abs(hasty[1].at_ms - first_end_ms) < 150 and abs(hasty[2].at_ms - resume_ms) < 150


def test_reset_starts_a_new_timeline(model, speak):
    speech = np.concatenate([speak("What is your refund policy?"), silence(1000)])
    detector = VoiceDetector(model)
    before = feed(detector, speech)
    feed(detector, speech[:3000])  # a call that hangs up mid-sentence
    detector.reset()
    assert not detector.speaking
    assert feed(detector, speech) == before


def test_16k_audio(model, speak):
    vad = SileroVad(model, 16000)
    speech = resample(np.concatenate([speak("Hello, I need some help please."), silence(1000)]), 8000, 16000)
    assert vad.window_samples == 512
    assert max(vad.voice_confidence(w) for w in windows(speech, 512)) > 0.9
    events = feed(VoiceDetector(model, rate_hz=16000), speech, frame=320)
    assert [type(e) for e in events] == [VoiceStarted, VoiceStopped]
    first_ms, last_ms = speech_bounds_ms(speech, 16000)
    assert abs(events[0].at_ms - first_ms) < 150 and abs(events[1].at_ms - last_ms) < 150


def test_missing_or_bad_model_is_a_clear_error(tmp_path, store):
    with pytest.raises(ApplianceError, match="vad-model-missing"):
        SileroVad(tmp_path / "none.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a network")
    with pytest.raises(ApplianceError, match="vad-model-invalid"):
        SileroVad(bad)
    with pytest.raises(ApplianceError, match="vad-model-invalid"):
        SileroVad(store.checked_path("embed"))  # a real ONNX network, but not Silero's
    with pytest.raises(ApplianceError, match="vad-rate-unsupported"):
        SileroVad(bad, 22050)
