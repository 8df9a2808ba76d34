"""Ringing seen on the ring-detect optocoupler: bursts timed from its pulses, checked against a cadence."""

# Each family's ring as bursts and pauses in ms (on, off, on, off ...); the last pause separates rings.
CADENCES = {
    "na": (2000, 4000),            # North America: 2 s on, 4 s off
    "uk": (400, 200, 400, 2000),   # UK and Ireland: the double ring
    "etsi": (1000, 4000),          # much of continental Europe: 1 s on, 4 s off
}
# Each burst and inner pause may be 30 % off its nominal length (exchanges vary, and a burst is
# timed from its first to its last pulse).
TOLERANCE = 0.3
# The optocoupler pulses on every half cycle of the 16-50 Hz ringing (a pulse every 10-31 ms, or
# every 20-63 ms if it conducts on one polarity only): a burst ends after 80 ms without one.
BURST_GAP_MS = 80


def _fits(measured_ms, nominal_ms):
    """Whether a measured burst or pause is within TOLERANCE of its nominal length."""
    return nominal_ms * (1 - TOLERANCE) <= measured_ms <= nominal_ms * (1 + TOLERANCE)


class RingDetector:
    """Counts rings: bursts of ring pulses whose lengths and pauses follow the cadence.

    A spike or a burst that fits no cadence is no ring; ringing ends when no ring follows the last
    one within its pause (plus the tolerance).
    """

    def __init__(self, cadence):
        self._cadence = cadence
        pauses = [cadence[i] for i in range(1, len(cadence), 2)]  # MicroPython slices have no step
        self._end_after_ms = int(max(pauses) * (1 + TOLERANCE)) + BURST_GAP_MS
        # How long to wait for the next burst of a ring (the pause between rings excluded).
        self._inner_wait_ms = int(max(pauses[:-1]) * (1 + TOLERANCE)) + BURST_GAP_MS if len(pauses) > 1 else 0
        self.rings = 0
        self.in_burst = False
        self._burst_start = 0
        self._last_pulse = None
        self._bursts = []        # (start, end) of the bursts of a ring not yet complete
        self._last_ring_end = 0

    def reset(self):
        """Forgets the rings and any burst in progress (the hook moved: ringing is over)."""
        self.rings = 0
        self.in_burst = False
        self._bursts = []

    def step(self, now_ms, pulses):
        """Feeds the pulses counted since the last step; returns signals:
        ("burst-start",), ("burst-end",), ("ring", n), ("ring-end",)."""
        signals = []
        if pulses:
            if not self.in_burst:
                self.in_burst = True
                self._burst_start = now_ms
                signals.append(("burst-start",))
            self._last_pulse = now_ms
        elif self.in_burst and now_ms - self._last_pulse > BURST_GAP_MS:
            self.in_burst = False
            signals.append(("burst-end",))
            if self._burst_ended(self._burst_start, self._last_pulse):
                self.rings += 1
                self._last_ring_end = self._last_pulse
                signals.append(("ring", self.rings))
        if not self.in_burst and self._bursts and now_ms - self._bursts[-1][1] > self._inner_wait_ms:
            self._bursts = []  # the rest of the ring never came
        if self.rings and not self.in_burst and now_ms - self._last_ring_end > self._end_after_ms:
            self.rings = 0
            signals.append(("ring-end",))
        return signals

    def _burst_ended(self, start, end):
        """Adds a burst to the ring being matched; True when it completes the cadence."""
        self._bursts.append((start, end))
        if not self._matches(self._bursts):
            self._bursts = [(start, end)]  # perhaps it begins a ring of its own
            if not self._matches(self._bursts):
                self._bursts = []
                return False
        if len(self._bursts) * 2 == len(self._cadence):
            self._bursts = []
            return True
        return False

    def _matches(self, bursts):
        """Whether these bursts begin the cadence: each burst, and each pause between them, fits."""
        if len(bursts) * 2 > len(self._cadence):
            return False
        for i, (start, end) in enumerate(bursts):
            if not _fits(end - start, self._cadence[2 * i]):
                return False
            if i and not _fits(start - bursts[i - 1][1], self._cadence[2 * i - 1]):
                return False
        return True
