"""The far end of the modem twin's calls, with no I/O: what the caller says and hears, how each modem family says it.

The simulator carries a call's audio on a second pseudo-terminal, as a SIM7600 carries it on its USB
audio port once AT+CPCMREG=1 (SIMCom's USB audio application note) and a Quectel EC25 on its USB NMEA
port once AT+QPCMV=1,0 (Quectel's Voice over USB application note): 8 kHz 16-bit little-endian mono,
320 bytes every 20 ms each way. `VoiceChannel` is the caller's side of that stream; `Dialect` holds
the few ways the two modem families say the same things.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.audio import LINE_RATE_HZ
from appliance.audio.wav import read_wav
from appliance.line import FRAME_SAMPLES

VOICED = 500  # a frame whose peak is over this (of 32767) has voice in it, not line hiss or μ-law's floor

FRAME_BYTES = FRAME_SAMPLES * 2
KEYS = "0123456789*#ABCD"
DIAL_RESULTS = {"busy": "BUSY", "no-answer": "NO ANSWER", "no-carrier": "NO CARRIER"}  # a dial that fails
# What AT+CEER says of the last call (SIM7500/SIM7600 AT manual 19.2, CS network and internal causes).
RELEASES = {"remote": "Normal call clearing", "local": "Client ended call", "network": "Lower-layer ended call",
            "busy": "User busy", "no-answer": "User alerting, no answer",
            "no-carrier": "Unassigned/unallocated number", "no-service": "No service available"}


@dataclass(frozen=True)
class Dialect:
    """How one modem family identifies itself and speaks of calls, audio, keys and restarts."""

    name: str
    manufacturer: str
    model: str
    revision: str
    boot: tuple[str, ...]  # the lines it says unasked once it has started
    call_urcs: bool  # VOICE CALL: BEGIN / VOICE CALL: END: <time>, and END before the NO CARRIER of a hang-up
    dial_waits: bool  # ATD's final result waits for the call's outcome (OK when answered) instead of coming at once
    audio_command: str  # +CPCMREG or +QPCMV
    keys_command: str  # +DDET or +QTONEDET
    ath_hangs_up: bool  # the factory AT+CVHU: whether ATH ends a voice call before AT+CVHU=0

    def key_urc(self, key: str) -> str:
        """The line that reports a key the caller pressed: `+RXDTMF: 5`, or Quectel's ASCII code `+QTONEDET: 53`."""
        return f"+QTONEDET: {ord(key)}" if self.name == "quectel" else f"+RXDTMF: {key}"


# SIM7500/SIM7600 AT manual V1.12: 3.2 ATD, 3.6 ATA, 3.7 ATH, 4.13 AT+CRESET, 6.1 AT+CVHU, 6.2 AT+CHUP; the
# boot lines and +RXDTMF (after AT+DDET=1) as SIM7600 modules print them; AT+CPCMREG from the USB audio note.
SIM7600 = Dialect("sim7600", "SIMCOM INCORPORATED", "SIMCOM_SIM7600G-H", "LE20B04SIM7600G22",
                  ("RDY", "+CPIN: READY", "SMS DONE", "PB DONE"), call_urcs=True, dial_waits=False,
                  audio_command="+CPCMREG", keys_command="+DDET", ath_hangs_up=False)
# Quectel EC25/EG25 AT manual: ATD answers OK once a voice call is connected, a hang-up by the other side is a
# plain NO CARRIER, AT+QTONEDET=1 reports keys as ASCII codes, AT+CFUN=1,1 restarts; AT+QPCMV from the Voice over
# USB note (port 0: the USB NMEA port).
QUECTEL = Dialect("quectel", "Quectel", "EC25", "EC25EFAR06A06M4G",
                  ("RDY", "+CFUN: 1", "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE"),
                  call_urcs=False, dial_waits=True, audio_command="+QPCMV", keys_command="+QTONEDET",
                  ath_hangs_up=True)
DIALECTS = {dialect.name: dialect for dialect in (SIM7600, QUECTEL)}


def call_time(seconds: float) -> str:
    """A call's connection time as VOICE CALL: END shows it: HHMMSS."""
    whole = max(0, int(seconds))
    return f"{whole // 3600:02d}{whole % 3600 // 60:02d}{whole % 60:02d}"


def pcm_of(voice: np.ndarray | str | Path) -> np.ndarray:
    """8 kHz int16 samples from an array (taken as 8 kHz) or a WAV file (converted to 8 kHz mono)."""
    if isinstance(voice, (str, Path)):
        return read_wav(voice, LINE_RATE_HZ)[0]
    return np.asarray(voice, dtype=np.int16)


class VoiceChannel:
    """The caller's end of the audio stream: frames of what they say out, bytes of what they hear in.

    What the caller says waits until audio flows, then goes out a frame per tick, then silence. What
    the appliance sends is kept as it came, each chunk with the moment it arrived.
    """

    def __init__(self):
        self._script = bytearray()  # little-endian samples still to say
        self.heard_chunks: list[tuple[float, bytes]] = []  # (monotonic seconds, bytes) as they arrived
        self.frames_sent = 0
        self.last_voiced_s: float | None = None  # monotonic time the caller last sent a frame with voice in it

    def say(self, voice: np.ndarray | str | Path) -> None:
        """Queue the caller's voice (an 8 kHz int16 array, or a WAV file) after what is already queued."""
        self._script += pcm_of(voice).astype("<i2").tobytes()

    @property
    def saying(self) -> bool:
        """Whether the caller still has something queued to say."""
        return bool(self._script)

    def next_frame(self) -> bytes:
        """The next 20 ms the caller sends: queued voice, padded with silence."""
        frame = bytes(self._script[:FRAME_BYTES]).ljust(FRAME_BYTES, b"\0")
        del self._script[:FRAME_BYTES]
        self.frames_sent += 1
        if np.abs(np.frombuffer(frame, dtype="<i2")).max() > VOICED:
            self.last_voiced_s = time.monotonic()
        return frame

    def hear(self, data: bytes, at_s: float) -> None:
        """Bytes the appliance sent, arriving at monotonic `at_s`."""
        self.heard_chunks.append((at_s, bytes(data)))

    def heard(self) -> np.ndarray:
        """Everything the appliance sent, as int16 samples (a trailing odd byte waits for its pair)."""
        data = b"".join(chunk for _, chunk in self.heard_chunks)
        return np.frombuffer(data[:len(data) // 2 * 2], dtype="<i2").astype(np.int16)

    def first_voiced_heard_after(self, moment_s: float) -> float | None:
        """Monotonic time of the first chunk with voice in it that the appliance sent after `moment_s`."""
        return next((at for at, data in self.heard_chunks if at > moment_s and len(data) >= 2 and
                     np.abs(np.frombuffer(data[:len(data) // 2 * 2], dtype="<i2")).max() > VOICED), None)

    def forget_heard(self) -> None:
        """Start a new call's recording; what the caller has queued to say stays queued."""
        self.heard_chunks.clear()
        self.frames_sent = 0
