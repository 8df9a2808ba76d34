"""Blocks of the line's audio: raw ADC counts in, DC removed, energy measured once for every detector."""

import math


def centre(raw):
    """The block with its mean taken off (the bias drifts a little), and its energy (sum of squares).

    Integers throughout: on the RP2040 both stay under 2**30 for 200 samples of 12 bits, so nothing
    here allocates.
    """
    mean = sum(raw) // len(raw)
    samples = [x - mean for x in raw]
    return samples, sum(x * x for x in samples)


def goertzel_coefficient(freq_hz, rate_hz):
    """The Goertzel filter's coefficient for `freq_hz`."""
    return 2 * math.cos(2 * math.pi * freq_hz / rate_hz)


def goertzel_power(samples, coefficient):
    """|X(f)|² of the block at the filter's frequency: (A·N/2)² for a sine of amplitude A."""
    s1 = 0.0
    s2 = 0.0
    for x in samples:
        s0 = x + coefficient * s1 - s2
        s2 = s1
        s1 = s0
    return s1 * s1 + s2 * s2 - coefficient * s1 * s2


def share(power, energy, count):
    """The fraction of a block's energy that one Goertzel `power` holds: 1.0 for a pure sine."""
    return 2 * power / (count * energy) if energy else 0.0


def min_power(amplitude, count):
    """The Goertzel power of a sine of peak `amplitude` over `count` samples."""
    return (amplitude * count / 2) ** 2
