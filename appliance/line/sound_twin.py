"""A sound device with no sound card: an ALSA PCM that PortAudio lists, fed and heard through two FIFOs.

PortAudio's ALSA host API lists each `pcm.NAME` of the ALSA configuration (ALSA_CONFIG_PATH names the file; it
takes in the system's alsa.conf first). The twin defines one: `type asym`, its capture side the `file` plugin over
`null` reading its input from one FIFO (`infile`), its playback side the same plugin writing what it plays into
another (`file`). `null` keeps no time, it gives and takes samples as fast as asked, so the twin's clock thread is
the device's clock: every 20 ms it writes one 20 ms block of input, and PortAudio, blocked reading the FIFO, calls
back at that pace, both ways on that one clock. The block is exactly PortAudio's (rate / 50 frames), so a read is
never short. Into the input goes what `say` was given (the caller) plus, as a 2-wire line interface's hybrid or a
speakerphone returns it, the echo of what the device played: delayed, attenuated and low-passed.

`unplug` takes the PCM out of the configuration (a new scan no longer lists it) and closes the playback FIFO (the
next write fails and PortAudio stops the stream with an error, as it does when a USB device goes); `plug` brings
both back. The FIFOs are opened before PortAudio is, because the plugin opens its infile as PortAudio lists it.
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios
import threading
import time
from pathlib import Path

import numpy as np

from appliance.audio import FRAME_MS, LINE_RATE_HZ
from appliance.audio.resample import resample

HYBRID_FILTER = np.array([0.4, 0.3, 0.2, 0.1])  # a little low-pass: a hybrid or a room does not return all of it
SYSTEM_CONFIG = "/usr/share/alsa/alsa.conf"
AHEAD_BLOCKS = 2  # input written and not yet read: the clock waits rather than write more (none reads, or late)


class SoundCardTwin:
    """An ALSA device named `name` at `rate_hz`, its configuration in `folder`; `echo_db` (None: no echo) and
    `echo_delay_ms` set its hybrid. Use `env()` for a process that opens it, and `with` (or start/stop)."""

    def __init__(self, folder: str | Path, name: str = "appliance-twin", rate_hz: int = 44100,
                 echo_db: float | None = None, echo_delay_ms: int = 30):
        self.folder = Path(folder)
        self.name = name
        self.rate_hz = rate_hz
        self.block = rate_hz * FRAME_MS // 1000
        self.echo_gain = None if echo_db is None else 10 ** (echo_db / 20)
        self.echo_delay = rate_hz * echo_delay_ms // 1000
        self.config = self.folder / "asound.conf"
        self.input_path, self.output_path = self.folder / "input.fifo", self.folder / "output.fifo"
        self._lock = threading.Lock()
        self._speech = np.zeros(0, np.int16)  # the caller's words still to be heard, at the device's rate
        self._played = bytearray()  # every sample the device played
        self.written = 0  # input samples written: the device's clock
        self.plugged = True
        self._want_plugged = True
        self._running = False
        self._thread: threading.Thread | None = None
        self._in = self._out = None

    def env(self) -> dict[str, str]:
        """What a process needs in its environment to see the device."""
        return {"ALSA_CONFIG_PATH": str(self.config)}

    def start(self) -> "SoundCardTwin":
        """Make the FIFOs and the configuration, and start the clock."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for path in (self.input_path, self.output_path):
            if not path.exists():
                os.mkfifo(path)
        # Read-write ends never block on opening, and keep the plugin's own opens from blocking.
        self._in = os.open(self.input_path, os.O_RDWR | os.O_NONBLOCK)
        self._out = os.open(self.output_path, os.O_RDWR | os.O_NONBLOCK)
        self._write_config(True)
        self._running = True
        self._thread = threading.Thread(target=self._clock, name="sound-twin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the clock and close the FIFOs; the device leaves the configuration first, so that no later scan
        waits on a FIFO nobody writes."""
        self._running = False
        if self._thread is not None:
            self._thread.join()
        self._write_config(False)
        for fd in (self._in, self._out):
            if fd is not None:
                os.close(fd)
        self._in = self._out = None

    def __enter__(self) -> "SoundCardTwin":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # What a test does to it.

    def say(self, pcm: np.ndarray, rate_hz: int = LINE_RATE_HZ) -> None:
        """The caller speaks `pcm` into the device, after whatever they are still saying."""
        samples = resample(np.asarray(pcm, np.int16), rate_hz, self.rate_hz)
        with self._lock:
            self._speech = np.concatenate([self._speech, samples])

    @property
    def saying(self) -> bool:
        """Whether the caller's words are still being heard."""
        return len(self._speech) > 0

    def heard(self, since: int = 0) -> np.ndarray:
        """What the device played from its sample `since` on (a `played` count), at the line rate."""
        with self._lock:
            played = np.frombuffer(bytes(self._played[2 * since:]), "<i2").astype(np.int16)
        return resample(played, self.rate_hz, LINE_RATE_HZ)

    @property
    def played(self) -> int:
        """Samples the device has played so far."""
        return len(self._played) // 2

    def unplug(self) -> None:
        """The device goes away (done on the clock's next tick)."""
        self._want_plugged = False

    def plug(self) -> None:
        """The device comes back (done on the clock's next tick)."""
        self._want_plugged = True

    # The clock.

    def _clock(self) -> None:
        due = time.monotonic()
        while self._running:
            if self._want_plugged != self.plugged:
                self._replug() if self._want_plugged else self._unplug()
            if self.plugged:
                self._take_played()
                self._write_block()
            due += FRAME_MS / 1000
            time.sleep(max(0.0, due - time.monotonic()))

    def _write_block(self) -> None:
        # Never ahead of the reader by more than a block or two: input and output stay in step, so the echo keeps
        # its delay, and a stream that opens reads no stale backlog.
        unread = struct.unpack("i", fcntl.ioctl(self._in, termios.FIONREAD, b"\0" * 4))[0]
        if unread >= AHEAD_BLOCKS * 2 * self.block:
            return
        with self._lock:
            speech, self._speech = self._speech[:self.block], self._speech[self.block:]
        block = np.zeros(self.block, np.float64)
        block[:len(speech)] = speech
        if self.echo_gain is not None:
            block += self.echo_gain * self._echo_source(self.written)
        os.write(self._in, np.clip(block, -32768, 32767).astype("<i2").tobytes())
        self.written += self.block

    def _echo_source(self, start: int) -> np.ndarray:
        """What the hybrid returns into input samples start.., from what was played echo_delay samples before."""
        taps = len(HYBRID_FILTER)
        first = start - self.echo_delay - (taps - 1)
        end = max(first + self.block + taps - 1, 0)
        with self._lock:
            played = np.frombuffer(bytes(self._played[2 * max(first, 0):2 * end]), "<i2").astype(np.float64)
        source = np.zeros(self.block + taps - 1)
        offset = max(0, -first)
        source[offset:offset + len(played)] = played[:len(source) - offset]
        return np.convolve(source, HYBRID_FILTER, mode="valid")

    def _take_played(self) -> None:
        while True:
            try:
                data = os.read(self._out, 65536)
            except BlockingIOError:
                return
            with self._lock:
                self._played += data

    def _unplug(self) -> None:
        self._write_config(False)
        self._take_played()
        os.close(self._out)  # the plugin's next write fails: PortAudio ends the stream with an error
        self._out = None
        for _ in range(5):  # a read waiting for input returns, so that the write comes
            self._write_block()
        self.plugged = False

    def _replug(self) -> None:
        self._out = os.open(self.output_path, os.O_RDWR | os.O_NONBLOCK)
        self._write_config(True)
        self.plugged = True

    def _write_config(self, with_device: bool) -> None:
        """ALSA's configuration, with the device or without; replaced whole, so that alsa-lib sees the change."""
        device = f"""
pcm.{self.name} {{
    type asym
    playback.pcm {{ type file slave.pcm "null" file "{self.output_path}" format "raw" }}
    capture.pcm {{ type file slave.pcm "null" file "/dev/null" infile "{self.input_path}" format "raw" }}
    hint {{ show on description "the appliance's sound card twin" }}
}}
"""
        staged = self.config.with_name(self.config.name + ".new")
        staged.write_text(f"<{SYSTEM_CONFIG}>\n" + (device if with_device else ""))
        os.replace(staged, self.config)
