"""The reply the model must produce: its JSON schema, the parsed Reply, and the spoken text as it streams."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from appliance.errors import ApplianceError

INTENTS = ("greeting", "policy_query", "product_query", "order_status", "send_details_email", "send_details_sms",
           "send_details_whatsapp", "callback_request", "complaint", "speak_to_human", "goodbye", "other")
ACTIONS = ("send_email", "send_sms", "send_whatsapp", "schedule_callback", "lookup_order", "create_ticket",
           "update_ticket", "escalate_to_human", "create_hot_lead", "notify_sales_team")
ENTITY_KEYS = ("email", "phone", "whatsapp_number", "callback_time", "order_id", "details_type", "issue_type",
               "urgency", "interested_plan")

# Every string and array is bounded: without bounds a small model can run on until max_tokens.
_ENTITY = {"type": "string", "maxLength": 60}
REPLY_SCHEMA = {
    "type": "object",
    "properties": {
        "immediate_response": {"type": "string", "minLength": 1, "maxLength": 240},
        "intent": {"type": "string", "enum": list(INTENTS)},
        "entities": {
            "type": "object",
            "properties": {**{key: _ENTITY for key in ENTITY_KEYS},
                           "missing_info": {"type": "array", "items": {"type": "string", "maxLength": 32},
                                            "maxItems": 4}},
            "additionalProperties": False,
        },
        "needs_clarification": {"type": "boolean"},
        "actions": {"type": "array", "items": {"type": "string", "enum": list(ACTIONS)}, "maxItems": 4},
        "used_knowledge": {"type": "boolean"},
        "escalate_to_human": {"type": "boolean"},
    },
    "required": ["immediate_response", "intent", "entities", "needs_clarification", "actions", "used_knowledge",
                 "escalate_to_human"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Reply:
    """One parsed, checked reply from the model."""

    immediate_response: str
    intent: str
    entities: dict = field(default_factory=dict)
    needs_clarification: bool = False
    actions: tuple[str, ...] = ()
    used_knowledge: bool = False
    escalate_to_human: bool = False

    @classmethod
    def from_json(cls, text: str) -> "Reply":
        """Parse and check the model's JSON; anything off the schema is a `llm-reply-invalid` error."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ApplianceError("llm-reply-invalid", f"not JSON ({exc}): {text[:120]!r}") from None
        if not isinstance(data, dict):
            raise ApplianceError("llm-reply-invalid", f"not a JSON object: {text[:120]!r}")
        spoken = data.get("immediate_response")
        if not isinstance(spoken, str) or not spoken.strip():
            raise ApplianceError("llm-reply-invalid", "immediate_response is missing or empty")
        intent = data.get("intent", "other")
        if intent not in INTENTS:
            raise ApplianceError("llm-reply-invalid", f"intent {intent!r} is not one of {', '.join(INTENTS)}")
        actions = data.get("actions") or []
        unknown = [a for a in actions if a not in ACTIONS] if isinstance(actions, list) else [actions]
        if unknown:
            raise ApplianceError("llm-reply-invalid", f"unknown actions {unknown}")
        entities = data.get("entities") or {}
        if not isinstance(entities, dict):
            raise ApplianceError("llm-reply-invalid", f"entities is not an object: {entities!r}")
        entities = {key: value for key, value in entities.items() if value not in ("", None, [])}
        return cls(spoken.strip(), intent, entities, bool(data.get("needs_clarification", False)),
                   tuple(dict.fromkeys(actions)), bool(data.get("used_knowledge", False)),
                   bool(data.get("escalate_to_human", False)))

    def to_dict(self) -> dict:
        """The reply as the JSON object the report and the logs show."""
        return {"immediate_response": self.immediate_response, "intent": self.intent, "entities": self.entities,
                "needs_clarification": self.needs_clarification, "actions": list(self.actions),
                "used_knowledge": self.used_knowledge, "escalate_to_human": self.escalate_to_human}


_KEY = re.compile(r'"immediate_response"\s*:\s*"')
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "", "f": "", "n": " ", "r": " ", "t": " "}


class SpokenTextStream:
    """Pulls the `immediate_response` string out of JSON that is still being generated, as it grows."""

    def __init__(self):
        self._text = ""
        self._position: int | None = None
        self.done = False

    def push(self, delta: str) -> str:
        """Add generated text; return the characters of the spoken reply it completed (a space at its end)."""
        self._text += delta
        if self.done:
            return ""
        if self._position is None:
            found = _KEY.search(self._text)
            if not found:
                return ""
            self._position = found.end()
        out = []
        text, i = self._text, self._position
        while i < len(text):
            char = text[i]
            if char == '"':
                self.done = True
                out.append(" ")  # the end of the spoken text: lets a sentence splitter see its last stop
                i += 1
                break
            if char != "\\":
                out.append(char)
                i += 1
                continue
            if i + 1 >= len(text):
                break  # the escape continues in the next delta
            code = text[i + 1]
            if code == "u":
                if i + 6 > len(text):
                    break
                out.append(chr(int(text[i + 2:i + 6], 16)))
                i += 6
            else:
                out.append(_ESCAPES.get(code, code))
                i += 2
        self._position = i
        return "".join(out)
