"""The voicemail beep detector on made tones and real speech, squeezed through a μ-law line like a call's audio."""

import numpy as np
import pytest

from appliance.audio.beep import Beep, BeepDetector, frame_tone, goertzel_powers
from appliance.audio.dtmf import tones
from appliance.audio.g711 import telephone

RATE = 8000
FRAME = 160


def sine(hz: float, ms: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(RATE * ms / 1000)) / RATE
    return telephone((np.sin(2 * np.pi * hz * t) * level * 32767).astype(np.int16))


def silence(ms: float) -> np.ndarray:
    return np.zeros(int(RATE * ms / 1000), np.int16)


def beeps_in(audio: np.ndarray) -> list[Beep]:
    detector = BeepDetector()
    return [beep for offset in range(0, len(audio), FRAME) for beep in detector.process(audio[offset:offset + FRAME])]


def test_goertzel_gives_the_power_of_each_frequency_as_the_dft_does():
    samples = np.random.default_rng(7).normal(0, 1000, FRAME)
    freqs = np.array([450.0, 1000.0, 1987.5])
    dft = np.abs(np.exp(-2j * np.pi * np.outer(freqs, np.arange(FRAME)) / RATE) @ samples) ** 2
    assert goertzel_powers(samples, freqs, RATE) == pytest.approx(dft, rel=1e-6)


@pytest.mark.parametrize("hz", [425.0, 440.0, 1000.0, 1004.0, 1412.5, 1990.0])
def test_a_frame_of_one_tone_in_the_band_is_a_tone_on_or_between_the_filters(hz):
    assert frame_tone(sine(hz, 20)) == pytest.approx(hz, abs=12.5)


@pytest.mark.parametrize("frame", [silence(20), sine(1000, 20, level=0.003), sine(300, 20), sine(2600, 20),
                                   telephone(tones("5", tone_ms=20, gap_ms=0))])
def test_silence_line_noise_a_tone_out_of_band_and_two_tones_are_not(frame):
    assert frame_tone(frame) is None


@pytest.mark.parametrize("hz, ms", [(1000, 500), (440, 200), (1850, 1500)])
def test_a_beep_is_reported_once_when_it_ends_with_its_start_end_and_tone(hz, ms):
    found = beeps_in(np.concatenate([silence(1000), sine(hz, ms), silence(500)]))
    assert len(found) == 1
    beep = found[0]
    assert beep.hz == pytest.approx(hz, abs=12.5)
    assert beep.start_ms == pytest.approx(1000, abs=20) and beep.end_ms == pytest.approx(1000 + ms, abs=20)


@pytest.mark.parametrize("audio", [
    np.concatenate([sine(1000, 120), silence(500)]),  # a click of a tone, too short
    np.concatenate([sine(425, 3000), silence(500)]),  # a steady tone (a dial tone): too long
    # the three rising tones of a special information tone ("the number you have dialled..."): a sequence
    np.concatenate([sine(913.8, 274), sine(1370.6, 274), sine(1776.7, 380), silence(500)]),
    np.concatenate([telephone(tones("123", tone_ms=300, gap_ms=100)), silence(300)]),  # keys
])
def test_short_long_and_chained_tones_and_keys_are_not_beeps(audio):
    assert beeps_in(audio) == []


def test_speech_is_not_a_beep(speak):
    audio = np.concatenate([speak("Hi, you have reached Sam and Alex. Sorry we cannot come to the phone. "
                                  "Please leave your name, your number and a short message."), silence(300)])
    assert beeps_in(audio) == []


def test_a_beep_straight_after_the_greeting_is_heard(speak):
    greeting = speak("Please leave a message after the tone.", pad_ms=0)
    found = beeps_in(np.concatenate([greeting, silence(300), sine(1000, 600), silence(2000)]))
    start = (len(greeting) / RATE + 0.3) * 1000
    assert len(found) == 1 and found[0].start_ms == pytest.approx(start, abs=20)
