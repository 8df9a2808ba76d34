"""The reply model: chat messages in, a JSON Reply out, its spoken text streamed as it is generated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from appliance.llm.reply import Reply


@dataclass(frozen=True)
class ReplyResult:
    """A reply with how it was made: the raw JSON, times from the request, and token counts."""

    reply: Reply
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


class Responder(Protocol):
    """Answers chat messages with a Reply, calling `on_text` with each piece of the spoken text."""

    def warm(self, system_prompt: str) -> None:
        """Evaluate the static system prompt ahead of the first turn, where the backend can."""

    def respond(self, messages: list[dict], on_text: Callable[[str], None] | None = None) -> ReplyResult:
        """Generate one reply to chat messages (system, user, assistant), streaming its spoken text."""
