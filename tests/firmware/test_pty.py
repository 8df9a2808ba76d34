"""The board's protocol over a real pseudo-terminal: the twin in real time, the test as the box.

Nothing is timed: each test waits for what it expects, with a generous limit.
"""

import json
import os
import select
import signal
import subprocess
import sys
import termios
import time
import tty
from pathlib import Path

from firmware.twin_pty import PtyTwin

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 30.0


class Port:
    """The box's end of the board's serial port: raw, one JSON object per line."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd, termios.TCSANOW)  # TCSANOW: what the board already said stays queued
        self._pending = b""

    def send(self, command):
        os.write(self.fd, (command if isinstance(command, str) else json.dumps(command)).encode() + b"\n")

    def next(self):
        """The next message; fails after WAIT_S."""
        deadline = time.monotonic() + WAIT_S
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            assert left > 0, "the board said nothing for %.0f s" % WAIT_S
            if select.select([self.fd], [], [], left)[0]:
                self._pending += os.read(self.fd, 4096)
        line, self._pending = self._pending.split(b"\n", 1)
        return json.loads(line)

    def expect(self, wanted):
        """Reads until a message with all of `wanted`'s items; returns it."""
        while True:
            message = self.next()
            if all(message.get(key) == value for key, value in wanted.items()):
                return message

    def close(self):
        os.close(self.fd)


def test_a_call_over_the_pty(tmp_path):
    link = tmp_path / "board-tty"
    with PtyTwin(str(link), cadence="na") as board:
        port = Port(link)
        assert port.next() == {"ev": "boot", "version": "1.0.0", "cadence": "na"}
        assert port.next() == {"ev": "line", "state": "ok", "volts": 48.0}

        board.call(number="5551234567", name="JOHN DOE", cid="mdmf", time="12312359")
        assert port.next() == {"ev": "ring", "n": 1}
        assert port.next() == {"ev": "cid", "number": "5551234567", "name": "JOHN DOE", "time": "12312359",
                               "format": "mdmf"}

        port.send({"cmd": "answer", "id": 1})
        assert port.expect({"id": 1}) == {"id": 1, "ok": True, "hook": "off"}
        assert board.off_hook

        board.press("42")
        assert port.expect({"ev": "dtmf"}) == {"ev": "dtmf", "digit": "4"}
        assert port.next() == {"ev": "dtmf", "digit": "2"}

        port.send("{not json")
        port.send({"cmd": "status", "id": 2})
        assert port.next() == {"ok": False, "error": "not a JSON object"}
        status = port.next()
        assert status["id"] == 2 and status["hook"] == "off" and status["version"] == "1.0.0"

        board.caller_hangs_up("disconnect-tone")
        assert port.next() == {"ev": "hangup", "why": "disconnect-tone"}
        assert port.next() == {"ev": "hook", "state": "on"}

        board.cut_line()
        assert port.next() == {"ev": "line", "state": "lost", "volts": 0.0}
        board.restore_line()
        assert port.next() == {"ev": "line", "state": "ok", "volts": 48.0}
        port.close()
        assert board.watchdog_resets == 0
    assert not link.exists()


def test_the_scripted_line_from_the_command_line(tmp_path):
    link = tmp_path / "board-tty"
    twin = subprocess.Popen([sys.executable, "-m", "firmware.twin", "--pty-link", str(link), "--cadence", "uk",
                             "--cid", "v23", "--number", "01632960123", "--name", "A N OTHER", "--delay-s", "0.5",
                             "--dtmf", "7", "--talk-s", "3", "--hangup", "loop-drop"], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert twin.stdout.readline().strip() == "twin: board on %s" % link
        port = Port(link)
        assert port.expect({"ev": "cid"})["number"] == "01632960123"
        assert port.next() == {"ev": "ring", "n": 1}
        port.send({"cmd": "answer", "id": 1})
        assert port.expect({"id": 1})["ok"] is True
        assert port.expect({"ev": "dtmf"}) == {"ev": "dtmf", "digit": "7"}
        assert port.next() == {"ev": "hangup", "why": "loop-drop"}
        assert port.next() == {"ev": "hook", "state": "on"}
        port.close()
    finally:
        twin.send_signal(signal.SIGTERM)
        twin.wait(timeout=WAIT_S)
    assert not link.exists()
