"""Smart Turn v3.2 on espeak-ng callers at 8 kHz: finished turns and turns cut off at a pause."""

import logging
import shutil
import time

import numpy as np
import pytest

from appliance import engines
from appliance import settings as settings_module
from appliance.errors import ApplianceError
from appliance.models import ModelStore
from appliance.audio.resample import to_float
from appliance.vad.turn_model import SmartTurnDetector, TurnJudge, last_window, log_mel, unfinished

from speech import phone_speech

FINISHED = ["What are your opening hours on Saturday?", "I would like to cancel my order.",
            "How much does the premium plan cost?", "Where is my order?", "Do you deliver on Sundays?",
            "No, that's all. Thank you!", "What is your refund policy?", "Can I speak to a person please?",
            "My internet keeps dropping.", "I want to change my delivery address."]
# Said as the start of a longer sentence (an SSML break after them keeps its intonation going), then cut there.
CUT_OFF = ["My number is nine eight seven", "My number is nine eight seven six five", "I'd like to ask about the",
           "Can you tell me", "Um", "I want to", "My order number is", "So the thing is", "I live at twenty two",
           "The postcode is two zero", "I bought a laptop from you and", "My card ends in"]


@pytest.fixture(scope="module")
def model(store):
    return SmartTurnDetector(store.checked_path("turn"))


def trimmed(pcm: np.ndarray) -> np.ndarray:
    """Speech with the silence around it cut off: the 10 ms frames from the first to the last within 40 dB of the
    loudest."""
    frames = pcm[:len(pcm) // 80 * 80].astype(np.float64).reshape(-1, 80)
    energy_db = 10 * np.log10((frames ** 2).mean(axis=1) + 1e-9)
    loud = np.nonzero(energy_db > energy_db.max() - 40)[0]
    return pcm[loud[0] * 80:(loud[-1] + 1) * 80]


def at_the_pause(text: str, cut_off: bool = False) -> np.ndarray:
    """The turn as a call holds it when the model is asked: 300 ms before the voice, 200 ms of pause after it. A
    cut-off turn is said as the start of a longer sentence (a break after it), so its intonation goes on."""
    speech = phone_speech(text + " <break time='900ms'/>", markup=True) if cut_off else phone_speech(text)
    return np.concatenate([np.zeros(2400, np.int16), trimmed(speech), np.zeros(1600, np.int16)])


def test_a_finished_question_is_complete(model):
    assert model.complete_probability(at_the_pause("What are your opening hours on Saturday?"), 8000) >= 0.5


@pytest.mark.parametrize("text", ["My number is nine eight seven six five", "I live at twenty two", "Um"])
def test_a_turn_cut_off_at_a_pause_is_incomplete(model, text):
    assert model.complete_probability(at_the_pause(text, cut_off=True), 8000) < 0.5


def test_how_many_of_a_small_set_it_gets_right(model):
    """Every clip of the set, not the ones it gets right: the score is printed, and only a floor well below it is
    asserted (espeak-ng's voice is far from the callers the model was trained on)."""
    finished = [model.complete_probability(at_the_pause(text), 8000) >= 0.5 for text in FINISHED]
    cut_off = [model.complete_probability(at_the_pause(text, cut_off=True), 8000) < 0.5 for text in CUT_OFF]
    right = sum(finished) + sum(cut_off)
    print(f"\nSmart Turn v3.2 on espeak-ng at 8 kHz: finished {sum(finished)}/{len(FINISHED)}, "
          f"cut off {sum(cut_off)}/{len(CUT_OFF)}, {right}/{len(FINISHED) + len(CUT_OFF)} right")
    assert right >= 14


def test_the_cost_of_a_decision_is_measured(model):
    audio = at_the_pause("What are your opening hours on Saturday?")
    model.complete_probability(audio, 8000)
    spent = []
    for _ in range(10):
        start = time.perf_counter()
        model.complete_probability(audio, 8000)
        spent.append((time.perf_counter() - start) * 1000)
    print(f"\nSmart Turn v3.2, 1 thread: {np.median(spent):.0f} ms a decision (median of 10), {min(spent):.0f} ms at best")


def test_the_features_are_whispers_80_bin_log_mel_of_8_s():
    features = log_mel(np.random.default_rng(1).normal(0, 0.1, 128000).astype(np.float32))
    assert features.shape == (80, 800) and features.dtype == np.float32
    assert features.max() <= 1.5 and features.max() - features.min() <= 2.0 + 1e-6  # clamped to 8 decades, scaled by 4


def test_the_model_hears_the_last_8_s_at_16_khz_with_silence_in_front_of_a_short_turn():
    long = np.random.default_rng(2).integers(-3000, 3000, 10 * 16000).astype(np.int16)
    assert np.array_equal(last_window(long, 16000), to_float(long[-8 * 16000:]))
    short = last_window(np.full(8000, 3000, np.int16), 8000)  # 1 s at the line rate
    assert len(short) == 8 * 16000 and not short[:7 * 16000 - 100].any()
    assert short[-8000] == pytest.approx(3000 / 32768, rel=0.01)


def test_a_missing_or_corrupt_model_file_is_refused_with_its_name(tmp_path, store):
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    shutil.copy(store.manifest_path, models_dir / "manifest.json")
    settings = settings_module.load(environ={"APPLIANCE_PATHS_MODELS_DIR": str(models_dir)})
    path = models_dir / "smart-turn-v3.2" / "smart-turn-v3.2-cpu.onnx"
    with pytest.raises(ApplianceError, match="smart-turn-v3.2-cpu.onnx is missing") as missing:
        engines.turn_judge(settings, ModelStore(models_dir))
    assert missing.value.code == "models-file-missing"
    path.parent.mkdir()
    shutil.copy(store.checked_path("turn"), path)
    with open(path, "r+b") as stream:
        stream.seek(4_000_000)
        byte = stream.read(1)
        stream.seek(4_000_000)
        stream.write(bytes([byte[0] ^ 0x01]))
    with pytest.raises(ApplianceError, match=f"{path} is corrupt") as corrupt:
        engines.turn_judge(settings, ModelStore(models_dir))
    assert corrupt.value.code == "models-file-corrupt"


def test_a_file_that_is_not_smart_turn_is_refused(tmp_path, store):
    with pytest.raises(ApplianceError, match="not Smart Turn") as other:
        SmartTurnDetector(store.checked_path("vad"))  # an ONNX model, but Silero's
    assert other.value.code == "vad-turn-model-invalid"
    junk = tmp_path / "model.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ApplianceError) as broken:
        SmartTurnDetector(junk)
    assert broken.value.code == "vad-turn-model-invalid" and str(junk) in str(broken.value)


def test_the_turn_model_is_off_with_an_empty_role():
    settings = settings_module.load(environ={"APPLIANCE_VAD_TURN_MODEL": ""})
    assert engines.turn_judge(settings, engines.model_store(settings)) is None


class BrokenModel:
    """A model that fails every decision, as onnxruntime would on a box out of memory."""

    def complete_probability(self, pcm, rate_hz):
        raise RuntimeError("onnxruntime: bad allocation")


def test_a_failing_model_gives_no_answer_and_is_logged_once(caplog):
    judge = TurnJudge(BrokenModel())
    with caplog.at_level(logging.ERROR):
        assert judge.complete(np.zeros(8000, np.int16), 8000) is None
        assert judge.complete(np.zeros(8000, np.int16), 8000) is None
    assert caplog.text.count("vad-turn-model-failed") == 1 and "bad allocation" in caplog.text
    assert judge.failures == 2


def test_the_answer_is_complete_from_the_threshold_on(model):
    audio = at_the_pause("What are your opening hours on Saturday?")
    probability = model.complete_probability(audio, 8000)
    assert TurnJudge(model, complete_at=probability).complete(audio, 8000) is True
    assert TurnJudge(model, complete_at=min(1.0, probability + 0.01)).complete(audio, 8000) is False


@pytest.mark.parametrize("words, open_ended", [
    ("My number is nine eight seven.", True),  # partway through a number
    ("My number is 987 654 3210.", False),
    ("The order number is A B.", True),
    ("My card ends in four four.", True),
    ("I'd like to ask about the", True),
    ("Um.", True),
    ("I want to...", True),
    ("What are your opening hours on Saturday?", False),
    ("Can I speak to a person please?", False),
    ("I have 2 laptops.", False),
    ("No, that's all. Thank you!", False),
])
def test_words_that_stop_where_no_sentence_does(words, open_ended):
    assert unfinished(words) == open_ended


@pytest.mark.parametrize("words, confidence, waits", [
    ("Where is my order?", 0.86, False),
    ("Where is my order?", None, False),  # an engine that gives no confidence: the words alone decide
    ("Order number in the me.", 0.43, True),  # "The order number is A B", not understood
    ("My number is nine eight seven.", 0.95, True),
])
def test_words_recognition_is_unsure_of_show_nothing_and_wait(words, confidence, waits):
    from appliance.stt import Transcript

    judge = TurnJudge(BrokenModel(), sure_words_at=0.5)
    assert judge.wait_for_more(Transcript(words, 1000.0, "en", confidence)) is waits


@pytest.mark.parametrize("words, confidence, closes", [
    ("Okay, thank you. Bye bye.", 0.8, True),
    ("No, that's all. Thank you!", 0.9, True),
    ("Cheers, see you.", 0.7, True),
    ("Thank you. And what about Sunday?", 0.9, False),  # a thank-you that goes on
    ("Thank you.", 0.9, False),  # may go on
    ("Okay, bye.", 0.3, False),  # too unsure to tell
])
def test_words_that_close_the_call_end_a_turn_the_model_heard_as_unfinished(words, confidence, closes):
    from appliance.stt import Transcript

    judge = TurnJudge(BrokenModel(), sure_words_at=0.5)
    assert judge.closes_call(Transcript(words, 1000.0, "en", confidence)) is closes


@pytest.mark.parametrize("words, confidence, ends", [
    ("Sorry, I'm just after the big ones. How much for them?", 0.8, True),
    ("Thank you. And what about Sunday?", 0.9, True),
    ("My number is nine eight seven?", 0.9, False),  # a number partway through, whatever the mark says
    ("Is it?", 0.9, False),  # too short to be sure it is all
    ("Can you tell me?", 0.9, False),  # "...how much the premium plan costs?" comes after the pause
    ("Do you deliver to the?", 0.9, False),  # stops where no question can
    ("How much for them?", 0.3, False),  # too unsure to tell
    ("I'd like to ask about my order", 0.9, False),  # no question asked: the longer silence
])
def test_a_whole_question_ends_a_turn_the_model_heard_as_unfinished(words, confidence, ends):
    from appliance.stt import Transcript

    judge = TurnJudge(BrokenModel(), sure_words_at=0.5)
    assert judge.ends(False, Transcript(words, 1000.0, "en", confidence)) is ends
