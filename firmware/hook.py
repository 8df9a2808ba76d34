"""The hook relay and the loop current that proves where it is: answer, hang up, the far end gone."""

OFF_HOOK_MA = 10.0   # an off-hook line draws 20-60 mA; 10 mA is surely off hook
NO_LOOP_MA = 5.0     # below this the loop is open
CONFIRM_MS = 1000    # how long the loop current may take to follow the relay
# The loop opening this long while off hook is the far end gone (an exchange's open-loop disconnect,
# CPC, lasts 300 ms or more); shorter gaps are the exchange reversing the polarity.
LOOP_DROP_MS = 250


class Hook:
    """Where the hook is ("on", "going-off", "off", "going-on"), the relay, and who waits to hear.

    Methods return signals: ("hook", state, ids) when the loop current confirms a move,
    ("already", state, ids) when there was nothing to move, ("failed", error, ids) when the loop
    current does not follow, ("hangup", "loop-drop") when the far end goes.
    """

    def __init__(self):
        self.state = "on"
        self.relay_closed = False
        self._deadline = 0
        self._waiting = []     # ids of the commands that wait for the move in progress
        self._open_since = None

    def answer(self, now_ms, command_id):
        """Closes the relay (goes off hook); the reply waits for the loop current."""
        if self.state == "off":
            return [("already", "off", [command_id])]
        if self.state == "going-off":
            self._waiting.append(command_id)
            return []
        return self._move("going-off", True, now_ms, command_id, "answer cancelled by hangup")

    def hang_up(self, now_ms, command_id=None):
        """Opens the relay (goes on hook); the reply waits for the loop current to stop."""
        ids = [] if command_id is None else [command_id]
        if self.state == "on":
            return [("already", "on", ids)] if ids else []
        if self.state == "going-on":
            self._waiting += ids
            return []
        return self._move("going-on", False, now_ms, command_id, "hangup cancelled by answer")

    def _move(self, state, closed, now_ms, command_id, cancelled):
        """Starts a move of the relay; commands still waiting for the other move are told it was undone."""
        signals = [("failed", cancelled, self._waiting)] if self._waiting else []
        self.state = state
        self.relay_closed = closed
        self._deadline = now_ms + CONFIRM_MS
        self._waiting = [] if command_id is None else [command_id]
        self._open_since = None
        return signals

    def step(self, now_ms, loop_ma):
        """Checks the loop current against where the relay is."""
        if self.state == "going-off":
            if loop_ma >= OFF_HOOK_MA:
                return self._settle("off")
            if now_ms >= self._deadline:
                self.relay_closed = False
                return self._settle("on", "no loop current after closing the hook relay: is the line connected?")
        elif self.state == "going-on":
            if loop_ma < NO_LOOP_MA:
                return self._settle("on")
            if now_ms >= self._deadline:
                return self._settle("off", "loop current still flows with the hook relay open: relay stuck?")
        elif self.state == "off":
            if loop_ma >= NO_LOOP_MA:
                self._open_since = None
            elif self._open_since is None:
                self._open_since = now_ms
            elif now_ms - self._open_since >= LOOP_DROP_MS:
                return [("hangup", "loop-drop")] + self.hang_up(now_ms)
        return []

    def _settle(self, state, error=None):
        """Ends a move in `state`: the waiting commands hear the outcome."""
        waiting = self._waiting
        self.state = state
        self._waiting = []
        self._open_since = None
        if error:
            return [("failed", error, waiting)]
        return [("hook", state, waiting)]
