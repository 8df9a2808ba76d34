"""The analog front end's scales: what the ADC counts mean on the line, fixed by the board's parts."""

# The line's audio: sampled at 8 kHz (the telephone band), handled in blocks of 25 ms; one block is
# one turn of the main loop.
AUDIO_RATE_HZ = 8000
BLOCK_SAMPLES = 200
BLOCK_MS = 25

# The audio transformer's secondary is biased to mid-rail: silence reads 2048 of the 12-bit ADC, and
# 0 dBm on the line (0.775 V rms across 600 ohm) peaks at 1365 counts, so +3 dBm still fits.
AUDIO_MID = 2048
AUDIO_0DBM_PEAK = 1365.0

# Tip-ring voltage through the isolation amplifier: 1.65 V (the middle of read_u16's 0..65535) is
# 0 V, and the ends are -150 V and +150 V, so ringing peaks and both polarities fit.
LINE_VOLTS_FULL_SCALE = 150.0
# Loop current through a sense resistor and the second isolation amplifier (after the bridge, so
# always positive): 0..65535 is 0..120 mA.
LOOP_MA_FULL_SCALE = 120.0


def line_volts(count):
    """Tip-ring volts (signed: the exchange can reverse the polarity) from a read_u16 count."""
    return (count - 32768) * LINE_VOLTS_FULL_SCALE / 32768


def loop_ma(count):
    """Loop current in mA from a read_u16 count."""
    return count * LOOP_MA_FULL_SCALE / 65536


def line_count(volts):
    """The read_u16 count that `volts` across tip-ring gives (the twin's ADC)."""
    return clamp(int(32768 + volts * 32768 / LINE_VOLTS_FULL_SCALE), 0, 65535)


def loop_count(milliamps):
    """The read_u16 count that a loop current of `milliamps` gives (the twin's ADC)."""
    return clamp(int(milliamps * 65536 / LOOP_MA_FULL_SCALE), 0, 65535)


def dbm_peak(dbm):
    """The peak ADC count of a sine at `dbm` on the line."""
    return AUDIO_0DBM_PEAK * 10 ** (dbm / 20)


def clamp(value, low, high):
    """`value` limited to low..high, as an ADC saturates."""
    return low if value < low else high if value > high else value
