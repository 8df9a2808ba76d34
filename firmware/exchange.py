"""What a telephone exchange puts on the line, as numbers: caller-ID messages, FSK and DTMF, tones, noise.

The twin plays these into the board's audio ADC; none of the firmware's decoding is used to make them.
Audio is lists of whole ADC counts around 0 (analog.dbm_peak gives the level): small ints live in
the list itself, where floats would be scattered over MicroPython's heap and fragment it. Each list
is allocated at its full length up front for the same reason. It runs on MicroPython too.
"""

import math
import struct

from firmware import analog

# Bell 202 and V.23 at 1200 baud: (mark, space) Hz.
MODEMS = {"bell202": (1200, 2200), "v23": (1300, 2100)}
SEIZURE_BITS = 300   # 0101... (GR-30; ETSI EN 300 659-2)
MARK_BITS = 180      # then this much mark before the message
DTMF_HZ = {key: (row, column)
           for row, keys in zip((697, 770, 852, 941), ("123A", "456B", "789C", "*0#D"))
           for column, key in zip((1209, 1336, 1477, 1633), keys)}


def message_bytes(message_type, payload):
    """Type, length, payload and checksum (the two's complement of the byte sum)."""
    body = bytes([message_type, len(payload)]) + payload
    return body + bytes([-sum(body) & 0xFF])


def sdmf(time, number=None, absent=None):
    """An SDMF message (type 0x04): MMDDHHMM, then the number or 'O' (out of area) / 'P' (private)."""
    tail = number if number is not None else {"private": "P", "out-of-area": "O"}[absent]
    return message_bytes(0x04, (time + tail).encode())


def mdmf(time=None, number=None, name=None, absent=None):
    """An MDMF message (type 0x80): date-time 0x01, number 0x02 or its absence 0x04, name 0x07."""
    payload = b""
    if time is not None:
        payload += bytes([0x01, len(time)]) + time.encode()
    if number is not None:
        payload += bytes([0x02, len(number)]) + number.encode()
    elif absent is not None:
        payload += bytes([0x04, 1]) + {"private": b"P", "out-of-area": b"O"}[absent]
    if name is not None:
        payload += bytes([0x07, len(name)]) + name.encode()
    return message_bytes(0x80, payload)


def dtmf_caller_id(number=None, absent=None):
    """The digits of an ETSI-style DTMF caller ID: A<number>C, or B00C (unavailable) / B10C (private)."""
    if number is not None:
        return "A" + number + "C"
    return "B10C" if absent == "private" else "B00C"


def uart_bits(data):
    """Each byte as start bit (0), 8 data bits LSB first, stop bit (1)."""
    bits = []
    for byte in data:
        bits.append(0)
        bits += [(byte >> i) & 1 for i in range(8)]
        bits.append(1)
    return bits


def fsk(bits, modem, amplitude, rate_hz=analog.AUDIO_RATE_HZ, baud=1200):
    """Phase-continuous FSK of `bits` (1 is mark), each bit exactly 1/baud s long."""
    mark_hz, space_hz = MODEMS[modem]
    samples = [0] * (len(bits) * rate_hz // baud)
    phase = 0.0
    for n in range(len(samples)):
        phase += 2 * math.pi * (mark_hz if bits[n * baud // rate_hz] else space_hz) / rate_hz
        samples[n] = int(round(amplitude * math.sin(phase)))
    return samples


def caller_id_burst(message, modem, dbm=-13.5, rate_hz=analog.AUDIO_RATE_HZ):
    """Channel seizure, mark signal, the message, and a few mark bits for the modem to finish on."""
    bits = [i & 1 for i in range(SEIZURE_BITS)] + [1] * MARK_BITS + uart_bits(message) + [1] * 10
    return fsk(bits, modem, analog.dbm_peak(dbm), rate_hz)


def tones(freqs_hz, ms, dbm, rate_hz=analog.AUDIO_RATE_HZ):
    """Sines of `freqs_hz` together (each at `dbm`) for `ms`."""
    amplitude = analog.dbm_peak(dbm)
    steps = [2 * math.pi * f / rate_hz for f in freqs_hz]
    samples = [0] * (ms * rate_hz // 1000)
    for n in range(len(samples)):
        samples[n] = int(round(amplitude * sum(math.sin(step * n) for step in steps)))
    return samples


def silence(ms, rate_hz=analog.AUDIO_RATE_HZ):
    """Nothing, for `ms`."""
    return [0] * (ms * rate_hz // 1000)


def dtmf(digits, on_ms=70, off_ms=70, dbm=-8.0, twist_db=2.0, rate_hz=analog.AUDIO_RATE_HZ):
    """DTMF digits; the column tone `twist_db` louder than the row tone, as telephones send them."""
    samples = []
    for digit in digits:
        row, column = DTMF_HZ[digit]
        low = tones((row,), on_ms, dbm - twist_db, rate_hz)
        high = tones((column,), on_ms, dbm, rate_hz)
        samples += [a + b for a, b in zip(low, high)] + silence(off_ms, rate_hz)
    return samples


class Noise:
    """Deterministic Gaussian-ish noise (a 31-bit LCG, four uniforms summed): the same on both Pythons."""

    def __init__(self, seed=1):
        self._state = seed

    def uniform(self):
        """A number in 0..1."""
        self._state = (1103515245 * self._state + 12345) & 0x7FFFFFFF
        return self._state / 0x80000000

    def gauss(self, rms):
        """One sample of noise with this RMS."""
        return (self.uniform() + self.uniform() + self.uniform() + self.uniform() - 2) * 1.7320508 * rms


def speech_like(ms, dbm=-15.0, seed=7, rate_hz=analog.AUDIO_RATE_HZ):
    """Voiced sounds: harmonics of a gliding 100-250 Hz pitch under two moving formants, plus breath.

    Enough like speech to try a DTMF receiver's talk-off: harmonics land near DTMF tones all the time.
    """
    noise = Noise(seed)
    amplitude = analog.dbm_peak(dbm)
    samples = [0] * (ms * rate_hz // 1000)
    phase = 0.0
    for n in range(len(samples)):
        t = n / rate_hz
        pitch = 175 + 75 * math.sin(2 * math.pi * 1.3 * t)
        formant1 = 600 + 300 * math.sin(2 * math.pi * 0.7 * t)
        formant2 = 1400 + 500 * math.sin(2 * math.pi * 0.4 * t + 1)
        phase += 2 * math.pi * pitch / rate_hz
        value = 0.0
        for k in range(1, int(3400 / pitch)):
            f = k * pitch
            weight = 1 / (1 + ((f - formant1) / 150) ** 2) + 0.6 / (1 + ((f - formant2) / 200) ** 2)
            value += weight * math.sin(k * phase)
        samples[n] = int(round(amplitude * 0.4 * value + noise.gauss(amplitude * 0.05)))
    return samples


def write_wav(path, samples, rate_hz=analog.AUDIO_RATE_HZ, gain=16):
    """A 16-bit mono WAV of the samples (ADC counts × gain: 12 bits fill 16)."""
    frames = b"".join(struct.pack("<h", max(-32768, min(32767, int(round(x * gain))))) for x in samples)
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(frames), b"WAVE", b"fmt ", 16, 1, 1,
                         rate_hz, rate_hz * 2, 2, 16, b"data", len(frames))
    with open(path, "wb") as wav:
        wav.write(header + frames)
