"""Cuts a stream of text deltas into sentences, so speech can start before the reply is complete.

A sentence ends at `.`, `!` or `?` followed by whitespace. A full stop after a known abbreviation
("Dr.", "e.g.") or a single letter (an initial) does not end one; a full stop inside a number, an
email address or a web address has no whitespace after it, so it never does. To start speaking early,
the first sentence is also cut at a comma once it is `first_clause_chars` long, and any sentence at a
comma once it passes `max_chars`.
"""

from __future__ import annotations

import re

ABBREVIATIONS = {"dr", "mr", "mrs", "ms", "st", "no", "vs", "etc", "e.g", "i.e", "approx", "inc", "ltd", "jr", "sr"}
_END = re.compile(r"[.!?]+[\"')\]]*\s")
_COMMA = re.compile(r"[,;:]\s")


def _is_abbreviation(text: str, dot: int) -> bool:
    word = re.search(r"([\w.]+)$", text[:dot])
    if not word:
        return False
    token = word.group(1).lower()
    return token in ABBREVIATIONS or (len(token) == 1 and token.isalpha())


class SentenceSplitter:
    """`push` text deltas in, get complete sentences out; `flush` returns whatever is left."""

    def __init__(self, first_clause_chars: int = 40, max_chars: int = 160):
        self.first_clause_chars = first_clause_chars
        self.max_chars = max_chars
        self._buffer = ""
        self._emitted = 0

    def push(self, delta: str) -> list[str]:
        """Add text; return the sentences it completed."""
        self._buffer += delta
        sentences = []
        while (cut := self._cut()) is not None:
            sentence, self._buffer = self._buffer[:cut].strip(), self._buffer[cut:]
            if sentence:
                sentences.append(sentence)
                self._emitted += 1
        return sentences

    def flush(self) -> list[str]:
        """The rest of the text, once the stream has ended."""
        rest, self._buffer = self._buffer.strip(), ""
        return [rest] if rest else []

    def _cut(self) -> int | None:
        # The earliest cut wins, so text pushed character by character splits as it does in one piece.
        cuts = []
        for match in _END.finditer(self._buffer):
            dot = match.start()
            if self._buffer[dot] == "." and _is_abbreviation(self._buffer, dot):
                continue
            cuts.append(match.end())
            break
        limit = min(self.first_clause_chars, self.max_chars) if self._emitted == 0 else self.max_chars
        for match in _COMMA.finditer(self._buffer):
            if match.start() >= limit:
                cuts.append(match.end())
                break
        return min(cuts) if cuts else None
