"""The reply model: chat messages in, a JSON Reply out, its spoken text streamed as it is generated."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol

from appliance.errors import ApplianceError
from appliance.llm.reply import Answer, SpokenTextStream


@dataclass(frozen=True)
class ReplyResult:
    """An answer with how it was made: the raw JSON, times from the request, and token counts."""

    reply: Answer
    raw: str
    first_token_ms: float
    first_text_ms: float
    total_ms: float
    tokens: int
    prompt_tokens: int = 0
    reused_tokens: int = 0

    @property
    def evaluated_tokens(self) -> int:
        """Prompt tokens evaluated for this reply: those not already in the KV cache."""
        return self.prompt_tokens - self.reused_tokens


class ReplyCollector:
    """Gathers a streamed reply piece by piece: its text, when the first token and spoken text came."""

    def __init__(self, on_text: Callable[[str], None] | None, start: float):
        self.on_text = on_text
        self.start = start
        self.pieces: list[str] = []
        self.first_token_ms: float | None = None
        self.first_text_ms: float | None = None
        self._spoken = SpokenTextStream()
        self.stopped: BaseException | None = None  # what the listener raised to stop the reply (a barge-in)

    def _since_start_ms(self) -> float:
        return (time.perf_counter() - self.start) * 1000

    def add(self, piece: str) -> None:
        """Take one generated piece; pass any new spoken text on."""
        if not piece:
            return
        if self.first_token_ms is None:
            self.first_token_ms = self._since_start_ms()
        self.pieces.append(piece)
        delta = self._spoken.push(piece)
        if delta:
            if self.first_text_ms is None:
                self.first_text_ms = self._since_start_ms()
            if self.on_text:
                try:
                    self.on_text(delta)
                except BaseException as exc:
                    self.stopped = exc  # the listener's own reason, passed on as it is: not a model failure
                    raise

    def result(self, finish: str | None, max_tokens: int, tokens: int | None = None, prompt_tokens: int = 0,
               reused_tokens: int = 0) -> ReplyResult:
        """The finished reply; one cut off by `max_tokens` is an error, not half a JSON object."""
        raw = "".join(self.pieces)
        if finish == "length":
            raise ApplianceError("llm-reply-invalid", f"the reply reached max_tokens={max_tokens} before "
                                 f"its JSON was complete: {raw[:160]!r}")
        total_ms = self._since_start_ms()
        return ReplyResult(Answer.from_json(raw), raw, self.first_token_ms or total_ms,
                           self.first_text_ms or total_ms, total_ms,
                           len(self.pieces) if tokens is None else tokens, prompt_tokens, reused_tokens)


class Responder(Protocol):
    """Answers chat messages with an Answer, calling `on_text` with each piece of the spoken text."""

    def warm(self, system_prompt: str) -> None:
        """Evaluate the static system prompt ahead of the first turn, where the backend can."""

    def respond(self, messages: list[dict], on_text: Callable[[str], None] | None = None) -> ReplyResult:
        """Generate one reply to chat messages (system, user, assistant), streaming its spoken text."""
