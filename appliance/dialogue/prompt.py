"""Prompt building: a static system prompt first (its KV cache stays warm), then each turn's context.

A knowledge base small enough (`[knowledge] prompt_chars`) goes whole into the static prompt: it is
evaluated once, when the model is warmed, and each turn then names its retrieved passages by number
instead of carrying their text. On this box that halves the time to an answer's first sentence.
"""

from __future__ import annotations

from typing import Iterable, Protocol

ACTIONS = ("send_email, send_sms, send_whatsapp, schedule_callback, lookup_order, create_ticket, update_ticket, "
           "escalate_to_human, create_hot_lead, notify_sales_team")

SYSTEM = """You are the phone assistant of {company}. You talk to callers on a phone line.
Answer with one JSON object and nothing else:
- immediate_response: what you say to the caller: one or two short spoken sentences, no lists, no markdown.
- intent: policy_query (refunds, returns, warranty, privacy), product_query (products, plans, prices, the app),
  order_status, send_details_email, send_details_sms, send_details_whatsapp, callback_request, complaint,
  speak_to_human, greeting, goodbye, or other.
- entities: details the caller gave (email, phone, order_id, callback_time, ...); {{}} when none.
- needs_clarification: true only when you must ask the caller for something before you can act.
- actions: only what the caller asked you to do ({actions}); [] when they only ask a question.
- used_knowledge: true when your answer comes from the passages.
- escalate_to_human: true when the caller asks for a person or the passages do not answer the question.
Answer only from the passages. If they do not hold the answer, say you will connect the caller with a
specialist; never make up facts, prices or order details.

Example. Passages: [1] Basic laptop: ₹40,000, 8 GB RAM. [2] Pro laptop: ₹70,000, 16 GB RAM. [3] Every laptop has a two-year warranty.
Caller: Which laptops do you sell?
{{"immediate_response": "We sell two laptops: the Basic at ₹40,000 with 8 GB RAM, and the Pro at ₹70,000 with 16 GB RAM.", \
"intent": "product_query", "entities": {{}}, \
"needs_clarification": false, "actions": [], "used_knowledge": true, "escalate_to_human": false}}"""


class Passage(Protocol):
    source: str
    heading: str
    text: str


def _line(number: int, passage: Passage) -> str:
    return f"[{number}] {passage.heading.split(' > ')[-1]}: {' '.join(passage.text.split())}"


def whole_knowledge(index, budget_chars: int) -> list:
    """Every passage of the index when together they fit `budget_chars` (they then go in the static prompt), else []."""
    passages = index.passages() if budget_chars > 0 else []
    return passages if sum(len(p.heading) + len(p.text) for p in passages) <= budget_chars else []


def system_prompt(company: str, knowledge: Iterable[Passage] = ()) -> str:
    """The static part of every prompt; it changes only with the settings and the knowledge base."""
    text = SYSTEM.format(company=company, actions=ACTIONS)
    lines = [_line(number, passage) for number, passage in enumerate(knowledge, 1)]
    return text + "\n\nThe company's passages:\n" + "\n".join(lines) if lines else text


def turn_message(heard: str, passages: Iterable[Passage], knowledge: list = ()) -> str:
    """The caller's words with the passages retrieved for them (by number when the knowledge is in the prompt)."""
    if knowledge:
        numbers = [number for number, known in enumerate(knowledge, 1)
                   if any((known.source, known.text) == (p.source, p.text) for p in passages)]
        named = ", ".join(f"[{number}]" for number in numbers) or "none match the question"
        return f"Passages for this question: {named}\n\nCaller: {heard}"
    lines = ["Passages:"]
    for number, passage in enumerate(passages, 1):
        section = passage.heading.split(" > ")[-1]
        lines.append(f"[{number}] {section}: {' '.join(passage.text.split())}")
    if len(lines) == 1:
        lines.append("(none match the question)")
    lines.append("")
    lines.append(f"Caller: {heard}")
    return "\n".join(lines)


def messages(company: str, heard: str, passages: Iterable[Passage], history: Iterable[dict] = (),
             knowledge: list = ()) -> list[dict]:
    """Chat messages for one turn: system prompt, earlier turns, then this turn."""
    return [{"role": "system", "content": system_prompt(company, knowledge)}, *history,
            {"role": "user", "content": turn_message(heard, list(passages), knowledge)}]
