"""DTMF by Goertzel: the caller's keys through noise; no digit from speech, a lone tone, a blip or bad twist."""

from firmware import analog, exchange
from firmware.audio import centre
from firmware.dtmf import DtmfDetector
from firmware.tests.twins import answered, digits, events


def test_all_sixteen_keys_are_heard_off_hook():
    twin = answered()
    twin.press("0123456789*#ABCD")
    assert digits(twin.run(4)) == "0123456789*#ABCD"


def test_keys_are_heard_through_line_noise():
    # -8 and -10 dBm tones (about 370 and 300 counts RMS) over 80 counts RMS of noise.
    twin = answered(noise_rms=80)
    twin.press("5551212", on_ms=60, off_ms=60)
    assert digits(twin.run(3)) == "5551212"


def test_a_repeated_key_is_heard_each_time():
    twin = answered()
    twin.press("9911", on_ms=50, off_ms=50)
    assert digits(twin.run(2)) == "9911"


def test_speech_gives_no_digit():
    twin = answered()
    said = []
    for _ in range(5):  # 20 s, in pieces small enough for MicroPython's heap
        twin.speak(4)
        said += twin.run(4)
    assert events(said, "dtmf") == [] and events(said, "hangup") == [], said


def test_a_single_tone_gives_no_digit():
    twin = answered()
    for freq_hz in (697, 941, 1209, 1633):
        twin.tone(freq_hz, 1)
        assert events(twin.run(1.2), "dtmf") == [], freq_hz


def test_a_key_too_short_to_be_pressed_gives_no_digit():
    twin = answered()
    twin.press("1234", on_ms=20, off_ms=100)  # ITU Q.24: under 23 ms is no digit
    assert events(twin.run(1), "dtmf") == []


def _blocks(samples):
    return [centre([int(analog.AUDIO_MID + x) for x in samples[i:i + analog.BLOCK_SAMPLES]])
            for i in range(0, len(samples) - analog.BLOCK_SAMPLES + 1, analog.BLOCK_SAMPLES)]


def _heard(samples):
    detector = DtmfDetector()
    return "".join(d for d in (detector.push(s, e) for s, e in _blocks(samples)) if d)


def test_twist_beyond_the_limits_gives_no_digit():
    assert _heard(exchange.dtmf("7", on_ms=200, twist_db=2)) == "7"
    assert _heard(exchange.dtmf("7", on_ms=200, twist_db=-6)) == "7"     # column 6 dB weaker: allowed
    assert _heard(exchange.dtmf("7", on_ms=200, twist_db=-11)) == ""     # 11 dB weaker: over 8 dB
    assert _heard(exchange.dtmf("7", on_ms=200, twist_db=7)) == ""       # 7 dB stronger: over 4 dB


def test_a_key_too_quiet_gives_no_digit():
    assert _heard(exchange.dtmf("3", on_ms=200, dbm=-30)) == "3"
    assert _heard(exchange.dtmf("3", on_ms=200, dbm=-42)) == ""
