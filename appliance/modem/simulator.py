"""The SIM7600 simulator on real pseudo-terminals, for tests and for technicians without a modem at hand.

`python -m appliance.modem.simulator` prints the AT terminal's path (`/dev/pts/7`) and, on the next
line, the audio terminal's: point `[modem] device` at the first, or open it with minicom. With
`--link-dir DIR` the two are DIR/at and DIR/audio, links that keep their names when the modem
restarts or re-enumerates, as udev names a real one. Lines typed on standard input play the rest of
the world (`sms +15551234567 STOP`, `ring +15551234567`, `say caller.wav`, `help`). Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import fcntl
import os
import signal
import sys
import termios
import time
import tty
from pathlib import Path

from appliance.audio import FRAME_MS
from appliance.audio.wav import write_wav
from appliance.modem.sim7600 import Sim7600

CONSOLE_HELP = """\
sms NUMBER TEXT         a text message from NUMBER arrives
ring [NUMBER]           a call rings (no NUMBER: withheld); hangup ends it
hangup                  the caller hangs up
say WAV                 the caller's voice: WAV plays once call audio flows, then silence
keys DIGITS             the caller presses keys (reported once the appliance turns key detection on)
heard WAV               save what the caller heard in this call to WAV
dial NUMBER OUTCOME     calls to NUMBER are answered, busy, no-answer or no-carrier
drop                    the network drops the call
mute in|out|both|off    one-way audio: in = the appliance hears nothing, out = the caller hears nothing
audio-dies              the audio port goes dead after this call, until the modem restarts
replug                  both ports vanish and come back (USB re-enumeration)
network N               registration: 1 home, 5 roaming, 2 searching, 3 denied, 0 none (0-3 drop a call)
signal N                +CSQ signal: 0-31, 99 unknown
fail COMMAND N          the next COMMAND (+CMGS) fails with +CMS ERROR N
sent                    the messages the appliance has sent"""
AUDIO_BEHIND_S = 0.2  # an audio clock this far behind (a busy loop) skips ahead instead of sending a burst
REPLUG_S = 0.2  # how long re-enumeration leaves the ports gone
LOSSY_QUEUE_BYTES = 2048  # audio nobody reads piles up to this, well short of the terminal's 4 KiB, then drops


class _Terminal:
    """One pseudo-terminal in raw mode, its controller end on the event loop: the modem's side of a USB port."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_data, *, lossy: bool):
        self._controller, self._device = os.openpty()
        tty.setraw(self._device)  # bytes pass untouched, as on a USB serial port: no echo, no CR/LF rewriting
        os.set_blocking(self._controller, False)
        self.path = os.ttyname(self._device)  # this end stays open so the terminal outlives each client
        self._loop, self._on_data, self._lossy = loop, on_data, lossy
        self._pending = bytearray()
        self.dropped = 0  # writes a lossy terminal dropped because nobody read
        loop.add_reader(self._controller, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._controller, 4096)
        except BlockingIOError:
            return
        except OSError:  # the terminal is gone; nothing more will come
            self._loop.remove_reader(self._controller)
            return
        self._on_data(data)

    def write(self, data: bytes) -> None:
        """Send bytes to the computer: queued while it does not read (AT), or dropped whole when nobody reads
        (audio, as USB drops it: never part of a frame, so a reader's samples stay aligned)."""
        if self._lossy and (self._pending or self.unread() > LOSSY_QUEUE_BYTES):
            self.dropped += 1
            return
        self._pending += data
        self._flush()

    def unread(self) -> int:
        """Bytes written and not yet read on the other end."""
        count = array.array("i", [0])
        fcntl.ioctl(self._device, termios.FIONREAD, count)
        return count[0]

    def _flush(self) -> None:
        try:
            written = os.write(self._controller, self._pending)
        except BlockingIOError:
            written = 0
        except OSError:  # the terminal is going: what is left can go nowhere
            written = len(self._pending)
        del self._pending[:written]
        if self._pending:
            self._loop.add_writer(self._controller, self._flush)
        else:
            self._loop.remove_writer(self._controller)

    def close(self) -> None:
        """Remove the terminal: a reader on the other end gets an error."""
        self._loop.remove_reader(self._controller)
        self._loop.remove_writer(self._controller)
        os.close(self._controller)
        os.close(self._device)


class Simulator(Sim7600):
    """A Sim7600 behind two pseudo-terminals: `path` is its AT port (open it as /dev/ttyUSB2), `audio_path` its PCM
    audio port (/dev/ttyUSB4). With `link_dir` both are links there (`at`, `audio`) that keep their names when
    the modem restarts or re-enumerates; without, each comes back at a new /dev/pts path. `on_ports(path,
    audio_path)`, when set, is told each time the ports come back."""

    path = ""
    audio_path = ""

    def __init__(self, *, link_dir: str | Path | None = None, **options):
        super().__init__(**options)
        self.link_dir = Path(link_dir) if link_dir is not None else None
        self.on_ports = None
        self._at: _Terminal | None = None
        self._audio: _Terminal | None = None
        self._clock: asyncio.Task | None = None
        self._comeback: asyncio.TimerHandle | None = None
        self.enumerations = 0  # how many times the ports have appeared (start, restarts, re-enumerations)

    async def start(self) -> str:
        """Open the terminals and start answering; returns the AT port's path."""
        self._loop = asyncio.get_running_loop()
        self._plug_in()
        return self.path

    async def close(self) -> None:
        """Stop answering and remove the terminals (as pulling a USB modem out would); closing twice is harmless."""
        self.stop()
        if self._comeback is not None:
            self._comeback.cancel()
            self._comeback = None
        self._unplug()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    # Scripting the world: the USB side

    def reenumerate(self, gone_s: float = REPLUG_S) -> None:
        """Both ports vanish (a reader gets an error, the paths are gone) and come back `gone_s` later, at the same
        link paths when there is a link_dir. The modem itself carries on: a call stays up."""
        if self._at is None:
            return  # gone already (restarting): it comes back on its own
        self._unplug()
        self._comeback = self._loop.call_later(gone_s, self._plug_in)

    def save_heard(self, path: str | Path) -> None:
        """Write what the caller heard in this call as an 8 kHz WAV."""
        write_wav(path, self.heard(), 8000)

    # The ports

    def _plug_in(self) -> None:
        self._unplug()  # nothing to unplug, unless two comebacks crossed
        self._comeback = None
        self._at = _Terminal(self._loop, self.receive, lossy=False)
        self._audio = _Terminal(self._loop, self._audio_in, lossy=True)
        self.path, self.audio_path = self._at.path, self._audio.path
        self.enumerations += 1
        if self.link_dir is not None:
            self.path, self.audio_path = self._link("at", self._at.path), self._link("audio", self._audio.path)
        self._audio_changed()
        if self.on_ports is not None:
            self.on_ports(self.path, self.audio_path)

    def _link(self, name: str, target: str) -> str:
        """Point link_dir/name at `target` in one step; returns the link's path."""
        self.link_dir.mkdir(parents=True, exist_ok=True)
        link, staged = self.link_dir / name, self.link_dir / f".{name}.new"
        staged.unlink(missing_ok=True)
        staged.symlink_to(target)
        os.replace(staged, link)
        return str(link)

    def _unplug(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None
        for terminal in (self._at, self._audio):
            if terminal is not None:
                terminal.close()
        if self.link_dir is not None and self._at is not None:
            for name in ("at", "audio"):
                (self.link_dir / name).unlink(missing_ok=True)
        self._at = self._audio = None
        self.path = self.audio_path = ""

    def _power_cycle(self) -> None:
        """A restart takes the USB ports away for restart_s; the modem boots as they come back."""
        if self._comeback is not None:
            self._comeback.cancel()
        self._unplug()

        def back() -> None:
            self._plug_in()
            self._boot()

        self._comeback = self._loop.call_later(self.restart_s, back)

    def output(self, data: bytes) -> None:
        """Write to the AT terminal, waiting for the reader to drain it when it is full; lost while unplugged."""
        if self._at is not None:
            self._at.write(data)

    # Call audio: 320 bytes each way every 20 ms on the monotonic clock while audio is on

    def _audio_changed(self) -> None:
        running = self._clock is not None and not self._clock.done()
        if self.audio_on and self._audio is not None and not running:
            self._clock = self._loop.create_task(self._send_audio())
        elif not self.audio_on and running:
            self._clock.cancel()
            self._clock = None

    async def _send_audio(self) -> None:
        tick_s = FRAME_MS / 1000
        due = time.monotonic()
        while self._audio is not None:
            frame = self.caller.next_frame()  # the caller talks on even when nobody hears them
            if not (self.mute_to_appliance or self.audio_dead):
                self._audio.write(frame)
            due += tick_s
            now = time.monotonic()
            if now - due > AUDIO_BEHIND_S:
                due = now
            await asyncio.sleep(max(0.0, due - now))

    def _audio_in(self, data: bytes) -> None:
        if self.audio_on and not (self.mute_from_appliance or self.audio_dead):
            self.caller.hear(data, time.monotonic())


class SimulatorThread:
    """A Simulator on a thread and event loop of its own, for callers that are not async (simulate, the tests
    of the queue): `path` is its terminal; `do(method, *args)` runs one of its scripting methods there."""

    def __init__(self, **options):
        import threading

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="modem-simulator", daemon=True)
        self._thread.start()
        self.simulator = Simulator(**options)
        self.path = asyncio.run_coroutine_threadsafe(self.simulator.start(), self._loop).result(timeout=10)

    @property
    def sent(self) -> list:
        """The messages the modem has sent, parts joined."""
        return list(self.simulator.sent)

    def do(self, method: str, *args, **kwargs):
        """Call a scripting method (`fail_next`, `set_registration`, `deliver_sms`, ...) on the simulator's loop."""

        async def call():
            return getattr(self.simulator, method)(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=10)

    def close(self) -> None:
        """Remove the terminal and stop the thread."""
        asyncio.run_coroutine_threadsafe(self.simulator.close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def console(simulator: Simulator, line: str) -> str:
    """Carry out one technician's line from standard input; returns what to print."""
    word, _, rest = line.strip().partition(" ")
    argument, _, text = rest.strip().partition(" ")
    if word == "sms" and argument and text:
        return f"stored at {simulator.deliver_sms(argument, text)}"
    if word == "ring":
        simulator.ring(argument)
        return "ringing"
    if word == "hangup":
        simulator.remote_hang_up()
        return "hung up"
    if word == "say" and argument:
        try:
            simulator.say(rest.strip())
        except Exception as exc:  # a missing or unreadable WAV: say so, keep serving
            return f"cannot play {rest.strip()}: {exc}"
        return "the caller will say it once call audio flows"
    if word == "keys" and argument:
        try:
            simulator.press_keys(argument)
        except ValueError as exc:
            return str(exc)
        return f"pressed {argument}"
    if word == "heard" and argument:
        simulator.save_heard(rest.strip())
        return f"{len(simulator.heard())} samples saved to {rest.strip()}"
    if word == "dial" and argument and text in ("answered", "busy", "no-answer", "no-carrier"):
        simulator.script_dial(argument, text)
        return f"calls to {argument}: {text}"
    if word == "drop":
        simulator.drop_call()
        return "dropped"
    if word == "mute" and argument in ("in", "out", "both", "off"):
        simulator.mute_audio(argument in ("in", "both"), argument in ("out", "both"))
        return f"audio muted: {argument}"
    if word == "audio-dies":
        simulator.audio_dies_after_a_call()
        return "the audio port goes dead after this call"
    if word == "replug":
        simulator.reenumerate()
        return "ports unplugged; they come back in a moment"
    if word == "network" and argument.isdigit():
        simulator.set_registration(int(argument))
        return f"registration {argument}"
    if word == "signal" and argument.isdigit():
        simulator.signal = int(argument)
        return f"signal {argument}"
    if word == "fail" and argument and text.isdigit():
        simulator.fail_next(argument, cms=int(text))
        return f"the next {argument.upper()} fails with +CMS ERROR: {text}"
    if word == "sent":
        return "\n".join(f"{sent.number}: {sent.text!r} {list(sent.references)}" for sent in simulator.sent) or "none"
    return CONSOLE_HELP


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appliance modem simulate",
                                     description="A SIMCom SIM7600 (or Quectel EC25) simulator on two "
                                                 "pseudo-terminals: AT commands and call audio.")
    parser.add_argument("--no-sim", action="store_true", help="no SIM card in the slot")
    parser.add_argument("--unregistered", action="store_true", help="not registered on a network (searching)")
    parser.add_argument("--signal", type=int, default=20, metavar="N", help="+CSQ signal, 0-31 or 99 (default 20)")
    parser.add_argument("--quectel", action="store_true", help="answer as a Quectel EC25 instead (AT+QPCMV, "
                                                               "+QTONEDET, AT+CFUN=1,1)")
    parser.add_argument("--link-dir", metavar="DIR", help="name the ports DIR/at and DIR/audio, names that last "
                                                          "through restarts and re-enumeration")
    return parser


async def _serve(arguments: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stopped.set)
    simulator = Simulator(sim=not arguments.no_sim, registration=2 if arguments.unregistered else 1,
                          signal=arguments.signal, dialect="quectel" if arguments.quectel else "sim7600",
                          link_dir=arguments.link_dir)
    async with simulator:
        print(simulator.path, flush=True)
        print(simulator.audio_path, flush=True)
        simulator.on_ports = lambda path, audio_path: print(f"ports back: AT {path}, audio {audio_path}",
                                                            file=sys.stderr, flush=True)
        name = "Quectel EC25" if arguments.quectel else "SIM7600"
        print(f"{name} simulator ready (AT port, then audio port, above); type 'help' for what you can do, "
              "Ctrl-C to stop.", file=sys.stderr, flush=True)
        _read_console(loop, simulator)
        await stopped.wait()


def _read_console(loop: asyncio.AbstractEventLoop, simulator: Simulator) -> None:
    """Take technician's lines from standard input as they come, without blocking the modem."""
    if sys.stdin is None:
        return
    descriptor = sys.stdin.fileno()
    typed = bytearray()

    def readable() -> None:
        data = os.read(descriptor, 4096)
        if not data:
            loop.remove_reader(descriptor)
            return
        typed.extend(data)
        *lines, rest = typed.split(b"\n")
        typed[:] = rest
        for line in lines:
            if line.strip():
                print(console(simulator, line.decode(errors="replace")), file=sys.stderr, flush=True)

    try:
        loop.add_reader(descriptor, readable)
    except PermissionError:
        pass  # standard input is a file or /dev/null (under systemd, say): no console, the modem still serves


def main(argv: list[str] | None = None) -> int:
    """Run the simulator until Ctrl-C (or SIGTERM); `appliance modem simulate` calls this."""
    arguments = _arguments().parse_args(argv)
    if not 0 <= arguments.signal <= 31 and arguments.signal != 99:
        _arguments().error("--signal must be 0-31 or 99")
    asyncio.run(_serve(arguments))
    return 0


if __name__ == "__main__":
    sys.exit(main())
