"""Test callers: speech made with espeak-ng and squeezed through a phone line, and word error counts."""

from __future__ import annotations

import re

from appliance.line.callers import caller_speech as phone_speech
from appliance.line.callers import espeak

__all__ = ["espeak", "phone_speech", "word_errors"]


def word_errors(expected: str, heard: str) -> int:
    """Word-level edit distance, ignoring case and punctuation."""
    a = re.findall(r"[\w']+", expected.lower())
    b = re.findall(r"[\w']+", heard.lower())
    row = list(range(len(b) + 1))
    for i, word in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != other))
    return row[-1]
