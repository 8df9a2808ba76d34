"""Test callers: speech made with espeak-ng and squeezed through a phone line, and word error counts."""

from __future__ import annotations

from appliance.bench import word_errors
from appliance.line.callers import caller_speech as phone_speech
from appliance.line.callers import espeak

__all__ = ["espeak", "heard_as", "phone_speech", "word_errors"]


def heard_as(heard: list[str], word: str) -> bool:
    """Whether Whisper's words hold `word`, allowing a slip in about one letter of three.

    The appliance's voice reaches these tests at 8 kHz and Whisper's int8 arithmetic differs between CPUs,
    so one machine hears "refund" and another "reef and"; words run together or split apart, so the letters
    are searched with the spaces taken out. Silence or another sentence still fails.
    """
    text, word = "".join(heard), word.lower()
    previous = [0] * (len(text) + 1)  # a match may start anywhere in the text (Sellers' approximate search)
    for i, letter in enumerate(word, 1):
        current = [i] + [0] * len(text)
        for j, other in enumerate(text, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (letter != other))
        previous = current
    return min(previous) <= len(word) // 3
