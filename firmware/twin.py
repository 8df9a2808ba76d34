"""The board's twin: its pins and ADCs driven by a simulated exchange, so the firmware runs unchanged.

Twin runs the firmware's own main loop (firmware.main.Firmware) on TwinBoard, in simulated time,
on CPython or MicroPython. Script the line, run, read what the board said:

    twin = Twin("na")
    twin.call(number="5551234567", name="JOHN DOE", cid="mdmf")
    events = twin.run(8)              # [{"ev": "boot", ...}, {"ev": "ring", "n": 1}, {"ev": "cid", ...}]
    twin.send({"cmd": "answer", "id": 1})

firmware.twin_pty runs the same twin in real time on a pseudo-terminal (`python -m firmware.twin`).
"""

import json

from firmware import analog, exchange
from firmware.main import Firmware
from firmware.ring import CADENCES

RING_HZ = {"na": 20, "uk": 25, "etsi": 25}
IDLE_VOLTS = 48.0
OFF_HOOK_VOLTS = 8.0
LOOP_MA = 30.0
CPC_MS = 800             # the exchange opens the loop this long when the far end hangs up
WATCHDOG_MS = 2000       # as board_rp2040
# The exchange's disconnect tone per family: (Hz, on ms, off ms, dBm per tone).
DISCONNECT_TONES = {
    "na": ((480, 620), 500, 500, -24),   # busy
    "uk": ((400,), 375, 375, -20),       # engaged
    "etsi": ((425,), 500, 500, -20),     # busy
}
PRE_RING_MS = 400        # ETSI: the first ring comes 200-500 ms after the caller-ID data


class WatchdogReset(Exception):
    """The twin's watchdog was not fed in time: the board resets."""


class BufferSerial:
    """The USB serial link as two byte buffers (host to board, board to host)."""

    def __init__(self):
        self.to_board = b""
        self.from_board = b""

    def read(self):
        """What the host has sent (the board's side)."""
        data = self.to_board
        self.to_board = b""
        return data

    def write(self, data):
        """What the board sends."""
        self.from_board += data


class TwinLine:
    """The far side of the board's line: what the exchange does to it, in simulated time."""

    def __init__(self, family, noise_rms, seed):
        self.family = family
        self.connected = True
        self.polarity = 1
        self.off_hook = False
        self.caller = None       # "ringing", "talking", or None
        self.loop_open_until = 0
        self.noise_rms = noise_rms
        self._noise = exchange.Noise(seed)
        self._bursts = []        # (start ms, end ms) of ring voltage
        self._clips = []         # (start sample, samples) of audio
        self._actions = []       # (ms, function): what the exchange will do

    def later(self, at_ms, action):
        """Has the exchange do `action()` at `at_ms`."""
        self._actions.append((at_ms, action))
        self._actions.sort(key=lambda item: item[0])

    def advance(self, now_ms):
        """Does what was due by `now_ms`."""
        while self._actions and self._actions[0][0] <= now_ms:
            self._actions.pop(0)[1]()

    def ring_burst(self, start_ms, end_ms):
        """Ring voltage on the line from start to end."""
        self._bursts.append((start_ms, end_ms))

    def play(self, start_ms, samples):
        """Audio on the line from `start_ms`."""
        self._clips.append((start_ms * analog.AUDIO_RATE_HZ // 1000, samples))

    def hook(self, now_ms, off_hook):
        """The board's relay moved: off hook trips the ringing; on hook ends the call's audio."""
        self.off_hook = off_hook
        if off_hook and self.caller == "ringing":
            self.caller = "talking"
            self._bursts = [(s, min(e, now_ms)) for s, e in self._bursts if s < now_ms]
            first = now_ms * analog.AUDIO_RATE_HZ // 1000
            self._clips = [clip for clip in self._clips if clip[0] < first]
        elif not off_hook:
            self.caller = None
            self._clips = []

    def line_volts(self, now_ms):
        """Tip-ring volts: the battery on hook, the loop's drop off hook, nothing with the cable out."""
        if not self.connected or now_ms < self.loop_open_until:
            return 0.0
        return self.polarity * (OFF_HOOK_VOLTS if self.off_hook else IDLE_VOLTS)

    def loop_ma(self, now_ms):
        """Loop current: only off hook, with the cable in and the exchange's battery on."""
        if self.connected and self.off_hook and now_ms >= self.loop_open_until:
            return LOOP_MA
        return 0.0

    def ring_pulses(self, from_ms, to_ms):
        """Optocoupler pulses in from..to: one per half cycle of ringing (a bridge before the LED)."""
        if not self.connected:
            return 0
        period = 1000.0 / (2 * RING_HZ[self.family])
        count = 0
        for start, end in self._bursts:
            low, high = max(from_ms, start), min(to_ms, end)
            if low < high:  # pulses at start + k·period inside low..high
                first = int((low - start + period - 1e-9) / period)
                last = int((high - start - 1e-9) / period)
                count += max(0, last - first + 1)
        return count

    def audio(self, first, count):
        """`count` samples of the line's audio from sample `first`: noise plus whatever plays."""
        block = [self._noise.gauss(self.noise_rms) for _ in range(count)]
        if not self.connected:
            return block
        self._clips = [clip for clip in self._clips if clip[0] + len(clip[1]) > first]
        for start, samples in self._clips:
            low, high = max(first, start), min(first + count, start + len(samples))
            for n in range(low, high):
                block[n - first] += samples[n - start]
        return block


class TwinBoard:
    """The board's pins and ADCs over TwinLine; the methods firmware.main asks a board for."""

    def __init__(self, line, serial):
        self.line = line
        self.serial = serial
        self.sample = 0            # audio samples since the twin started: its clock
        self.relay_closed = False
        self.recording = None      # a list to collect the audio blocks the firmware reads
        self.stall_ms = 0          # the next read_serial hangs this long (a stuck USB link)
        self._fed_ms = 0
        self._pulses_to_ms = 0

    def now_ms(self):
        """Simulated milliseconds."""
        return self.sample * 1000 // analog.AUDIO_RATE_HZ

    def audio_block(self):
        """Advances the clock by one block and returns the ADC counts the line gave in it."""
        first = self.sample
        self.sample += analog.BLOCK_SAMPLES
        self.line.advance(self.now_ms())
        self._check_watchdog()
        block = [analog.clamp(int(analog.AUDIO_MID + x), 0, 4095) for x in self.line.audio(first, analog.BLOCK_SAMPLES)]
        if self.recording is not None:
            self.recording += block
        return block

    def ring_pulses(self):
        """Ring-detect pulses since the last call."""
        now = self.now_ms()
        pulses = self.line.ring_pulses(self._pulses_to_ms, now) if not self.relay_closed else 0
        self._pulses_to_ms = now
        return pulses

    def read_line_adc(self):
        """The line-voltage ADC."""
        return analog.line_count(self.line.line_volts(self.now_ms()))

    def read_loop_adc(self):
        """The loop-current ADC."""
        return analog.loop_count(self.line.loop_ma(self.now_ms()))

    def set_hook_relay(self, closed):
        """The relay: the line sees the hook move."""
        self.relay_closed = closed
        self.line.hook(self.now_ms(), closed)

    def feed_watchdog(self):
        """Feeds the twin's watchdog."""
        self._fed_ms = self.now_ms()

    def read_serial(self):
        """What the host sent; after `stall_ms` of hanging if a stall was asked for."""
        if self.stall_ms:
            self.sample += self.stall_ms * analog.AUDIO_RATE_HZ // 1000
            self.stall_ms = 0
            self._check_watchdog()
        return self.serial.read()

    def write_serial(self, data):
        """What the board sends to the host."""
        self.serial.write(data)

    def _check_watchdog(self):
        """Resets the board (raises WatchdogReset) if the loop has not fed the watchdog in time."""
        if self.now_ms() - self._fed_ms > WATCHDOG_MS:
            raise WatchdogReset()

    def reset(self):
        """What a reset does to the pins: the relay drops; the watchdog starts afresh."""
        self.set_hook_relay(False)
        self._fed_ms = self.now_ms()


class Twin:
    """The board's twin running the firmware, in simulated time, with a script for the line."""

    def __init__(self, cadence="na", noise_rms=3.0, seed=1, serial=None):
        self.cadence = cadence
        self.line = TwinLine(cadence, noise_rms, seed)
        self.serial = serial if serial is not None else BufferSerial()
        self.board = TwinBoard(self.line, self.serial)
        self.resets = 0
        self._boot()

    def _boot(self):
        """Starts the firmware as the board does at power-up or after a reset."""
        self.firmware = Firmware(self.board, self.cadence)
        self.firmware.boot()

    def now_ms(self):
        """Simulated milliseconds since the twin started."""
        return self.board.now_ms()

    def tick(self):
        """One turn of the firmware's loop (25 ms); a watchdog reset reboots the firmware."""
        try:
            self.firmware.tick()
        except WatchdogReset:
            self.resets += 1
            self.board.reset()
            self._boot()

    def run(self, seconds):
        """Runs the firmware for `seconds` of simulated time; returns what the board sent meanwhile."""
        end = self.now_ms() + int(seconds * 1000)
        while self.now_ms() < end:
            self.tick()
        return self.received()

    def send(self, command):
        """A command line to the board: a dict (sent as JSON) or text (sent as it is, plus '\\n')."""
        text = command if isinstance(command, str) else json.dumps(command)
        self.serial.to_board += text.encode() + b"\n"

    def received(self):
        """The JSON objects the board has sent since the last call (BufferSerial only)."""
        lines = self.serial.from_board.split(b"\n")
        self.serial.from_board = lines.pop()
        return [json.loads(line) for line in lines]

    # The script: what happens on the line, from now.

    def call(self, number=None, name=None, cid=None, time="06151230", absent=None, rings=6,
             alert="reversal", corrupt=False, dbm=-13.5):
        """A call rings in, with caller ID sent the way `cid` says, until answered or after `rings` rings.

        cid: "sdmf" or "mdmf" (Bell 202 after the first ring), "v23" (an MDMF-layout message before
        the first ring, after `alert`: "reversal" or "ring-pulse"), "dtmf" (A<number>C before the
        first ring, after a reversal), or None. `absent` ("private" or "out-of-area") sends no number.
        `corrupt` flips a bit of the message's last field so its checksum fails.
        """
        now = self.now_ms()
        self.line.caller = "ringing"
        if cid is None:
            self._ring(now, rings)
            return
        audio = caller_id_audio(cid, number, name, time, absent, corrupt, dbm)
        if cid in ("sdmf", "mdmf"):  # GR-30: from 0.5 s after the first ring ends
            self.line.play(now + CADENCES[self.cadence][0] + 500, audio)
            self._ring(now, rings)
            return
        if cid == "dtmf":
            alert = "reversal"
        data_at = self._alert(now, alert)
        self.line.play(data_at, audio)
        data_end = data_at + len(audio) * 1000 // analog.AUDIO_RATE_HZ
        if alert == "reversal":  # the polarity returns once the data is sent
            line = self.line
            line.later(data_end + 100, lambda: setattr(line, "polarity", 1))
        self._ring(data_end + PRE_RING_MS, rings)

    def _alert(self, now, alert):
        """The ETSI alert before the data: a reversal (with BT's dual-tone alert) or a short ring burst."""
        if alert == "reversal":
            self.line.later(now, lambda: setattr(self.line, "polarity", -1))
            self.line.play(now + 150, exchange.tones((2130, 2750), 100, -20))
            return now + 300
        self.line.ring_burst(now, now + 250)
        return now + 250 + 500

    def _ring(self, start_ms, rings):
        """The cadence `rings` times from `start_ms`, then the caller gives up if nobody answered."""
        cadence = CADENCES[self.cadence]
        at = start_ms
        for _ in range(rings):
            for i in range(0, len(cadence), 2):
                self.line.ring_burst(at, at + cadence[i])
                at += cadence[i] + cadence[i + 1]
        line = self.line
        line.later(at, lambda: setattr(line, "caller", None) if line.caller == "ringing" else None)

    def caller_hangs_up(self, how="loop-drop"):
        """The caller goes: the exchange opens the loop for a moment (CPC), or plays its disconnect tone."""
        now = self.now_ms()
        self.line.caller = None
        if how == "loop-drop":
            self.loop_break(CPC_MS)
        else:
            freqs, on_ms, off_ms, dbm = DISCONNECT_TONES[self.cadence]
            cycle = exchange.tones(freqs, on_ms, dbm) + exchange.silence(off_ms)
            self.line.play(now, cycle * (10000 // (on_ms + off_ms)))

    def loop_break(self, ms):
        """The exchange takes its battery off the line for `ms`: a CPC, or a reversal's blip if short."""
        self.line.loop_open_until = self.now_ms() + ms

    def press(self, digits, on_ms=80, off_ms=80, dbm=-8.0):
        """The caller presses keys."""
        self.line.play(self.now_ms(), exchange.dtmf(digits, on_ms, off_ms, dbm))

    def speak(self, seconds, dbm=-15.0):
        """The caller talks (speech-like sound)."""
        self.line.play(self.now_ms(), exchange.speech_like(int(seconds * 1000), dbm))

    def tone(self, freq_hz, seconds, dbm=-10.0):
        """A single tone on the line (a fax, a whistle)."""
        self.line.play(self.now_ms(), exchange.tones((freq_hz,), int(seconds * 1000), dbm))

    def spike(self, ms):
        """Ring voltage for `ms`: a spike (50 ms) or a short burst (300 ms) that is no ring."""
        now = self.now_ms()
        self.line.ring_burst(now, now + ms)

    def cut_line(self):
        """The phone cable comes out."""
        self.line.connected = False

    def restore_line(self):
        """The phone cable goes back in."""
        self.line.connected = True

    def set_noise(self, rms):
        """Line noise, in ADC counts RMS (3 is a quiet line)."""
        self.line.noise_rms = rms

    def stall(self, ms):
        """The USB link hangs the board's next serial read for `ms` (a stuck loop)."""
        self.board.stall_ms = ms


def caller_id_audio(cid, number=None, name=None, time="06151230", absent=None, corrupt=False, dbm=-13.5,
                    rate_hz=analog.AUDIO_RATE_HZ):
    """The caller-ID audio an exchange sends: "sdmf" or "mdmf" by Bell 202, "v23" (an MDMF-layout message)
    by V.23, or "dtmf" digits; `corrupt` damages the message so its checksum fails."""
    if cid == "dtmf":
        return exchange.dtmf(exchange.dtmf_caller_id(number, absent), dbm=dbm + 5, rate_hz=rate_hz)
    message = exchange.sdmf(time, number, absent) if cid == "sdmf" else exchange.mdmf(time, number, name, absent)
    return exchange.caller_id_burst(_damaged(message, corrupt), "v23" if cid == "v23" else "bell202", dbm, rate_hz)


def _damaged(message, corrupt):
    """The message, or with a bit of its last field flipped (a line hit) if `corrupt`."""
    if not corrupt:
        return message
    return message[:-2] + bytes([message[-2] ^ 0x01]) + message[-1:]


if __name__ == "__main__":
    from firmware.twin_pty import main

    main()
