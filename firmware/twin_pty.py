"""The twin in real time on a pseudo-terminal: the box's serial code talks to it as to the board.

    python -m firmware.twin --pty-link /tmp/board-tty --cadence na --cid mdmf --number 5551234567 --name "JOHN DOE"

From Python (CPython only):

    with PtyTwin("/tmp/board-tty", cadence="na") as board:
        board.call(number="5551234567", name="JOHN DOE", cid="mdmf")
        ...  # open /tmp/board-tty, read {"ev":"ring","n":1}, {"ev":"cid",...}, send {"cmd":"answer","id":1}
        board.caller_hangs_up("loop-drop")
"""

import argparse
import os
import select
import signal
import sys
import threading
import time
import tty

from firmware import analog, exchange
from firmware.twin import Twin, caller_id_audio


class PtySerial:
    """The board's side of the USB serial link: the master end of a pty."""

    def __init__(self, fd):
        self._fd = fd
        os.set_blocking(fd, False)

    def read(self):
        """What the host wrote, without waiting."""
        try:
            return os.read(self._fd, 4096)
        except (BlockingIOError, OSError):
            return b""

    def write(self, data):
        """Sends to the host; waits while the pty is full, as USB does while the host does not read."""
        while data:
            try:
                data = data[os.write(self._fd, data):]
            except BlockingIOError:
                select.select([], [self._fd], [], 0.1)


class PtyTwin:
    """The twin's firmware running in real time on a thread, its serial port a pty at `link`.

    The script methods (call, caller_hangs_up, press, speak, tone, spike, cut_line, restore_line,
    set_noise) are Twin's, taken under a lock so a test's thread may call them any time.
    """

    def __init__(self, link, cadence="na", noise_rms=3.0):
        self.link = link
        self._master, self._slave = os.openpty()  # the slave stays open: no hangup when the host closes
        tty.setraw(self._slave)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.ttyname(self._slave), link)
        self.twin = Twin(cadence, noise_rms, serial=PtySerial(self._master))
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="board-twin", daemon=True)
        self._thread.start()

    def _run(self):
        """Turns the loop once per 25 ms of wall-clock time."""
        started = time.monotonic()
        first_ms = self.twin.now_ms()
        while not self._stopping.is_set():
            with self._lock:
                self.twin.tick()
                due = started + (self.twin.now_ms() - first_ms) / 1000
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def _locked(self, method, *args, **kwargs):
        """Calls Twin's script method `method` under the lock."""
        with self._lock:
            return getattr(self.twin, method)(*args, **kwargs)

    def call(self, **kwargs):
        """A call rings in (Twin.call's arguments: number, name, cid, time, absent, rings, alert, corrupt)."""
        self._locked("call", **kwargs)

    def caller_hangs_up(self, how="loop-drop"):
        """The caller goes: "loop-drop" or "disconnect-tone"."""
        self._locked("caller_hangs_up", how)

    def press(self, digits):
        """The caller presses keys."""
        self._locked("press", digits)

    def speak(self, seconds):
        """The caller talks (speech-like sound)."""
        self._locked("speak", seconds)

    def tone(self, freq_hz, seconds):
        """A single tone on the line."""
        self._locked("tone", freq_hz, seconds)

    def spike(self, ms):
        """Ring voltage for `ms` (no ring)."""
        self._locked("spike", ms)

    def cut_line(self):
        """The phone cable comes out."""
        self._locked("cut_line")

    def restore_line(self):
        """The phone cable goes back in."""
        self._locked("restore_line")

    def set_noise(self, rms):
        """Line noise in ADC counts RMS."""
        self._locked("set_noise", rms)

    @property
    def off_hook(self):
        """Whether the board's hook relay is closed."""
        return self.twin.board.relay_closed

    @property
    def caller(self):
        """The caller: "ringing", "talking", or None."""
        return self.twin.line.caller

    @property
    def watchdog_resets(self):
        """How many times the twin's watchdog has reset the board."""
        return self.twin.resets

    def close(self):
        """Stops the board and removes the link."""
        self._stopping.set()
        self._thread.join()
        if os.path.islink(self.link):
            os.unlink(self.link)
        os.close(self._master)
        os.close(self._slave)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _wait(predicate, seconds):
    """Waits until predicate() is true or `seconds` have passed."""
    end = time.monotonic() + seconds
    while not predicate() and time.monotonic() < end:
        time.sleep(0.05)
    return predicate()


def play(board, args):
    """The scripted line: calls ring in; an answered one presses keys, talks, and hangs up."""
    for _ in range(args.calls):
        time.sleep(args.delay_s)
        board.call(number=args.number, name=args.name, cid=None if args.cid == "none" else args.cid,
                   time=args.time, absent=args.absent, rings=args.rings, alert=args.alert)
        _wait(lambda: board.off_hook or board.caller is None, 600)
        if not board.off_hook:
            print("twin: nobody answered", flush=True)
            continue
        print("twin: answered", flush=True)
        if args.dtmf:
            time.sleep(1)
            board.press(args.dtmf)
        time.sleep(args.talk_s)
        if board.off_hook:
            board.caller_hangs_up(args.hangup)
            print("twin: caller hung up (%s)" % args.hangup, flush=True)
            _wait(lambda: not board.off_hook, 15)


def write_burst(args):
    """Writes the caller-ID audio the twin would send as a 16-bit WAV, for minimodem."""
    audio = caller_id_audio(args.cid, args.number, args.name, args.time, args.absent, rate_hz=args.wav_rate)
    exchange.write_wav(args.wav, audio, args.wav_rate)


def main(argv=None):
    """`python -m firmware.twin`: the twin on a pty playing a scripted line, or a caller-ID burst as a WAV."""
    parser = argparse.ArgumentParser(prog="python -m firmware.twin", description=__doc__.split("\n")[0])
    parser.add_argument("--pty-link", help="where to symlink the board's serial port, e.g. /tmp/board-tty")
    parser.add_argument("--cadence", choices=("na", "uk", "etsi"), default="na")
    parser.add_argument("--cid", choices=("sdmf", "mdmf", "v23", "dtmf", "none"), default="mdmf")
    parser.add_argument("--number", default="5551234567")
    parser.add_argument("--name", default=None)
    parser.add_argument("--time", default="06151230", help="MMDDHHMM sent with the caller ID")
    parser.add_argument("--absent", choices=("private", "out-of-area"), default=None,
                        help="send this reason instead of the number")
    parser.add_argument("--alert", choices=("reversal", "ring-pulse"), default="reversal",
                        help="how V.23 caller ID is announced before the first ring")
    parser.add_argument("--rings", type=int, default=6, help="rings before the caller gives up")
    parser.add_argument("--calls", type=int, default=1)
    parser.add_argument("--delay-s", type=float, default=2.0, help="quiet before each call")
    parser.add_argument("--talk-s", type=float, default=5.0, help="how long the caller stays after the answer")
    parser.add_argument("--dtmf", default="", help="keys the caller presses a second after the answer")
    parser.add_argument("--hangup", choices=("loop-drop", "disconnect-tone"), default="loop-drop")
    parser.add_argument("--noise-rms", type=float, default=3.0, help="line noise in ADC counts")
    parser.add_argument("--wav", help="write the caller-ID burst to this WAV and exit")
    parser.add_argument("--wav-rate", type=int, choices=(analog.AUDIO_RATE_HZ, 48000), default=analog.AUDIO_RATE_HZ)
    args = parser.parse_args(argv)
    if args.absent:
        args.number = None
    if args.wav:
        if args.cid == "none":
            parser.error("--wav needs a --cid")
        write_burst(args)
        return
    if not args.pty_link:
        parser.error("--pty-link or --wav is needed")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with PtyTwin(args.pty_link, args.cadence, args.noise_rms) as board:
        print("twin: board on %s" % args.pty_link, flush=True)
        try:
            play(board, args)
            print("twin: script done; the board runs on until stopped", flush=True)
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
