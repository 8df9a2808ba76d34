"""A poor line for the simulated callers: hiss in the telephone band under the voice, at the loudness asked for."""

import numpy as np

from appliance.audio import LINE_RATE_HZ
from appliance.line.callers import on_the_line, with_line_noise
from appliance.line.scripted import Step, caller_voiced_end_ms


def tone_burst() -> np.ndarray:
    """A second of a 440 Hz 'voice' with silence either side, as the line carries it."""
    t = np.arange(LINE_RATE_HZ) / LINE_RATE_HZ
    return on_the_line((8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16))


def test_the_noise_sits_at_the_level_asked_for_and_in_the_telephone_band():
    clean = tone_burst()
    noisy = with_line_noise(clean, snr_db=20, seed=1)
    noise = noisy.astype(np.float64) - clean
    voice = clean[np.abs(clean) > 400].astype(np.float64)
    snr = 20 * np.log10(np.sqrt(np.mean(voice ** 2)) / np.sqrt(np.mean(noise ** 2)))
    assert 17 < snr < 23
    spectrum = np.abs(np.fft.rfft(noise)) ** 2
    bins = np.fft.rfftfreq(len(noise), 1 / LINE_RATE_HZ)
    assert spectrum[(bins > 300) & (bins < 3400)].sum() > 0.9 * spectrum.sum()


def test_where_the_voice_ends_is_read_from_the_voice_not_the_hiss():
    clean = tone_burst()
    noisy = Step(pcm=with_line_noise(clean, snr_db=10), voice=clean, started_ms=0, speech_start_ms=0)
    assert caller_voiced_end_ms(noisy) == caller_voiced_end_ms(Step(pcm=clean, started_ms=0, speech_start_ms=0))
