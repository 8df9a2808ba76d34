"""The board's main loop: one turn per 25 ms block of line audio, feeding the watchdog on the way round.

The hardware is behind a board object (board_rp2040.Rp2040Board on the board, twin.TwinBoard in
tests) with these methods, and nothing else touches it:

    now_ms()            milliseconds since boot, never wrapping
    audio_block()       the next BLOCK_SAMPLES 12-bit audio counts, waiting for them: this paces the loop
    ring_pulses()       ring-detect pulses since the last call
    read_line_adc()     the line-voltage ADC, 0..65535
    read_loop_adc()     the loop-current ADC, 0..65535
    set_hook_relay(closed)
    feed_watchdog()
    read_serial()       bytes from the box that have arrived (b"" if none); never waits
    write_serial(data)

On the board this file is also /main.py: MicroPython runs it at boot.
"""

from firmware import protocol
from firmware.line import LineInterface


class Firmware:
    """The loop's state: the line's logic, the serial line reader, where the relay was last put."""

    def __init__(self, board, family):
        self.board = board
        self.family = family
        self.line = LineInterface(family, board.now_ms())
        self._reader = protocol.LineReader()
        self._relay_closed = False

    def boot(self):
        """Opens the relay (on hook) and says hello."""
        self.board.set_hook_relay(False)
        self._send([protocol.event("boot", ("version", protocol.VERSION), ("cadence", self.family))])

    def tick(self):
        """One turn of the loop. Only here is the watchdog fed, so a turn that hangs resets the board."""
        board = self.board
        board.feed_watchdog()
        audio = board.audio_block()
        now_ms = board.now_ms()
        messages = []
        for line in self._reader.feed(board.read_serial()):
            messages += self.line.command(line, now_ms)
        messages += self.line.step(now_ms, board.ring_pulses(), board.read_line_adc(), board.read_loop_adc(), audio)
        if self.line.relay_closed != self._relay_closed:
            self._relay_closed = self.line.relay_closed
            board.set_hook_relay(self._relay_closed)
        self._send(messages)

    def _send(self, messages):
        """Writes messages to the box, one JSON line each."""
        for pairs in messages:
            self.board.write_serial(protocol.encode(pairs))


def run(board, family):
    """Runs the firmware for ever (until the watchdog or a reset ends it)."""
    firmware = Firmware(board, family)
    firmware.boot()
    while True:
        firmware.tick()


if __name__ == "__main__":
    from firmware import board_rp2040

    board_rp2040.main()
