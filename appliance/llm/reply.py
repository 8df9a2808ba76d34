"""The reply of a turn (its JSON schema and Reply), the part of it the model writes (Answer), and the spoken text
as it streams."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from appliance.errors import ApplianceError

INTENTS = ("greeting", "policy_query", "product_query", "order_status", "send_details_email", "send_details_sms",
           "send_details_whatsapp", "callback_request", "complaint", "speak_to_human", "goodbye", "other")
ACTIONS = ("send_email", "send_sms", "send_whatsapp", "schedule_callback", "lookup_order", "create_ticket",
           "update_ticket", "escalate_to_human", "create_hot_lead", "notify_sales_team")
# The longest value each entity may have, in characters.
ENTITY_CHARS = {"email": 64, "phone": 24, "whatsapp_number": 24, "callback_time": 40, "order_id": 24,
                "details_type": 32, "issue_type": 32, "urgency": 16, "interested_plan": 32}
ENTITY_KEYS = tuple(ENTITY_CHARS)
SPOKEN_CHARS = 240
MISSING_ITEMS = 4
MAX_ACTIONS = 4

# Every string and array is bounded: without bounds a small model can run on until max_tokens. The grammar
# follows the property order, so immediate_response comes first and can be spoken while the rest is generated.
REPLY_SCHEMA = {
    "type": "object",
    "properties": {
        "immediate_response": {"type": "string", "minLength": 1, "maxLength": SPOKEN_CHARS},
        "intent": {"type": "string", "enum": list(INTENTS)},
        "entities": {
            "type": "object",
            "properties": {
                **{key: {"type": "string", "maxLength": chars} for key, chars in ENTITY_CHARS.items()},
                "missing_info": {"type": "array", "items": {"type": "string", "maxLength": 24},
                                 "maxItems": MISSING_ITEMS},
            },
            "additionalProperties": False,
        },
        "needs_clarification": {"type": "boolean"},
        "actions": {"type": "array", "items": {"type": "string", "enum": list(ACTIONS)}, "maxItems": MAX_ACTIONS},
        "used_knowledge": {"type": "boolean"},
        "escalate_to_human": {"type": "boolean"},
    },
    "required": ["immediate_response", "intent", "entities", "needs_clarification", "actions", "used_knowledge",
                 "escalate_to_human"],
    "additionalProperties": False,
}
# What the reply model writes: the spoken answer to a question and whether the passages held it. The intent,
# entities and actions are decided in code (appliance/dialogue), so the model is not asked for them: every
# field it generates is used, and the few tokens after the spoken text cost no time before it is heard.
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {name: REPLY_SCHEMA["properties"][name]
                   for name in ("immediate_response", "used_knowledge", "escalate_to_human")},
    "required": ["immediate_response", "used_knowledge", "escalate_to_human"],
    "additionalProperties": False,
}


def _invalid(message: str) -> ApplianceError:
    return ApplianceError("llm-reply-invalid", message)


@dataclass(frozen=True)
class Answer:
    """The reply model's answer to a question, parsed and checked against ANSWER_SCHEMA."""

    immediate_response: str
    used_knowledge: bool = False
    escalate_to_human: bool = False

    @classmethod
    def from_json(cls, text: str) -> "Answer":
        """Parse and check the model's JSON; anything off the schema is a `llm-reply-invalid` error."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise _invalid(f"not JSON ({exc}): {text[:160]!r}") from None
        if not isinstance(data, dict):
            raise _invalid(f"not a JSON object: {text[:160]!r}")
        unknown = sorted(set(data) - set(ANSWER_SCHEMA["properties"]))
        if unknown:
            raise _invalid(f"unknown keys {unknown}")
        spoken = data.get("immediate_response")
        if not isinstance(spoken, str) or not spoken.strip():
            raise _invalid("immediate_response is missing or empty")
        for flag in ("used_knowledge", "escalate_to_human"):
            if not isinstance(data.get(flag, False), bool):
                raise _invalid(f"{flag} is not true or false: {data[flag]!r}")
        return cls(spoken.strip(), data.get("used_knowledge", False), data.get("escalate_to_human", False))


@dataclass(frozen=True)
class Reply:
    """One turn's reply, as the dialogue decided it and the report and the records show it."""

    immediate_response: str
    intent: str
    entities: dict = field(default_factory=dict)
    needs_clarification: bool = False
    actions: tuple[str, ...] = ()
    used_knowledge: bool = False
    escalate_to_human: bool = False

    def to_dict(self) -> dict:
        """The reply as the JSON object the report and the logs show."""
        return {"immediate_response": self.immediate_response, "intent": self.intent, "entities": self.entities,
                "needs_clarification": self.needs_clarification, "actions": list(self.actions),
                "used_knowledge": self.used_knowledge, "escalate_to_human": self.escalate_to_human}


_KEY = re.compile(r'"immediate_response"\s*:\s*"')
# One piece of a JSON string's body: plain characters, a surrogate pair, an escape, or the closing quote.
_PIECE = re.compile(r'[^"\\]+|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}'
                    r'|\\["\\/bfnrt]|"')
_HIGH_SURROGATE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}$")


def _decode(piece: str) -> str:
    text = json.loads(f'"{piece}"')
    return "\ufffd" if len(text) == 1 and 0xD800 <= ord(text) < 0xE000 else text  # a lone surrogate


class SpokenTextStream:
    """Pulls the `immediate_response` string out of JSON that is still being generated, as it grows."""

    def __init__(self):
        self._pending = ""  # text not yet decoded: before the value starts, or an escape cut in two
        self._started = False
        self.done = False

    def push(self, delta: str) -> str:
        """Add generated text; return the spoken characters it completed, and a space once the value ends."""
        if self.done:
            return ""
        self._pending += delta
        if not self._started:
            found = _KEY.search(self._pending)
            if not found:
                return ""
            self._started = True
            self._pending = self._pending[found.end():]
        out = []
        text, i = self._pending, 0
        while i < len(text):
            match = _PIECE.match(text, i)
            if match is None:
                if len(text) - i < 6:
                    break  # an escape that the next delta completes
                out.append(text[i + 1])  # not a JSON escape: keep the character after the backslash
                i += 2
                continue
            piece = match.group()
            if piece == '"':
                self.done = True
                out.append(" ")  # the end of the spoken text: lets a sentence splitter see its last stop
                i = len(text)
                break
            rest = text[match.end():]
            if _HIGH_SURROGATE.match(piece) and len(rest) < 6 and "\\u".startswith(rest[:2]):
                break  # the low half of a surrogate pair may follow
            out.append(piece if piece[0] != "\\" else _decode(piece))
            i = match.end()
        self._pending = text[i:]
        return "".join(out)
