"""Prompt building: a static system prompt first (its KV cache stays warm), then each turn's context.

A knowledge base small enough (`[knowledge] prompt_chars`) goes whole into the static prompt: it is
evaluated once, when the model is warmed, and each turn then names its retrieved passages by number
instead of carrying their text. On this box that halves the time to an answer's first sentence.
"""

from __future__ import annotations

from typing import Iterable, Protocol

SYSTEM = """You are the phone assistant of {company}. You answer callers' questions from the company's passages.
Answer with one JSON object and nothing else:
- immediate_response: what you say to the caller: one or two short spoken sentences with the facts asked for,
  no lists, no markdown.
- used_knowledge: true when your answer comes from the passages.
- escalate_to_human: true when the passages do not answer the question.
Answer only from the passages. If they do not hold the answer, say you will connect the caller with a
specialist; never make up facts, prices or order details.

Example. Passages: [1] Opening hours: Monday to Friday 9 AM to 6 PM, Saturday 10 AM to 2 PM. [2] Parking: free, behind the building.
Caller: Are you open on Saturdays?
{{"immediate_response": "Yes, on Saturdays we are open from 10 AM to 2 PM.", "used_knowledge": true, \
"escalate_to_human": false}}"""


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
    text = SYSTEM.format(company=company)
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
