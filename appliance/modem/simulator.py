"""The SIM7600 simulator on a real pseudo-terminal, for tests and for technicians without a modem at hand.

`python -m appliance.modem.simulator` prints the terminal's path (`/dev/pts/7`): point `[modem] device`
at it, or open it with minicom. Lines typed on standard input play the rest of the world
(`sms +15551234567 STOP`, `ring +15551234567`, `help`). Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tty

from appliance.modem.sim7600 import Sim7600

CONSOLE_HELP = """\
sms NUMBER TEXT   a text message from NUMBER arrives
ring [NUMBER]     a call rings (no NUMBER: withheld); hangup ends it
hangup            the caller hangs up
network N         registration: 1 home, 5 roaming, 2 searching, 3 denied, 0 none
signal N          +CSQ signal: 0-31, 99 unknown
fail COMMAND N    the next COMMAND (+CMGS) fails with +CMS ERROR N
sent              the messages the appliance has sent"""


class Simulator(Sim7600):
    """A Sim7600 behind a pseudo-terminal in raw mode: open `path` as you would /dev/ttyUSB2."""

    path = ""

    async def start(self) -> str:
        """Open the terminal and start answering; returns its path."""
        self._controller, self._device = os.openpty()
        tty.setraw(self._device)  # bytes pass untouched, as on a USB serial port: no echo, no CR/LF rewriting
        os.set_blocking(self._controller, False)
        self.path = os.ttyname(self._device)  # this end stays open so the terminal outlives each client
        self._loop = asyncio.get_running_loop()
        self._pending = bytearray()
        self._loop.add_reader(self._controller, self._readable)
        return self.path

    async def close(self) -> None:
        """Stop answering and remove the terminal (as pulling a USB modem out would); closing twice is harmless."""
        self.stop()
        if not self.path:
            return
        self.path = ""
        self._loop.remove_reader(self._controller)
        self._loop.remove_writer(self._controller)
        os.close(self._controller)
        os.close(self._device)

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    def _readable(self) -> None:
        try:
            data = os.read(self._controller, 4096)
        except BlockingIOError:
            return
        except OSError:  # the terminal is gone; nothing more will come
            self._loop.remove_reader(self._controller)
            return
        self.receive(data)

    def output(self, data: bytes) -> None:
        """Write to the terminal, waiting for the reader to drain it when it is full."""
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        try:
            written = os.write(self._controller, self._pending)
        except BlockingIOError:
            written = 0
        del self._pending[:written]
        if self._pending:
            self._loop.add_writer(self._controller, self._flush)
        else:
            self._loop.remove_writer(self._controller)


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
                                     description="A SIMCom SIM7600 simulator on a pseudo-terminal.")
    parser.add_argument("--no-sim", action="store_true", help="no SIM card in the slot")
    parser.add_argument("--unregistered", action="store_true", help="not registered on a network (searching)")
    parser.add_argument("--signal", type=int, default=20, metavar="N", help="+CSQ signal, 0-31 or 99 (default 20)")
    return parser


async def _serve(arguments: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stopped.set)
    simulator = Simulator(sim=not arguments.no_sim, registration=2 if arguments.unregistered else 1,
                          signal=arguments.signal)
    async with simulator:
        print(simulator.path, flush=True)
        print("SIM7600 simulator ready; type 'help' for what you can do, Ctrl-C to stop.", file=sys.stderr, flush=True)
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
