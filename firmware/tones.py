"""The exchange's disconnect tones in the line's audio (busy, reorder): Goertzel filters and a cadence.

Only a cadenced tone counts: a steady one could be a caller humming or music on hold.
"""

from firmware import analog
from firmware.audio import goertzel_coefficient, goertzel_power, min_power, share

# The tone each family's exchanges send once the far end has gone: North America's busy and reorder
# are 480+620 Hz, the UK's busy 400 Hz, most of Europe's 425 Hz.
TONES_HZ = {"na": (480, 620), "uk": (400,), "etsi": (425,)}
MIN_AMPLITUDE = analog.dbm_peak(-40)
MIN_SHARE = 0.5           # the tone holds half of the block's energy or more
BURST_MS = (150, 1100)    # busy and reorder tones sound and pause for 0.25-1 s
CYCLES = 2                # two whole on-off cycles make a disconnect tone


class DisconnectToneDetector:
    """Says when the far end's exchange plays a cadenced disconnect tone."""

    def __init__(self, family, rate_hz=analog.AUDIO_RATE_HZ, block_samples=analog.BLOCK_SAMPLES):
        self._coefficients = [goertzel_coefficient(f, rate_hz) for f in TONES_HZ[family]]
        self._min_power = min_power(MIN_AMPLITUDE, block_samples)
        self._sounding = False
        self._since = 0
        self._cycles = 0
        self._last_on_fits = False

    def _tone_in(self, samples, energy):
        """Whether every frequency of the tone sounds in this block, and they hold most of its energy."""
        powers = [goertzel_power(samples, c) for c in self._coefficients]
        if min(powers) < self._min_power:
            return False
        return share(sum(powers), energy, len(samples)) >= MIN_SHARE

    def push(self, samples, energy, now_ms):
        """Feeds one block; True when it completes a disconnect tone."""
        sounding = bool(energy) and self._tone_in(samples, energy)
        length = now_ms - self._since
        if sounding != self._sounding:
            fits = BURST_MS[0] <= length <= BURST_MS[1]
            if sounding:  # a pause ended
                self._cycles = self._cycles + 1 if fits and self._last_on_fits else 0
            else:         # a burst ended
                self._last_on_fits = fits
            self._sounding = sounding
            self._since = now_ms
            return self._cycles >= CYCLES
        if length > BURST_MS[1]:
            self._cycles = 0
        return False
