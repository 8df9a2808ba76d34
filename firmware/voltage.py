"""The line voltage on hook: the cable out and back, and the polarity reversal that announces caller ID."""

LOST_VOLTS = 10.0   # an idle line has 24-56 V; under 10 V there is none
LOST_MS = 1500      # for this long: a reversal passes through 0 V in milliseconds
OK_VOLTS = 15.0
OK_MS = 500


class LineVoltage:
    """Tracks the on-hook line voltage; state is None until it has settled, then "ok" or "lost"."""

    def __init__(self):
        self.state = None
        self.volts = 0.0
        self._candidate = None
        self._since = 0
        self._polarity = 0
        self._flipped = 0  # steps the polarity has read opposite

    def step(self, now_ms, volts, on_hook):
        """Feeds one reading; returns signals ("line", state) and ("reversal",)."""
        self.volts = volts
        if not on_hook:  # off hook the line sits at 5-15 V: the loop current speaks for it then
            self._candidate = None
            self._polarity = 0  # the exchange may reverse it for the call; that is no caller-ID alert
            return []
        magnitude = abs(volts)
        reading = "lost" if magnitude < LOST_VOLTS else "ok" if magnitude >= OK_VOLTS else self._candidate
        if reading != self._candidate:
            self._candidate = reading
            self._since = now_ms
        signals = []
        if reading is not None and reading != self.state:
            if now_ms - self._since >= (LOST_MS if reading == "lost" else OK_MS):
                self.state = reading
                signals.append(("line", reading))
        if self.state == "ok" and magnitude >= OK_VOLTS:
            signals += self._check_polarity(1 if volts > 0 else -1)
        return signals

    def _check_polarity(self, polarity):
        """A reversal is the sign staying flipped for two readings."""
        if not self._polarity:
            self._polarity = polarity
        if polarity == self._polarity:
            self._flipped = 0
            return []
        self._flipped += 1
        if self._flipped < 2:
            return []
        self._polarity = polarity
        self._flipped = 0
        return [("reversal",)]
