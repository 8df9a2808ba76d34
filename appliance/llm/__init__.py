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


class Responder(Protocol):
    """Answers chat messages with a Reply, calling `on_text` with each piece of the spoken text."""

    def warm(self, system_prompt: str) -> None: ...

    def respond(self, messages: list[dict], on_text: Callable[[str], None] | None = None) -> ReplyResult: ...
