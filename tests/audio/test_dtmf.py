"""DTMF: keypad tones made and heard again through a μ-law phone line, and never heard in speech."""

import numpy as np
import pytest

from appliance.audio.dtmf import DtmfDetector, frame_digit, tones
from appliance.audio.g711 import telephone
from speech import phone_speech


def heard(pcm: np.ndarray) -> str:
    detector = DtmfDetector()
    return "".join(key for start in range(0, len(pcm) - 159, 160) if (key := detector.process(pcm[start:start + 160])))


def test_every_key_survives_the_phone_line():
    assert heard(telephone(tones("0123456789*#ABCD"))) == "0123456789*#ABCD"


def test_a_held_key_is_one_press_and_a_short_blip_is_none():
    assert heard(telephone(tones("5", tone_ms=600))) == "5"
    assert heard(telephone(tones("5", tone_ms=20))) == ""  # under Q.24's 40 ms


def test_quiet_keys_and_keys_under_noise_are_heard():
    rng = np.random.default_rng(7)
    pcm = tones("42", level=0.05).astype(np.float64) + rng.normal(0, 150, len(tones("42")))
    assert heard(telephone(pcm.astype(np.int16))) == "42"


@pytest.mark.parametrize("text", ["My number is nine eight seven six five four three two one zero",
                                  "Hello, I would like to know about your pricing plans, please"])
def test_speech_is_never_taken_for_keys(text):
    assert heard(phone_speech(text)) == ""


def test_a_pure_single_tone_is_not_a_key():
    t = np.arange(160) / 8000
    assert frame_digit((np.sin(2 * np.pi * 697 * t) * 8000).astype(np.int16)) is None
