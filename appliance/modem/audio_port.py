"""The modem's call audio port on the event loop: whole 20 ms frames of 8 kHz 16-bit little-endian mono, in and out.

A SIM7600 carries a call's audio on a USB serial port of its own once AT+CPCMREG=1, a Quectel EC25 on
its USB NMEA port once AT+QPCMV=1,0 (Modem.start_audio); both send 320 bytes every 20 ms and take
what is written at the same pace. The bytes come in whatever chunks USB delivers; this cuts them
into frames again. A device that vanishes (unplugged, re-enumerated, restarted) is a ModemError
`modem-audio-io` on the next read or write; open a new AudioPort on the same path once it is back.

A Quectel can also give the call's audio as a USB sound card (AT+QPCMV=1,2): `sound:NAME` names it, and
`open_audio_port` opens it through PortAudio (line.sound_port) with the same frames and the same errors.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque

import numpy as np
import serial

from appliance.line import FRAME_SAMPLES
from appliance.line.sound_port import SoundError, SoundPort, find_device, scan
from appliance.modem.driver import ModemError

FRAME_BYTES = FRAME_SAMPLES * 2
MAX_QUEUED_FRAMES = 50  # a reader that falls 1 s behind loses the oldest audio, as a live line would
SOUND = "sound:"  # the audio port named as a sound card: sound:NAME


class ModemSoundPort(SoundPort):
    """The modem's USB sound card: a SoundPort that fails as the modem's serial audio port does. No echo gate: the
    network cancels its own echo, and the modem's digital path returns none."""

    def __init__(self, name: str, devices: list[dict]):
        super().__init__(name, devices, echo=False, max_queued_ms=2000)  # the line's own clock drops beyond 1 s

    def _error(self, message: str) -> ModemError:
        return ModemError("modem-audio-io", message)


async def open_audio_port(path: str) -> "AudioPort | ModemSoundPort":
    """The call's audio port on `path`: a serial PCM port, or `sound:NAME` (a USB sound card); ModemError if not."""
    if not path.startswith(SOUND):
        return AudioPort(path)
    try:
        devices = await asyncio.to_thread(scan)
    except SoundError as exc:
        raise ModemError("modem-audio-io", exc.message) from None
    return ModemSoundPort(path[len(SOUND):], devices)


async def audio_port_present(path: str) -> bool:
    """Whether the audio port is there now: its device node, or the sound card in PortAudio's list."""
    if not path.startswith(SOUND):
        return os.path.exists(path)
    try:
        return find_device(path[len(SOUND):], await asyncio.to_thread(scan)) is not None
    except SoundError:
        return False


class AudioPort:
    """A PCM audio device opened raw: read_frame() gives int16 frames of 160 samples, write_frame() sends them."""

    def __init__(self, device: str):
        try:
            self.serial = serial.Serial(device, 115200, timeout=0)  # raw mode: no echo, no CR/LF rewriting
        except (serial.SerialException, ValueError, OSError) as exc:
            raise ModemError("modem-audio-io", f"cannot open {device}: {exc}") from None
        self.device = device
        self._fd = self.serial.fileno()
        os.set_blocking(self._fd, False)
        self._loop = asyncio.get_running_loop()
        self._partial = bytearray()  # bytes of a frame not yet whole
        self._frames: deque[np.ndarray] = deque()
        self._arrived = asyncio.Event()
        self._outgoing = bytearray()
        self._error: ModemError | None = None
        self.dropped_frames = 0  # frames lost because nobody read them in time
        self._loop.add_reader(self._fd, self._readable)

    async def __aenter__(self) -> AudioPort:
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.close()

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError as exc:
            self._fail(str(exc))
            return
        if not data:  # readable yet nothing to read: the device is gone
            self._fail("the device is gone")
            return
        self._partial += data
        whole = len(self._partial) // FRAME_BYTES * FRAME_BYTES
        for start in range(0, whole, FRAME_BYTES):
            if len(self._frames) == MAX_QUEUED_FRAMES:
                self._frames.popleft()
                self.dropped_frames += 1
            self._frames.append(np.frombuffer(self._partial[start:start + FRAME_BYTES], dtype="<i2").astype(np.int16))
        del self._partial[:whole]
        self._arrived.set()

    def _fail(self, reason: str) -> None:
        if self._error is None:
            self._error = ModemError("modem-audio-io", f"{self.device}: {reason}")
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._arrived.set()

    async def read_frame(self) -> np.ndarray:
        """The next 20 ms of the call (160 int16 samples); waits for it. Frames that came before the device went
        are still read; after them, ModemError."""
        while not self._frames:
            if self._error is not None:
                raise self._error
            self._arrived.clear()
            await self._arrived.wait()
        return self._frames.popleft()

    def write_frame(self, frame: np.ndarray) -> None:
        """Queue samples (a 20 ms frame, or any whole number of samples) for the call; they go out as fast as the
        device takes them. ModemError once the device is gone."""
        if self._error is not None:
            raise self._error
        self._outgoing += np.asarray(frame, dtype=np.int16).astype("<i2").tobytes()
        self._flush()

    def _flush(self) -> None:
        try:
            written = os.write(self._fd, self._outgoing)
        except BlockingIOError:
            written = 0
        except OSError as exc:
            self._fail(str(exc))
            return
        del self._outgoing[:written]
        if self._outgoing:
            self._loop.add_writer(self._fd, self._flush)
        else:
            self._loop.remove_writer(self._fd)

    @property
    def pending_bytes(self) -> int:
        """Bytes written but not yet taken by the device."""
        return len(self._outgoing)

    def close(self) -> None:
        """Let go of the device; closing twice is harmless."""
        if not self.serial.is_open:
            return
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self.serial.close()
        if self._error is None:
            self._error = ModemError("modem-audio-io", f"{self.device}: closed")
        self._arrived.set()
