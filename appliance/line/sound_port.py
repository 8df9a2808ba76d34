"""A sound device through PortAudio as a line's audio port: 20 ms frames of 8 kHz int16 both ways, on its own clock.

PortAudio calls back every 20 ms of the device's own clock with what its input heard, and asks for what to play.
The callback only hands over buffers: it takes the next samples queued for playing (silence when there are none)
and passes the block it heard, with the block it played beside it, to the event loop. There the rates are
converted (soxr), the echo of what was played is cancelled and gated (audio.echo: both blocks come from the same
callback, so the reference lines up with the echo whatever the event loop's delays), and 20 ms frames are cut.
Nothing else in the appliance imports sounddevice; its errors become SoundError (`line-sound-io`) here.

A device that goes away (a USB headset or line interface unplugged) shows as PortAudio stopping the stream with an
error, or as its callbacks stopping: either is a SoundError on the next read. PortAudio lists devices once, when
it starts; `scan` starts it again to see what is plugged in now, which it only may while no stream is open.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from typing import ClassVar

import numpy as np

from appliance.audio import FRAME_MS, LINE_RATE_HZ
from appliance.audio.echo import EchoGate, open_canceller
from appliance.audio.resample import StreamResampler
from appliance.errors import ApplianceError
from appliance.line import FRAME_SAMPLES, within

log = logging.getLogger(__name__)

STALL_S = 5.0  # no block from the device for this long: it is gone (some drivers stop calling back, silently)
CLOSE_S = 2.0  # a stream that does not close within this is left behind (and PortAudio is not restarted again)
MAX_QUEUED_FRAMES = 50  # a reader that falls 1 s behind loses the oldest caller audio, as on every line


class SoundError(ApplianceError):
    """The sound device failed, or is not there."""


def _portaudio():
    try:
        import sounddevice
    except OSError as exc:  # libportaudio2 missing
        raise SoundError("line-sound-io", f"PortAudio cannot be loaded: {exc}") from None
    return sounddevice


def scan() -> list[dict]:
    """The devices PortAudio sees now: PortAudio is started again first, unless a stream is open (then the list it
    made last)."""
    portaudio = _portaudio()
    if not SoundPort.open_ports and not SoundPort.stuck:
        portaudio._terminate()  # sounddevice's documented way to make PortAudio list the devices again
        portaudio._initialize()
    try:
        return [dict(device) for device in portaudio.query_devices()]
    except portaudio.PortAudioError as exc:
        raise SoundError("line-sound-io", f"PortAudio lists no devices: {exc}") from None


def find_device(name: str, devices: list[dict]) -> dict | None:
    """The device `name` names among `devices`, one that can both record and play: its index, its whole name, or a
    part of its name (case aside); None when none does."""
    duplex = [device for device in devices if device["max_input_channels"] and device["max_output_channels"]]
    if name.isdigit():
        return next((device for device in duplex if device["index"] == int(name)), None)
    return (next((device for device in duplex if device["name"] == name), None)
            or next((device for device in duplex if name.lower() in device["name"].lower()), None))


def describe(devices: list[dict]) -> str:
    """The devices in a few words, for an error that says the one asked for is not there."""
    return ", ".join(f"{device['index']}: {device['name']}" for device in devices) or "none"


async def open_sound_port(device: str, rate_hz: int | None = None, **options) -> "SoundPort":
    """`device` opened after a fresh look at what is plugged in (PortAudio's restart runs on a thread: it can take
    a while on a box with many devices); SoundError when it is not there or will not open."""
    return SoundPort(device, await asyncio.to_thread(scan), rate_hz, **options)


class SoundPort:
    """A PortAudio device (`device` as find_device takes it, among `devices`) opened both ways: read_frame() gives
    caller frames (the echo taken out when `echo`), write_frame() queues frames to play. `max_queued_ms`: reply audio
    queued beyond this drops its oldest, so a busy event loop cannot make the line's delay grow."""

    open_ports: ClassVar[set] = set()  # PortAudio is one per process: it is not restarted while any is open
    stuck: ClassVar[bool] = False  # a stream would not close: restarting PortAudio could hang the process

    def __init__(self, device: str, devices: list[dict], rate_hz: int | None = None, *, echo: bool = True,
                 max_queued_ms: int = 200, stall_s: float = STALL_S):
        self.device = device
        self.stall_s = stall_s
        self._loop = asyncio.get_running_loop()
        portaudio = _portaudio()
        found = find_device(device, devices)
        if found is None:
            raise self._error(f"no sound device {device!r} that records and plays; PortAudio sees: "
                              f"{describe(devices)}")
        self.name = found["name"]
        self.rate_hz = int(rate_hz or found["default_samplerate"])
        self._lock = threading.Lock()
        self._out = bytearray()  # samples queued to play, int16 little-endian at the device's rate
        self._max_out_bytes = 2 * self.rate_hz * max_queued_ms // 1000
        self._blocks: deque[tuple[np.ndarray, np.ndarray]] = deque()  # (heard, played) from the callback
        # Low quality is plenty for 8 kHz speech and delays 40 ms both ways, where HQ's 180 ms would lengthen the
        # echo past the canceller's tail and every answer and barge-in by as much.
        self._mic_down, self._played_down = (StreamResampler(self.rate_hz, LINE_RATE_HZ, "LQ") for _ in range(2))
        self._up = StreamResampler(LINE_RATE_HZ, self.rate_hz, "LQ")
        self._mic = self._played = np.zeros(0, np.int16)
        self._frames: deque[np.ndarray] = deque()
        self._arrived = asyncio.Event()
        self._failure: SoundError | None = None
        self._closing = False
        self.canceller, self.canceller_missing = open_canceller() if echo else (None, "")
        self.gate = EchoGate() if echo else None
        self.blocks = 0  # callbacks so far
        self.heard_at = time.monotonic()  # when the device last called back
        self.late_blocks = 0  # blocks played short: the reply's next frame came too late (a busy event loop)
        self.dropped_frames = 0  # caller frames lost because nobody read them in time
        self.stream = self._open_stream(portaudio, found)
        SoundPort.open_ports.add(self)
        self.stream.start()

    def _open_stream(self, portaudio, found: dict):
        """A duplex stream of 20 ms blocks; mono where the device allows, else its first channel heard and the
        same sound on both channels played."""
        block = round(self.rate_hz * FRAME_MS / 1000)
        failed = None
        for channels in ((1, 1), (1, 2), (2, 2)):
            try:
                return portaudio.Stream(device=found["index"], samplerate=self.rate_hz, blocksize=block,
                                        channels=channels, dtype="int16", latency="low", callback=self._callback,
                                        finished_callback=self._finished)
            except (portaudio.PortAudioError, ValueError) as exc:
                failed = exc
        raise self._error(f"cannot open {self.name!r} at {self.rate_hz} Hz: {failed}")

    def _error(self, message: str) -> ApplianceError:
        """The error this port raises (the modem line's port raises its own kind)."""
        return SoundError("line-sound-io", message)

    # The device's thread: hand over buffers, nothing more.

    def _callback(self, indata, outdata, frames, time_info, status) -> None:
        wanted = 2 * frames
        with self._lock:
            chunk = bytes(self._out[:wanted])
            del self._out[:wanted]
        played = np.frombuffer(chunk, dtype="<i2").astype(np.int16)
        if 0 < len(played) < frames:
            self.late_blocks += 1
        if len(played) < frames:
            played = np.concatenate([played, np.zeros(frames - len(played), np.int16)])
        outdata[:] = played[:, None]
        self._blocks.append((indata[:, 0].copy(), played))
        self.heard_at = time.monotonic()
        try:
            self._loop.call_soon_threadsafe(self._take_blocks)
        except RuntimeError:  # the event loop is closed: the process is ending
            pass

    def _finished(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._fail, "PortAudio stopped the stream (unplugged?)")
        except RuntimeError:
            pass

    # The event loop's side.

    def _take_blocks(self) -> None:
        if self._closing:  # blocks the device gave as it was being closed: nobody reads them, the canceller is gone
            return
        while self._blocks:
            heard, played = self._blocks.popleft()
            self.blocks += 1
            self._mic = np.concatenate([self._mic, self._mic_down.push(heard)])
            self._played = np.concatenate([self._played, self._played_down.push(played)])
            while len(self._mic) >= FRAME_SAMPLES and len(self._played) >= FRAME_SAMPLES:
                mic, self._mic = self._mic[:FRAME_SAMPLES], self._mic[FRAME_SAMPLES:]
                reference, self._played = self._played[:FRAME_SAMPLES], self._played[FRAME_SAMPLES:]
                if len(self._frames) == MAX_QUEUED_FRAMES:
                    self._frames.popleft()
                    self.dropped_frames += 1
                self._frames.append(self._caller(mic, reference))
                self._arrived.set()

    def _caller(self, mic: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """The caller's frame: the mic with the echo of `reference` cancelled and gated."""
        if self.gate is None:
            return mic
        left = self.canceller.cancel(mic, reference) if self.canceller is not None else mic
        return self.gate.frame(mic, reference, left)

    def _fail(self, reason: str) -> None:
        if self._failure is None and not self._closing:
            self._failure = self._error(f"{self.name}: {reason}")
            log.warning("line-sound-io: %s", self._failure.message)
        self._arrived.set()

    @property
    def failed(self) -> bool:
        """Whether the device has failed (or the port was closed)."""
        return self._failure is not None

    @property
    def waiting_frames(self) -> int:
        """Caller frames heard and not yet read."""
        return len(self._frames)

    async def read_frame(self) -> np.ndarray:
        """The next 20 ms heard (160 int16 samples); waits for it. Frames heard before the device went are still
        read; after them, the port's error."""
        while not self._frames:
            if self._failure is not None:
                raise self._failure
            self._arrived.clear()
            if await within(self._arrived.wait(), self.stall_s):
                continue
            self._take_blocks()  # an event loop held up for long may not have taken what the device gave yet
            if not self._frames and time.monotonic() - self.heard_at >= self.stall_s:
                self._fail(f"no audio from the device for {self.stall_s:g} s (unplugged?)")
        return self._frames.popleft()

    def discard(self) -> None:
        """Forget the frames heard but not yet read (a call starts with what is heard from now on)."""
        self._frames.clear()

    def write_frame(self, frame: np.ndarray) -> None:
        """Queue samples at the line rate to be played after those already queued; the port's error once the
        device is gone."""
        if self._failure is not None:
            raise self._failure
        samples = self._up.push(np.asarray(frame, dtype=np.int16)).astype("<i2").tobytes()
        with self._lock:
            self._out += samples
            excess = len(self._out) - self._max_out_bytes
            if excess > 0:
                del self._out[:excess]

    @property
    def pending_bytes(self) -> int:
        """Reply audio queued and not yet played, counted as bytes at the line rate (as the modem's port counts)."""
        return len(self._out) * LINE_RATE_HZ // self.rate_hz

    def close(self) -> None:
        """Stop and let go of the device; closing twice is harmless."""
        if self._closing:
            return
        self._closing = True
        closer = threading.Thread(target=self._close_stream, name="sound-close", daemon=True)
        closer.start()
        closer.join(CLOSE_S)
        if closer.is_alive():  # a driver stuck in a call that cannot be interrupted
            SoundPort.stuck = True
            log.error("line-sound-stuck: %s would not close; restart appliance serve to use it again", self.name)
        else:
            SoundPort.open_ports.discard(self)
        if self.canceller is not None:
            self.canceller.close()
        self._failure = self._failure or self._error(f"{self.name}: closed")
        self._arrived.set()

    def _close_stream(self) -> None:
        try:
            self.stream.abort(ignore_errors=True)
            self.stream.close(ignore_errors=True)
        except Exception as exc:  # a stream that failed may refuse to stop; it is let go all the same
            log.info("closing %s: %s", self.name, exc)

    async def __aenter__(self) -> "SoundPort":
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.close()
