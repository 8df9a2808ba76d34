"""The board's behaviour, free of hardware: pin and ADC readings in, protocol messages and the relay out."""

from firmware import analog, protocol
from firmware.audio import centre
from firmware.callerid import CallerIdError, DtmfCallerId, FskCallerId, parse_dtmf, parse_message
from firmware.dtmf import DtmfDetector
from firmware.fsk import SQUELCH_MEAN_SQUARE
from firmware.hook import Hook
from firmware.ring import CADENCES, RingDetector
from firmware.tones import DisconnectToneDetector
from firmware.voltage import LineVoltage

# Which FSK modem each family's exchanges send caller ID with: Bell 202 after the first ring in North
# America; V.23 before the first ring (after a polarity reversal or a ring-pulse alert) in the UK
# (BT SIN227) and under ETSI EN 300 659. DTMF caller ID is listened for everywhere.
MODEMS = {"na": "bell202", "uk": "v23", "etsi": "v23"}
# Caller ID is listened for this long after the alert or the first ring (it comes within 3 s).
LISTEN_MS = 5000
# How long a caller ID waits for its call's first ring.
CALLER_ID_KEPT_MS = 10000


class LineInterface:
    """Turns readings into events and commands into relay moves; one `step` per block of audio."""

    def __init__(self, family, now_ms):
        self.family = family
        self._booted_ms = now_ms
        self.ring = RingDetector(CADENCES[family])
        self.hook = Hook()
        self.voltage = LineVoltage()
        self.loop_ma = 0.0
        self._listen_until = None   # while caller ID is listened for: when to stop
        self._caller_id_at = None   # when this call's caller ID came
        self._fsk = None
        self._cid_digits = None
        self._cid_dtmf = None
        self._new_call_audio()

    @property
    def relay_closed(self):
        """Whether the hook relay should be closed (off hook)."""
        return self.hook.relay_closed

    def command(self, line, now_ms):
        """The messages one command line from the box gives."""
        try:
            command, command_id = protocol.parse_command(line)
        except protocol.ProtocolError as error:
            return [protocol.failure(error.command_id, str(error))]
        if command == "answer":
            if self.voltage.state == "lost":
                return [protocol.failure(command_id, "no line voltage: is the phone cable plugged in?")]
            return self._hook_messages(self.hook.answer(now_ms, command_id))
        if command == "hangup":
            return self._hook_messages(self.hook.hang_up(now_ms, command_id))
        if command == "status":
            return [protocol.reply(
                command_id,
                ("hook", "off" if self.hook.state in ("off", "going-on") else "on"),
                ("line", self.voltage.state or "unknown"),
                ("volts", round(abs(self.voltage.volts), 1)),
                ("loop_ma", round(self.loop_ma, 1)),
                ("rings", self.ring.rings),
                ("cadence", self.family),
                ("version", protocol.VERSION),
                ("uptime_s", (now_ms - self._booted_ms) // 1000),
            )]
        return [protocol.reply(command_id, ("version", protocol.VERSION))]

    def step(self, now_ms, ring_pulses, line_count, loop_count, raw_audio):
        """The messages of one turn: pulses counted since the last, ADC counts, a block of audio."""
        self.loop_ma = analog.loop_ma(loop_count)
        volts = analog.line_volts(line_count)
        messages = []
        for signal in self.voltage.step(now_ms, volts, self.hook.state == "on"):
            if signal[0] == "line":
                messages.append(protocol.event("line", ("state", signal[1]), ("volts", round(abs(volts), 1))))
            else:
                self._listen(now_ms)
        if self.hook.state == "on":
            messages += self._ring_messages(now_ms, ring_pulses)
        messages += self._hook_messages(self.hook.step(now_ms, self.loop_ma))
        if self._listen_until is not None or self.hook.state == "off":
            messages += self._audio_messages(now_ms, raw_audio)
        self._forget_unrung_caller_id(now_ms)
        return messages

    def _forget_unrung_caller_id(self, now_ms):
        """A caller ID that no ring followed was a call that never rang: the next call gets its own."""
        if self._caller_id_at is not None and self.hook.state == "on" and self.ring.rings == 0 \
                and not self.ring.in_burst and now_ms - self._caller_id_at > CALLER_ID_KEPT_MS:
            self._caller_id_at = None

    def _ring_messages(self, now_ms, pulses):
        """Ring events; a burst ends the listening, the end of an early one starts it."""
        messages = []
        for signal in self.ring.step(now_ms, pulses):
            if signal[0] == "burst-start":
                messages += self._stop_listening(now_ms)
            elif signal[0] == "burst-end":
                if self.ring.rings <= 1:  # before the first ring's end, or just after it
                    self._listen(now_ms)
            elif signal[0] == "ring":
                messages.append(protocol.event("ring", ("n", signal[1])))
            else:
                messages.append(protocol.event("ring-end"))
                self._caller_id_at = None
        return messages

    def _hook_messages(self, signals):
        """Hook events, the replies waiting for them, and hangups."""
        messages = []
        for signal in signals:
            if signal[0] == "hook":
                state, ids = signal[1], signal[2]
                messages.append(protocol.event("hook", ("state", state)))
                messages += [protocol.reply(i, ("hook", state)) for i in ids]
                self._hook_moved(state)
            elif signal[0] == "already":
                messages += [protocol.reply(i, ("hook", signal[1])) for i in signal[2]]
            elif signal[0] == "failed":
                messages += [protocol.failure(i, signal[1]) for i in signal[2]]
            else:
                messages.append(protocol.event("hangup", ("why", signal[1])))
        return messages

    def _hook_moved(self, state):
        """Off hook the call has begun; on hook it has ended: either way a new call's audio starts."""
        self.ring.reset()
        self._listen_until = None
        self._new_call_audio()
        if state == "on":
            self._caller_id_at = None

    def _new_call_audio(self):
        """Fresh detectors for the audio of a call (DTMF from the caller, the exchange's tones)."""
        self._digits = DtmfDetector()
        self._disconnect = DisconnectToneDetector(self.family)

    def _listen(self, now_ms):
        """Starts listening for caller ID, unless this call has had it or it is already listened for."""
        if self._caller_id_at is not None or self._listen_until is not None or self.hook.state != "on":
            return
        self._listen_until = now_ms + LISTEN_MS
        self._fsk = FskCallerId(MODEMS[self.family])
        self._cid_digits = DtmfDetector()
        self._cid_dtmf = DtmfCallerId()

    def _stop_listening(self, now_ms):
        """Stops listening; a message cut off half-way is reported, so no part of it is believed."""
        if self._listen_until is None:
            return []
        self._listen_until = None
        message_type = self._fsk.message_type()
        if message_type is not None:
            return [self._caller_id_error(now_ms, self._fsk_format(message_type), "truncated")]
        return []

    def _audio_messages(self, now_ms, raw_audio):
        """Caller ID while listening; the caller's digits and the exchange's disconnect tone off hook."""
        samples, energy = centre(raw_audio)
        if self.hook.state == "off":
            return self._call_audio_messages(now_ms, samples, energy)
        if now_ms >= self._listen_until:
            return self._stop_listening(now_ms)
        carrier = energy >= SQUELCH_MEAN_SQUARE * len(samples)
        receiving = self._fsk.message_type() is not None
        if carrier or receiving:  # a message may end in the block where the carrier fades
            message = self._fsk.push(samples)
            if message is not None:
                return [self._caller_id(now_ms, self._fsk_format(message[0]), message)]
        if not carrier:
            if receiving:
                return self._stop_listening(now_ms)
            self._fsk.no_carrier()
        digit = self._cid_digits.push(samples, energy)
        digits = self._cid_dtmf.push(digit) if digit else None
        if digits:
            return [self._caller_id(now_ms, "dtmf", digits)]
        return []

    def _call_audio_messages(self, now_ms, samples, energy):
        """DTMF digits and the disconnect tone, off hook."""
        messages = []
        digit = self._digits.push(samples, energy)
        if digit:
            messages.append(protocol.event("dtmf", ("digit", digit)))
        if self._disconnect.push(samples, energy, now_ms):
            messages.append(protocol.event("hangup", ("why", "disconnect-tone")))
            messages += self._hook_messages(self.hook.hang_up(now_ms))
        return messages

    def _fsk_format(self, message_type):
        """The cid event's format: "v23" for V.23, else "sdmf" or "mdmf" by the message type."""
        if MODEMS[self.family] == "v23":
            return "v23"
        return "sdmf" if message_type == 0x04 else "mdmf"

    def _caller_id(self, now_ms, format_name, received):
        """The cid event for a received message or DTMF digit string; an error event if it fails."""
        try:
            fields = parse_dtmf(received) if format_name == "dtmf" else parse_message(received)
        except CallerIdError as error:
            return self._caller_id_error(now_ms, format_name, str(error))
        self._listen_until = None
        self._caller_id_at = now_ms
        pairs = [(key, fields[key]) for key in ("number", "name", "time") if key in fields]
        pairs.append(("format", format_name))
        if "absent" in fields:  # the parsers give it only when there is no number
            pairs.append(("absent", fields["absent"]))
        return protocol.event("cid", *pairs)

    def _caller_id_error(self, now_ms, format_name, code):
        """A cid event that carries no number: the message was damaged (checksum, malformed, truncated)."""
        self._listen_until = None
        self._caller_id_at = now_ms
        return protocol.event("cid", ("format", format_name), ("error", code))
