"""One call's conversation: what was said so far, the caller's details, and the reply to each turn."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from appliance.dialogue import entities
from appliance.dialogue.prompt import messages
from appliance.llm.reply import Reply

HISTORY_TURNS = 4
CLOSING = re.compile(r"\b(that'?s all|that is all|bye|goodbye|no,? thank(s| you)|that'?s fine|nothing else)\b", re.I)
REQUEST = re.compile(r"\b(send|call|book|schedule|connect|email|sms|text|whatsapp|order|how|what|when|where|why|can|do)\b",
                     re.I)


@dataclass
class TurnReply:
    """The reply to one caller turn, with the passages it drew on and its stage times."""

    reply: Reply
    passages: list = field(default_factory=list)
    stages_ms: dict = field(default_factory=dict)
    ends_call: bool = False


class Conversation:
    """Holds one call's history and details; answers each turn from the knowledge and the reply model."""

    def __init__(self, company: str, index, responder, now: Callable[[], datetime], country_code: str = "+91",
                 top_k: int = 3, min_score: float = 0.35, caller_id: str | None = None):
        self.company = company
        self.index = index
        self.responder = responder
        self.now = now
        self.country_code = country_code
        self.top_k = top_k
        self.min_score = min_score
        self.caller_id = caller_id
        self.history: list[dict] = []
        self.slots: dict = {}
        self._when = entities.When()

    def greeting(self) -> str:
        """The proactive greeting, with the company's name."""
        return f"Hello, thank you for calling {self.company}. How can I help you today?"

    def reprompt(self, count: int) -> str:
        """What to say when the caller has gone quiet."""
        if count == 1:
            return "Are you still there? How can I help you?"
        return "I can't hear anything. If you need help, please say so now."

    def goodbye(self) -> str:
        """The polite goodbye before the appliance hangs up."""
        return f"Thank you for calling {self.company}. Have a great day. Goodbye!"

    def read_entities(self, heard: str) -> dict:
        """Details that code reads from the caller's words, merged into the call's slots."""
        found = {}
        phone = entities.to_e164(heard, self.country_code)
        if phone:
            found["phone"] = phone
        email = entities.find_email(heard)
        if email:
            found["email"] = email
        order_id = entities.find_order_id(heard)
        if order_id:
            found["order_id"] = order_id
        now = self.now()
        when = entities.parse_when(heard, now)
        if when.day or when.at:
            self._when = when.merged(self._when)
            moment = self._when.resolve(now)
            if moment:
                found["callback_time"] = moment.isoformat()
        self.slots.update(found)
        return found

    def reply(self, heard: str, on_text: Callable[[str], None] | None = None) -> TurnReply:
        """Answer one caller turn; the spoken text streams to `on_text` as it is generated."""
        stages: dict[str, float] = {}
        found = self.read_entities(heard)
        if CLOSING.search(heard) and not (REQUEST.search(CLOSING.sub("", heard)) and len(heard.split()) > 6):
            reply = Reply(self.goodbye(), "goodbye")
            if on_text:
                on_text(reply.immediate_response + " ")
            return TurnReply(reply, [], stages, ends_call=True)
        start = time.perf_counter()
        passages = self.index.search(heard, k=self.top_k, min_score=self.min_score)
        stages["retrieval"] = (time.perf_counter() - start) * 1000
        result = self.responder.respond(messages(self.company, heard, passages, self.history), on_text=on_text)
        stages["llm_first_token"] = result.first_token_ms
        stages["llm_total"] = result.total_ms
        reply = result.reply
        merged = {**reply.entities, **found}
        reply = Reply(reply.immediate_response, reply.intent, merged, reply.needs_clarification, reply.actions,
                      reply.used_knowledge and bool(passages), reply.escalate_to_human)
        self.history += [{"role": "user", "content": f"Caller: {heard}"},
                         {"role": "assistant", "content": reply.immediate_response}]
        self.history = self.history[-2 * HISTORY_TURNS:]
        return TurnReply(reply, passages, stages, ends_call=reply.intent == "goodbye")
