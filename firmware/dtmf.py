"""DTMF digits in the line's audio by Goertzel filters, with a receiver's level, twist and duration checks."""

from firmware import analog
from firmware.audio import goertzel_coefficient, goertzel_power, min_power, share

ROWS_HZ = (697, 770, 852, 941)
COLUMNS_HZ = (1209, 1336, 1477, 1633)
KEYS = ("123A", "456B", "789C", "*0#D")

# Quieter than about -36 dBm per tone is no digit (the Danish CLIP receiver limit, and Q.24's).
MIN_AMPLITUDE = analog.dbm_peak(-36)
# The two tones hold most of the block's energy: speech and noise spread theirs over many frequencies.
MIN_SHARE = 0.6
# The column tone may be up to 8 dB weaker than the row tone (normal twist), or 4 dB stronger (reverse).
NORMAL_TWIST = 10 ** (8 / 10)
REVERSE_TWIST = 10 ** (4 / 10)
# The strongest tone of each group is at least 6 dB above the others of its group.
GROUP_MARGIN = 10 ** (6 / 10)
# A digit holds for two blocks (50 ms; ITU Q.24 asks that 40 ms be accepted), then is reported once.
MIN_BLOCKS = 2


def _strongest(powers):
    """(index, power) of the strongest tone, or (-1, 0) when another is within GROUP_MARGIN of it."""
    best = 0
    for i in range(1, len(powers)):
        if powers[i] > powers[best]:
            best = i
    for i in range(len(powers)):
        if i != best and powers[i] * GROUP_MARGIN > powers[best]:
            return -1, 0.0
    return best, powers[best]


class DtmfDetector:
    """Turns blocks of audio into DTMF digits, each reported once when it has lasted long enough."""

    def __init__(self, rate_hz=analog.AUDIO_RATE_HZ, block_samples=analog.BLOCK_SAMPLES):
        self._rows = [goertzel_coefficient(f, rate_hz) for f in ROWS_HZ]
        self._columns = [goertzel_coefficient(f, rate_hz) for f in COLUMNS_HZ]
        self._min_power = min_power(MIN_AMPLITUDE, block_samples)
        self._last = None
        self._held = 0

    def block_digit(self, samples, energy):
        """The digit sounding in this one block, or None."""
        if not energy:
            return None
        row, row_power = _strongest([goertzel_power(samples, c) for c in self._rows])
        column, column_power = _strongest([goertzel_power(samples, c) for c in self._columns])
        if row < 0 or column < 0 or min(row_power, column_power) < self._min_power:
            return None
        if column_power * NORMAL_TWIST < row_power or column_power > row_power * REVERSE_TWIST:
            return None
        if share(row_power + column_power, energy, len(samples)) < MIN_SHARE:
            return None
        return KEYS[row][column]

    def push(self, samples, energy):
        """The digit that has just lasted MIN_BLOCKS blocks, or None."""
        digit = self.block_digit(samples, energy)
        if digit == self._last:
            self._held += 1
        else:
            self._last = digit
            self._held = 1
        return digit if digit is not None and self._held == MIN_BLOCKS else None
