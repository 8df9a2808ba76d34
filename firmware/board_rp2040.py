"""The board layer on the RP2040 (a Raspberry Pi Pico): pins, ADC by DMA, watchdog, USB serial.

Nothing here has logic of its own; firmware.main describes the methods, firmware.twin.TwinBoard is
this file's twin. Register addresses are from the RP2040 datasheet (sections 2.5, 4.7 and 4.9).
"""

import select
import sys
import time

import machine
import rp2
import uctypes

from firmware import analog
from firmware.main import run

CADENCE = "na"          # the ring cadence and caller-ID family of the line: "na", "uk" or "etsi"

RING_DETECT_PIN = 2     # optocoupler output, pulled up: low while ring voltage is on the line
HOOK_RELAY_PIN = 3      # high energises the relay: off hook
AUDIO_ADC = 0           # GP26: the line's audio from the transformer, biased to 1.65 V
LINE_ADC = 1            # GP27: tip-ring voltage from the isolation amplifier
LOOP_ADC = 2            # GP28: loop current from the second isolation amplifier
ADC_PINS = (26, 27, 28)
WATCHDOG_MS = 2000      # 80 turns of the loop; the RP2040 allows up to 8388 ms

ADC_BASE = 0x4004C000
ADC_CS, ADC_FCS, ADC_FIFO, ADC_DIV = ADC_BASE, ADC_BASE + 0x08, ADC_BASE + 0x0C, ADC_BASE + 0x10
DREQ_ADC = 36
WATCHDOG_CTRL = 0x40058000
WATCHDOG_ENABLE = 1 << 30

# The ADC converts the three inputs in turn (round robin) at 3 × 8 kHz from its 48 MHz clock, and
# one DMA channel writes the results into a ring buffer that it wraps by itself: a late loop loses
# samples but never writes past the buffer.
CHANNELS = 3
RING_BITS = 13                          # 8 KiB: 4096 results, 170 ms
RING_RESULTS = (1 << RING_BITS) // 2
TRANSFERS = 0x7FFFFFFF                  # 24 days of results before the channel is restarted


class Rp2040Board:
    """The line-interface board's hardware, as firmware.main wants it."""

    def __init__(self):
        self._relay = machine.Pin(HOOK_RELAY_PIN, machine.Pin.OUT, value=0)
        self._pulses = 0
        self._ring = machine.Pin(RING_DETECT_PIN, machine.Pin.IN, machine.Pin.PULL_UP)
        self._ring.irq(trigger=machine.Pin.IRQ_FALLING, handler=self._count_pulse)
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._last_ticks = time.ticks_ms()
        self._ms = 0
        self._line_count = 32768
        self._loop_count = 0
        self._start_adc()
        self._start_dma()
        self._watchdog = machine.WDT(timeout=WATCHDOG_MS)

    def _count_pulse(self, pin):
        """Ring-detect IRQ: one pulse per half cycle of ringing."""
        self._pulses += 1

    def _start_adc(self):
        """The ring buffer, and the ADC's pads, clock and FIFO."""
        for pin in ADC_PINS:
            machine.ADC(machine.Pin(pin))  # makes the pads analog inputs
        self._storage = bytearray(2 << RING_BITS)  # twice the ring, so an aligned ring fits in it
        self._ring_address = (uctypes.addressof(self._storage) + (1 << RING_BITS) - 1) & ~((1 << RING_BITS) - 1)
        self._results = uctypes.struct(self._ring_address, {"r": (uctypes.ARRAY | 0, uctypes.UINT16 | RING_RESULTS)}).r
        machine.mem32[ADC_CS] = 0
        machine.mem32[ADC_DIV] = (48000000 // (analog.AUDIO_RATE_HZ * CHANNELS) - 1) << 8
        machine.mem32[ADC_FCS] = (1 << 0) | (1 << 3) | (1 << 24)  # FIFO on, DREQ on, at 1 result
        self._dma = None

    def _start_dma(self):
        """The DMA channel that fills the ring, then round-robin conversions for it."""
        machine.mem32[ADC_CS] = 0
        while not machine.mem32[ADC_FCS] & (1 << 8):  # drain the FIFO, so results start at input 0
            machine.mem32[ADC_FIFO]
        if self._dma is not None:
            self._dma.close()
        self._dma = rp2.DMA()
        ctrl = self._dma.pack_ctrl(size=1, inc_read=False, inc_write=True, ring_size=RING_BITS, ring_sel=True,
                                   treq_sel=DREQ_ADC)
        self._dma.config(read=ADC_FIFO, write=self._ring_address, count=TRANSFERS, ctrl=ctrl, trigger=True)
        self._consumed = 0
        machine.mem32[ADC_CS] = 1 << 0  # on, then wait until it is ready (CS.READY)
        while not machine.mem32[ADC_CS] & (1 << 8):
            pass
        # AINSEL 0 first, then 1 and 2 (RROBIN), converting for ever (START_MANY).
        machine.mem32[ADC_CS] = (0b111 << 16) | (AUDIO_ADC << 12) | (1 << 3) | (1 << 0)

    def now_ms(self):
        """Milliseconds since boot; ticks_ms wraps after 12 days, this does not."""
        ticks = time.ticks_ms()
        self._ms += time.ticks_diff(ticks, self._last_ticks)
        self._last_ticks = ticks
        return self._ms

    def audio_block(self):
        """The next block of audio counts; the line and loop ADCs are averaged over the same block."""
        wanted = analog.BLOCK_SAMPLES * CHANNELS
        while TRANSFERS - self._dma.count - self._consumed < wanted:
            time.sleep_ms(1)
        done = TRANSFERS - self._dma.count
        if done - self._consumed > RING_RESULTS - wanted:  # the loop was late: skip to the newest block
            self._consumed = (done - wanted) // CHANNELS * CHANNELS
        audio = []
        line_sum = 0
        loop_sum = 0
        at = self._consumed % RING_RESULTS
        for i in range(analog.BLOCK_SAMPLES):
            audio.append(self._results[at] & 0xFFF)  # each triple holds inputs 0, 1, 2 in turn
            line_sum += self._results[(at + LINE_ADC) % RING_RESULTS] & 0xFFF
            loop_sum += self._results[(at + LOOP_ADC) % RING_RESULTS] & 0xFFF
            at = (at + CHANNELS) % RING_RESULTS
        self._consumed += wanted
        self._line_count = (line_sum << 4) // analog.BLOCK_SAMPLES  # 12 bits to read_u16's 16
        self._loop_count = (loop_sum << 4) // analog.BLOCK_SAMPLES
        if self._dma.count < 1000000:  # restart the channel a minute before it would stop
            self._start_dma()
        return audio

    def ring_pulses(self):
        """Pulses counted by the IRQ since the last call."""
        state = machine.disable_irq()
        pulses = self._pulses
        self._pulses = 0
        machine.enable_irq(state)
        return pulses

    def read_line_adc(self):
        """The line-voltage ADC over the last block."""
        return self._line_count

    def read_loop_adc(self):
        """The loop-current ADC over the last block."""
        return self._loop_count

    def set_hook_relay(self, closed):
        """Closes (off hook) or opens (on hook) the hook relay."""
        self._relay.value(1 if closed else 0)

    def feed_watchdog(self):
        """Tells the watchdog the loop is alive."""
        self._watchdog.feed()

    def read_serial(self):
        """What the box has sent over USB, up to 256 bytes, without waiting."""
        data = b""
        while len(data) < 256 and self._poll.poll(0):
            data += sys.stdin.buffer.read(1)
        return data

    def write_serial(self, data):
        """Sends bytes to the box, raw (no '\\r' added)."""
        sys.stdout.buffer.write(data)

    def stop_watchdog(self):
        """Disarms the watchdog (MicroPython has no call for it), so a Ctrl-C leaves a usable REPL."""
        machine.mem32[WATCHDOG_CTRL] &= ~WATCHDOG_ENABLE


def main():
    """Runs the firmware; Ctrl-C (mpremote does it) stops it and disarms the watchdog.

    Any other exception ends in the REPL, where nothing feeds the watchdog: the board resets and boots.
    """
    board = Rp2040Board()
    try:
        run(board, CADENCE)
    except KeyboardInterrupt:
        board.stop_watchdog()
        board.set_hook_relay(False)
