import subprocess
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

import numpy as np
import pytest

from appliance.audio import g711

# Reference points of ITU-T G.711 (the usual encoder, as in Sun's and the CCITT reference code).
ULAW = {0: 0xFF, -1: 0x7E, 1: 0xFF, 8: 0xFE, 32767: 0x80, -32768: 0x00, 1000: 0xCE, -1000: 0x4E}
ALAW = {0: 0xD5, -1: 0x55, 8: 0xD5, 32767: 0xAA, -32768: 0x2A, 1000: 0xFA, -1000: 0x7A}


@pytest.mark.parametrize("sample, byte", ULAW.items())
def test_ulaw_reference_points(sample, byte):
    assert g711.ulaw_encode(np.array([sample], dtype=np.int16)) == bytes([byte])


@pytest.mark.parametrize("sample, byte", ALAW.items())
def test_alaw_reference_points(sample, byte):
    assert g711.alaw_encode(np.array([sample], dtype=np.int16)) == bytes([byte])


def test_decode_tables_are_symmetric_and_monotonic():
    for decode in (g711.ulaw_decode, g711.alaw_decode):
        values = decode(bytes(range(256))).astype(np.int32)
        assert sorted(values.tolist()) == sorted((-values).tolist())
        assert values.max() >= 32124 - 1 and values.min() <= -32124 + 1


@pytest.mark.parametrize("encode, decode", [(g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)])
def test_round_trip_is_idempotent_and_close(encode, decode):
    samples = np.arange(-32768, 32768, dtype=np.int16)
    once = decode(encode(samples))
    assert np.array_equal(decode(encode(once)), once)
    error = np.abs(once.astype(np.int32) - samples)
    assert (error <= np.abs(samples.astype(np.int32)) // 16 + 16).all()


@pytest.mark.parametrize("encoding, decode", [("u-law", g711.ulaw_decode), ("a-law", g711.alaw_decode)])
def test_decode_bit_exact_with_sox(tmp_path, encoding, decode):
    codes = tmp_path / "in.raw"
    codes.write_bytes(bytes(range(256)))
    out = tmp_path / "out.raw"
    subprocess.run(["sox", "-D", "-t", "raw", "-r", "8000", "-e", encoding, "-b", "8", "-c", "1", str(codes),
                    "-t", "raw", "-e", "signed", "-b", "16", str(out)], check=True)
    assert decode(bytes(range(256))).astype("<i2").tobytes() == out.read_bytes()


@pytest.mark.parametrize("name", ["ulaw", "alaw"])
def test_encode_bit_exact_with_audioop(name):
    # CPython's audioop (audioop-lts from 3.13 on) implements the CCITT reference encoder.
    samples = np.arange(-32768, 32768, dtype=np.int16)
    expected = getattr(audioop, f"lin2{name}")(samples.astype("<i2").tobytes(), 2)
    assert getattr(g711, f"{name}_encode")(samples) == expected


def test_telephone_squeeze_keeps_length_and_shape():
    tone = (8000 * np.sin(np.arange(800) * 2 * np.pi * 440 / 8000)).astype(np.int16)
    squeezed = g711.telephone(tone)
    assert squeezed.shape == tone.shape
    assert np.corrcoef(tone, squeezed)[0, 1] > 0.999
