import numpy as np
import pytest

from appliance.audio.resample import StreamResampler, resample, to_float
from appliance.audio.wav import read_wav, write_wav


def tone(rate_hz, freq_hz=1000.0, seconds=1.0, amplitude=10000):
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)


def peak_hz(pcm, rate_hz):
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return np.argmax(spectrum) * rate_hz / len(pcm)


@pytest.mark.parametrize("from_hz, to_hz", [(8000, 16000), (16000, 8000), (22050, 8000), (8000, 22050)])
def test_tone_keeps_pitch_length_and_level(from_hz, to_hz):
    out = resample(tone(from_hz), from_hz, to_hz)
    assert out.dtype == np.int16
    assert abs(len(out) - to_hz) <= 2
    assert abs(peak_hz(out, to_hz) - 1000) < 2
    middle = out[to_hz // 10: -to_hz // 10]
    assert abs(np.sqrt(np.mean(middle.astype(np.float64) ** 2)) - 10000 / np.sqrt(2)) < 10000 * 0.01


def test_downsampling_removes_what_8k_cannot_carry():
    out = resample(tone(22050, freq_hz=6000), 22050, 8000)
    assert np.sqrt(np.mean(out.astype(np.float64) ** 2)) < 100


def test_stream_matches_whole_signal():
    signal = tone(22050, freq_hz=440, seconds=0.5)
    stream = StreamResampler(22050, 8000)
    pieces = [stream.push(signal[i:i + 1000]) for i in range(0, len(signal), 1000)] + [stream.flush()]
    streamed = np.concatenate(pieces)
    whole = resample(signal, 22050, 8000)
    assert abs(len(streamed) - len(whole)) <= 2
    n = min(len(streamed), len(whole))
    assert np.max(np.abs(streamed[:n].astype(np.int32) - whole[:n])) < 200


def test_same_rate_is_a_copy():
    signal = tone(8000)
    assert np.array_equal(resample(signal, 8000, 8000), signal)
    assert np.array_equal(StreamResampler(8000, 8000).push(signal), signal)


def test_to_float_range():
    values = to_float(np.array([-32768, 0, 32767], dtype=np.int16))
    assert values.dtype == np.float32 and values[0] == -1.0 and values[1] == 0 and values[2] < 1.0


def test_wav_round_trip_and_rate_conversion(tmp_path):
    path = tmp_path / "t.wav"
    write_wav(path, tone(22050), 22050)
    pcm, rate = read_wav(path)
    assert rate == 22050 and np.array_equal(pcm, tone(22050))
    pcm8, rate8 = read_wav(path, 8000)
    assert rate8 == 8000 and abs(len(pcm8) - 8000) <= 2


def test_unreadable_wav_is_a_clear_error(tmp_path):
    from appliance.errors import ApplianceError

    path = tmp_path / "bad.wav"
    path.write_bytes(b"RIFF\x00\x00garbage")
    with pytest.raises(ApplianceError, match="audio-wav-unreadable"):
        read_wav(path)
