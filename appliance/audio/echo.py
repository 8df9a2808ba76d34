"""The appliance's own voice coming back on a sound-device line: cancelled, then gated, and measured.

A phone line interface's 2-wire hybrid returns part of what the appliance says; a speakerphone returns it through
the air. Left alone, the caller's side carries the appliance's voice, the VAD hears "the caller", and every reply
barges itself in. Two stages, on the line's 20 ms frames at 8 kHz, with what was played as the reference:

- `EchoCanceller`: Speex's adaptive filter (Debian's libspeexdsp, through ctypes) learns the echo path from the
  reference and subtracts the echo. It needs seconds of speech to converge, and re-learns a path that changes.
- `EchoGate`: while the appliance speaks, a frame passes only when it is clearly louder than the echo expected of
  what was just played (the measured coupling times the reference's level, plus a margin); else it is silence.
  Until it has measured the coupling it assumes the worst (echo as loud as the voice), so the first reply, before
  the canceller has converged, cannot interrupt itself either. A canceller that adds energy instead of taking it
  away has lost the echo path (the device's delay jumped after an overrun, the line changed): until it takes echo
  away again, the gate judges the input before cancelling against the echo path's own loss.

`EchoGate` also adds up the measurement: echo return loss (ERL, how much quieter the echo comes back than what was
played) and the canceller's echo return loss enhancement (ERLE, how much of the echo it removed).
"""

from __future__ import annotations

import ctypes
import logging
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from appliance.audio import FRAME_MS, LINE_RATE_HZ

log = logging.getLogger(__name__)

TAIL_MS = 300  # the longest echo delay covered: the device's buffers both ways plus the hybrid or the room
PLAYING_RMS = 100.0  # a reference quieter than this (-50 dBFS) is the appliance saying nothing: no gating
WORST_COUPLING = 1.0  # before a second of echo is measured, echo is assumed as loud as what was played (0 dB)
MEASURED_FRAMES = 1000 // FRAME_MS
WINDOW = 1 - FRAME_MS / 2000  # the echo's level is measured over about the last 2 s of it
# A caller is heard over the appliance when louder than the echo's ceiling (its measured level times the loudest
# frame played within the tail) by 6 dB before cancelling, or by 12 dB after it: what the canceller leaves comes in
# bursts (at each onset it learns again), the echo path's own loss does not.
PATH_MARGIN, LEFT_MARGIN = 2.0, 4.0
SPEEX_ECHO_SET_SAMPLING_RATE = 24  # speex/speex_echo.h
LIBRARY = "libspeexdsp.so.1"  # Debian's libspeexdsp1
DISTRUST_FRAMES = 25  # a canceller that added energy is not trusted again before 500 ms of it taking echo away


def rms(frame: np.ndarray) -> float:
    """Root mean square of int16 samples."""
    return float(np.sqrt(np.mean(np.square(frame, dtype=np.float64)))) if len(frame) else 0.0


def db(ratio: float) -> float:
    """A power ratio in decibels."""
    return 10 * math.log10(ratio) if ratio > 0 else float("inf")


class EchoCanceller:
    """Speex's acoustic echo canceller on 20 ms line frames; `cancel(mic, played)` is the mic less the echo."""

    def __init__(self, rate_hz: int = LINE_RATE_HZ, tail_ms: int = TAIL_MS):
        try:
            lib = ctypes.CDLL(LIBRARY)
        except OSError as exc:
            raise OSError(f"{LIBRARY} cannot be loaded ({exc}): apt-get install libspeexdsp1") from None
        lib.speex_echo_state_init.restype = ctypes.c_void_p
        lib.speex_echo_state_init.argtypes = [ctypes.c_int, ctypes.c_int]
        samples = ctypes.POINTER(ctypes.c_int16)
        lib.speex_echo_cancellation.restype = None
        lib.speex_echo_cancellation.argtypes = [ctypes.c_void_p, samples, samples, samples]
        lib.speex_echo_ctl.restype = ctypes.c_int
        lib.speex_echo_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        lib.speex_echo_state_destroy.restype = None
        lib.speex_echo_state_destroy.argtypes = [ctypes.c_void_p]
        self.frame_samples = rate_hz * FRAME_MS // 1000
        self._lib = lib
        self._state = lib.speex_echo_state_init(self.frame_samples, rate_hz * tail_ms // 1000)
        if not self._state:
            raise OSError("speex_echo_state_init failed")
        rate = ctypes.c_int(rate_hz)
        lib.speex_echo_ctl(self._state, SPEEX_ECHO_SET_SAMPLING_RATE, ctypes.byref(rate))

    def cancel(self, mic: np.ndarray, played: np.ndarray) -> np.ndarray:
        """One frame of the mic with the echo of `played` (the frame sent at the same tick) taken out."""
        mic = np.ascontiguousarray(mic, dtype=np.int16)[:self.frame_samples]
        played = np.ascontiguousarray(played, dtype=np.int16)[:self.frame_samples]
        if len(mic) < self.frame_samples or len(played) < self.frame_samples:
            mic = np.pad(mic, (0, self.frame_samples - len(mic)))
            played = np.pad(played, (0, self.frame_samples - len(played)))
        out = np.empty(self.frame_samples, np.int16)
        pointer = ctypes.POINTER(ctypes.c_int16)
        self._lib.speex_echo_cancellation(self._state, mic.ctypes.data_as(pointer), played.ctypes.data_as(pointer),
                                          out.ctypes.data_as(pointer))
        return out

    def close(self) -> None:
        if self._state:
            self._lib.speex_echo_state_destroy(self._state)
            self._state = None


def open_canceller() -> tuple[EchoCanceller | None, str]:
    """The canceller, or None and why not (the gate alone then keeps the echo out, at the cost of barge-in)."""
    try:
        return EchoCanceller(), ""
    except OSError as exc:
        log.warning("line-echo-canceller-missing: %s; the echo is only gated", exc)
        return None, str(exc)


@dataclass(frozen=True)
class EchoReport:
    """What the echo measurement shows so far, in dB; None until enough of the appliance's voice came back."""

    erl_db: float | None  # echo return loss: played level over the echo's level at the input
    erle_db: float | None  # echo return loss enhancement: the echo's level over what the canceller left
    coupling_db: float  # what the canceller leaves of the echo now, relative to what was played


class EchoGate:
    """Silences the echo of what the appliance plays; a caller clearly louder than that echo passes (barge-in)."""

    def __init__(self, tail_ms: int = TAIL_MS):
        self._played: deque[float] = deque(maxlen=max(1, tail_ms // FRAME_MS))
        self._window = {"played": 0.0, "mic": 0.0, "left": 0.0}  # echo energies over the last seconds
        self._total = dict(self._window)  # ...and since the line opened, for the report
        self.distrust = 0  # frames before the canceller is trusted again
        self.echo_frames = 0
        self.passed_frames = 0  # frames heard over the appliance's voice (the caller barging in)

    def coupling(self, name: str) -> float:
        """The echo's level ("mic": before cancelling, "left": after) relative to what was played."""
        if self.echo_frames < MEASURED_FRAMES or not self._window["played"]:
            return WORST_COUPLING
        return min(WORST_COUPLING, math.sqrt(self._window[name] / self._window["played"]))

    def frame(self, mic: np.ndarray, played: np.ndarray, left: np.ndarray) -> np.ndarray:
        """What the caller said in this frame: `left` (the mic after cancelling) or silence when it is only echo.
        `mic` is the input before cancelling, `played` the frame sent at the same tick."""
        now = rms(played)
        self._played.append(now)
        reference = max(self._played)
        if reference < PLAYING_RMS:
            return left
        level, raw = rms(left), rms(mic)
        # The canceller added 2 dB to what is a good part of the echo (not to the quiet between syllables, where any
        # estimate adds): it lost the path, and what it leaves means nothing now.
        if level > raw * 1.25 and level > self.coupling("mic") * reference / 2:
            if not self.distrust:
                self._window["left"] = self._window["mic"]  # as good as no canceller, until it shows otherwise
            self.distrust = DISTRUST_FRAMES
        elif self.distrust:
            self.distrust -= 1
        if raw > PATH_MARGIN * self.coupling("mic") * reference or (
                not self.distrust and level > LEFT_MARGIN * self.coupling("left") * reference):
            self.passed_frames += 1
            return left if not self.distrust else mic
        self.echo_frames += 1
        for name, value in (("played", now), ("mic", raw), ("left", level)):
            self._window[name] = self._window[name] * WINDOW + value ** 2
            self._total[name] += value ** 2
        return np.zeros_like(left)

    def report(self) -> EchoReport:
        """The echo as measured on the frames that were only echo, since the line opened."""
        played, mic, left = self._total["played"], self._total["mic"], self._total["left"]
        enough = self.echo_frames >= MEASURED_FRAMES  # a second of the appliance's voice coming back
        return EchoReport(round(db(played / mic), 1) if enough and mic else None,
                          round(db(mic / left), 1) if enough and left else None,
                          round(20 * math.log10(self.coupling("left")), 1))
