"""Test callers: speech made with espeak-ng and squeezed through a phone line, and word error counts."""

from __future__ import annotations

from appliance.bench import word_errors
from appliance.line.callers import caller_speech as phone_speech
from appliance.line.callers import espeak

__all__ = ["espeak", "phone_speech", "word_errors"]
