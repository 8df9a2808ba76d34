"""FSK caller-ID modems, Bell 202 and V.23: line audio in, UART bytes out."""

import math

from firmware import analog

BAUD = 1200
# (mark, space) in Hz: Bell 202 (Telcordia GR-30) and ITU-T V.23 (ETSI EN 300 659, BT SIN227).
MODEMS = {"bell202": (1200, 2200), "v23": (1300, 2100)}
# Below an RMS of 10 counts (about -43 dBm) there is no carrier to demodulate.
SQUELCH_MEAN_SQUARE = 100


class Uart:
    """Start bit, 8 data bits LSB first, stop bit: timed from the start bit's leading edge.

    Time is counted in units of 1/(rate·baud) s, so a sample is `baud` units and a bit `rate` units
    and the 6⅔ samples of a bit at 8 kHz need no fractions. `lag_units` is how late the decisions
    show an edge beyond half a bit; the bits are read that much earlier.
    """

    def __init__(self, rate_hz, baud, lag_units=0):
        self._rate = rate_hz
        self._baud = baud
        self._first_clock = rate_hz // 2 - lag_units
        self._bit = -1          # -1 while waiting for a start bit, else the bit being timed (0..9)
        self._clock = 0         # units to the next reading
        self._byte = 0
        self._was_mark = False
        self._idle_samples = 0  # mark since the last stop bit
        self._idle_bits = 0     # mark before the byte being received

    def reset(self):
        """Back to waiting for mark, then a start bit."""
        self._bit = -1
        self._was_mark = False
        self._idle_samples = 0

    def push(self, mark):
        """Feeds one sample's decision; returns (byte, mark bits before it) when a byte completes."""
        if self._bit < 0:
            if mark:
                self._idle_samples += 1
            elif self._was_mark:
                self._bit = 0
                self._clock = self._first_clock
                self._byte = 0
                self._idle_bits = self._idle_samples * self._baud // self._rate
            self._was_mark = mark
            return None
        self._clock -= self._baud
        if self._clock > 0:
            return None
        self._clock += self._rate
        bit = self._bit
        self._bit += 1
        if bit == 0:
            if mark:  # a glitch, not a start bit
                self._bit = -1
                self._was_mark = True
            return None
        if bit <= 8:
            if mark:
                self._byte |= 1 << (bit - 1)
            return None
        self._bit = -1
        self._idle_samples = 0
        self._was_mark = mark
        return (self._byte, self._idle_bits) if mark else None  # no stop bit: a framing error


def _gcd(a, b):
    """Greatest common divisor (MicroPython's math has none)."""
    while b:
        a, b = b, a % b
    return a


class FskReceiver:
    """Non-coherent FSK: the mark's and the space's power over the last bit, by correlation.

    Each sample is multiplied by a cosine and a sine of both tones (Goertzel pairs that slide a
    sample at a time); whichever tone has more power over the last bit wins. It needs no carrier
    phase and no level, and beats a delay-line discriminator by several dB at 8 kHz, where a bit is
    only 6⅔ samples. Integers throughout; the powers are scaled to stay under 2**30, so the
    RP2040 port never makes a long int.
    """

    def __init__(self, modem, rate_hz=analog.AUDIO_RATE_HZ):
        mark_hz, space_hz = MODEMS[modem]
        self._period = rate_hz // _gcd(_gcd(rate_hz, mark_hz), space_hz)  # the tables repeat after this
        self._tables = []
        for freq_hz in (mark_hz, space_hz):
            step = 2 * math.pi * freq_hz / rate_hz
            self._tables.append([int(round(16 * math.cos(step * n))) for n in range(self._period)])
            self._tables.append([int(round(16 * math.sin(step * n))) for n in range(self._period)])
        self._length = (rate_hz + BAUD // 2) // BAUD  # one bit, rounded: 7 samples at 8 kHz
        self._history = [[0] * self._length for _ in range(4)]
        self._sums = [0, 0, 0, 0]       # mark cos, mark sin, space cos, space sin over the window
        self._phase = 0
        self._index = 0
        # The powers cross over when the window is half in the new bit: about half a sample after
        # the middle of a window of `_length`, so the UART reads half a sample earlier.
        self.uart = Uart(rate_hz, BAUD, lag_units=BAUD // 2)

    def push(self, samples):
        """The (byte, mark bits before it) pairs that this block of DC-free samples completes."""
        received = []
        tables = self._tables
        history = self._history
        sums = self._sums
        for x in samples:
            phase = self._phase
            i = self._index
            for j in range(4):
                product = x * tables[j][phase]
                sums[j] += product - history[j][i]
                history[j][i] = product
            self._phase = phase + 1 if phase + 1 < self._period else 0
            self._index = i + 1 if i + 1 < self._length else 0
            mark_power = (sums[0] >> 4) ** 2 + (sums[1] >> 4) ** 2
            space_power = (sums[2] >> 4) ** 2 + (sums[3] >> 4) ** 2
            byte = self.uart.push(mark_power > space_power)
            if byte is not None:
                received.append(byte)
        return received
