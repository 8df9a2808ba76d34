"""Cuts a stream of text deltas into sentences, so speech can start before the whole reply exists.

Boundaries are taken in order along the text; the first one that qualifies is the cut:

* `!` or `?` (repeated or not, maybe followed by a closing quote or bracket) then whitespace ends a sentence.
* `.`, `...` or `…` then whitespace ends a sentence unless the next word starts with a lowercase letter
  or a digit ("9 a.m. on Monday", "No. 5", "Hmm... ok" go on), so a full stop waits for the first
  character of the next word (LLM tokens bring the space and that character together, so this costs
  next to nothing). After a title or Latin abbreviation (`Dr.`, `Mr.`, `e.g.`, `vs.`), a single letter
  (an initial: "J. R. Smith") or a bare list number ("1. Bring the receipt") it never ends one.
  A dot with no whitespace after it (2.5, 10.30, user@example.com, www.example.com/help) is no boundary.
* A line break ends a sentence (list items, paragraphs).
* `,` `;` `:` then whitespace end a clause, not a sentence: the first sentence of a reply is cut at the
  first of them `first_clause_chars` or more into it, to shorten the time to first audio; a later
  sentence at the first one `max_chars` or more into it, so a run-on sentence cannot hold speech back.

Text with no letter or digit in it never ends a sentence of its own, but nothing is dropped: the sentences
joined with spaces are the text, whitespace aside. Every decision depends only on the text up to the
character that settles it, so text pushed character by character splits exactly as it does in one piece.
"""

from __future__ import annotations

import re

NEVER_END = {"dr", "mr", "mrs", "ms", "prof", "st", "mt", "vs", "cf", "e.g", "i.e"}
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)|[,;:](?=\s)|\n")
_OPENERS = "\"'“‘(["


def _has_words(text: str) -> bool:
    return any(char.isalnum() for char in text)


_BULLET = re.compile(r"(^|\s)[-*•](?=\s|$)")
_MARKS = re.compile(r"[*_`#]+")


def speakable(sentence: str) -> str | None:
    """A sentence as it should be said: list bullets and Markdown marks gone; None if no words are left."""
    text = " ".join(_MARKS.sub("", _BULLET.sub(" ", sentence)).split())
    return text if _has_words(text) else None


class SentenceSplitter:
    """`push` the deltas of one reply, get complete sentences back; `flush` at the end returns the rest."""

    def __init__(self, first_clause_chars: int = 30, max_chars: int = 120):
        self.first_clause_chars = first_clause_chars
        self.max_chars = max_chars
        self._buffer = ""
        self._first = True

    def push(self, text_delta: str) -> list[str]:
        """Add text; return the sentences it completed, in order."""
        self._buffer = (self._buffer + text_delta).lstrip()
        sentences = []
        while (cut := self._next_cut()) is not None:
            sentences.append(self._buffer[:cut].strip())
            self._buffer = self._buffer[cut:].lstrip()
            self._first = False
        return sentences

    def flush(self) -> list[str]:
        """The rest of the reply, once it has ended; the splitter is then ready for a new reply."""
        rest, self._buffer, self._first = self._buffer.strip(), "", True
        return [rest] if rest else []

    def _next_cut(self) -> int | None:
        limit = self.first_clause_chars if self._first else self.max_chars
        for match in _BOUNDARY.finditer(self._buffer):
            mark = match.group()
            if not _has_words(self._buffer[:match.start()]):
                continue
            if mark == "\n" or "!" in mark or "?" in mark:
                return match.end()
            if mark in ",;:":
                if match.start() >= limit:
                    return match.end()
                continue
            ends = self._stop_ends(match.start(), match.end())
            if ends is None:
                return None  # wait for the next word
            if ends:
                return match.end()
        return None

    def _stop_ends(self, start: int, end: int) -> bool | None:
        """Whether the full stop (or ellipsis) at `start` ends a sentence; None until the next word shows."""
        before = self._buffer[:start]
        word = before.rsplit(None, 1)[-1].lstrip(_OPENERS).lower()
        if word in NEVER_END or (len(word) == 1 and word.isalpha()):
            return False
        if word.isdigit() and before.strip() == word:  # "1." opening a list item
            return False
        rest = self._buffer[end:]
        gap = len(rest) - len(rest.lstrip())
        if "\n" in rest[:gap]:
            return True
        if gap == len(rest):
            return None
        following = rest[gap]
        return not (following.islower() or following.isdigit())
