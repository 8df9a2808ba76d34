"""G.711 μ-law and A-law, as ITU-T G.711 defines them, through 64 Ki-entry lookup tables."""

from __future__ import annotations

import numpy as np

_ULAW_SEGMENT_ENDS = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_ALAW_SEGMENT_ENDS = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _segment(value: int, ends: tuple[int, ...]) -> int:
    return next((i for i, end in enumerate(ends) if value <= end), len(ends))


def _ulaw_byte(sample: int) -> int:
    value = sample >> 2  # G.711 μ-law works on 14-bit magnitudes
    mask = 0xFF
    if value < 0:
        value, mask = -value, 0x7F
    value = min(value, 8159) + 0x21
    segment = _segment(value, _ULAW_SEGMENT_ENDS)
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


def _ulaw_sample(byte: int) -> int:
    byte = ~byte & 0xFF
    magnitude = (((byte & 0x0F) << 3) + 0x84) << ((byte & 0x70) >> 4)
    return 0x84 - magnitude if byte & 0x80 else magnitude - 0x84


def _alaw_byte(sample: int) -> int:
    value = sample >> 3  # A-law works on 13-bit magnitudes
    if value >= 0:
        mask = 0xD5
    else:
        mask, value = 0x55, -value - 1
    segment = _segment(value, _ALAW_SEGMENT_ENDS)
    if segment >= 8:
        return 0x7F ^ mask
    shift = 1 if segment < 2 else segment
    return ((segment << 4) | ((value >> shift) & 0x0F)) ^ mask


def _alaw_sample(byte: int) -> int:
    byte ^= 0x55
    magnitude = (byte & 0x0F) << 4
    segment = (byte & 0x70) >> 4
    if segment == 0:
        magnitude += 8
    else:
        magnitude = (magnitude + 0x108) << (segment - 1)
    return magnitude if byte & 0x80 else -magnitude


_SAMPLES = range(-32768, 32768)
_ULAW_ENCODE = np.array([_ulaw_byte(s) for s in _SAMPLES], dtype=np.uint8)
_ALAW_ENCODE = np.array([_alaw_byte(s) for s in _SAMPLES], dtype=np.uint8)
_ULAW_DECODE = np.array([_ulaw_sample(b) for b in range(256)], dtype=np.int16)
_ALAW_DECODE = np.array([_alaw_sample(b) for b in range(256)], dtype=np.int16)


def ulaw_encode(pcm: np.ndarray) -> bytes:
    """16-bit PCM samples to μ-law bytes."""
    return _ULAW_ENCODE[np.asarray(pcm, dtype=np.int16).astype(np.int32) + 32768].tobytes()


def ulaw_decode(data: bytes) -> np.ndarray:
    """μ-law bytes to 16-bit PCM samples."""
    return _ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def alaw_encode(pcm: np.ndarray) -> bytes:
    """16-bit PCM samples to A-law bytes."""
    return _ALAW_ENCODE[np.asarray(pcm, dtype=np.int16).astype(np.int32) + 32768].tobytes()


def alaw_decode(data: bytes) -> np.ndarray:
    """A-law bytes to 16-bit PCM samples."""
    return _ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def telephone(pcm: np.ndarray) -> np.ndarray:
    """What 8 kHz PCM sounds like after a trip through a μ-law line."""
    return ulaw_decode(ulaw_encode(pcm))
