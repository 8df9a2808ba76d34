"""What each message says: emails in plain text and HTML, short texts, and the calendar invite for a callback.

Only code writes these, from the knowledge base and the caller's own records; nothing a caller says
on the phone becomes a message's content except their own details, read back to them.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from appliance.knowledge.documents import plain
from appliance.knowledge.index import Passage

STOP = "Reply STOP to opt out."
SMS_CHARS = 300  # a document by text: what fits in two concatenated parts, the passages that answer first


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str
    attachments: tuple = ()


def _page(title: str, blocks: list[tuple[str, str]], footer: str) -> str:
    """A plain HTML email: a title, then (heading, paragraph) blocks."""
    body = "".join(f"<h2>{html.escape(heading)}</h2>" * bool(heading)
                   + "".join(f"<p>{html.escape(line)}</p>" for line in text.split("\n") if line.strip())
                   for heading, text in blocks)
    return (f"<!doctype html><html><body style=\"font-family:sans-serif\"><h1>{html.escape(title)}</h1>{body}"
            f"<p style=\"color:#666\">{html.escape(footer)}</p></body></html>")


def document_email(company: str, topic: str, passages: list[Passage]) -> Email:
    """The document a caller asked for: its text in the email and attached as a file."""
    title = f"{company}: {topic}"
    sections = [(plain(passage.heading.split(" > ")[-1]), plain(passage.text)) for passage in passages]
    text = "\n\n".join(f"{heading}\n{body}" for heading, body in sections)
    footer = f"You asked for this on a call with {company}. Reply to this email if you have any questions."
    name = (passages[0].source.rsplit("/", 1)[-1] if passages else f"{topic}.txt").rsplit(".", 1)[0] + ".txt"
    attachment = {"name": name, "type": "text/plain", "text": f"{title}\n\n{text}\n"}
    hello = f"As you asked, here is the information on {topic if topic.startswith('our ') else 'our ' + topic}."
    return Email(title, f"Hello,\n\n{hello}\n\n{text}\n\n{footer}\n",
                 _page(title, [("", hello)] + sections, footer), (attachment,))


def order_text(company: str, order: dict) -> str:
    """An order's status and tracking, as a text message."""
    text = f"{company}: your {order.get('product') or 'order'} order {order['order_id']} is {order['status'].lower()}"
    if order.get("estimated_delivery"):
        text += f", expected {order['estimated_delivery']}"
    if order.get("tracking_id"):
        text += f". Tracking number: {order['tracking_id']}"
    return text + "."


def callback_text(company: str, spoken_when: str, moment: datetime) -> str:
    """The confirmation text for a booked callback."""
    return (f"{company}: your callback is booked for {spoken_when} ({moment.strftime('%d %b %Y, %H:%M')} "
            f"{moment.strftime('%Z') or moment.strftime('%z')}). {STOP}")


def _plain(text: str) -> str:
    """A passage on one line, its list items joined with semicolons."""
    # A list item starts a line; a dash inside a line is a range ("8:00 - 18:00") or a pause, and stays.
    items = [" ".join(item.split()) for item in re.split(r"(?m)^\s*[-*•]\s+", plain(text)) if item.strip()]
    return "".join(item + (" " if item[-1] in ".!?" else "; ") for item in items).rstrip("; ")


def details_text(company: str, topic: str, passages: list[Passage], limit: int = SMS_CHARS) -> str:
    """What the caller asked about as a short text: the passages in the order given (the ones that answer first),
    in plain words, whole sentences up to `limit` characters, and a pointer to the rest when some is left out."""
    sections = []
    for passage in passages:
        heading = plain(passage.heading.split(" > ")[-1]) if " > " in passage.heading else ""
        section = f"{heading}: {_plain(passage.text)}" if heading else _plain(passage.text)
        sections.append(section if section.endswith((".", "!", "?")) else section + ".")
    text = f"{company} {topic}:"
    sentences = [s for section in sections for s in re.split(r"(?<=[.!?])\s+", section) if s]
    rest = " Ask us for the rest by email."
    for number, sentence in enumerate(sentences):
        if len(text) + 1 + len(sentence) > limit and number:
            room = limit - len(text) - len(rest) - 1
            if room > 60:  # a long run of words with no full stop (a timetable's lines run together): what fits
                cut = sentence[:room].rsplit(" ", 1)[0]
                text += " " + (cut.rsplit(",", 1)[0] if cut.count(",") and len(cut.rsplit(",", 1)[0]) > room // 2
                               else cut) + "…"
            return text + rest
        text += " " + sentence
    return text


def price_text(company: str, topic: str, items: list[tuple[str, str]], limit: int = SMS_CHARS) -> str:
    """A price list as a short text: each item and its price, as many as fit."""
    text = f"{company} {topic}:"
    for name, price in items:
        entry = f" {plain(name)}: {plain(price)}."
        if len(text) + len(entry) > limit:
            return text + " Ask us for the rest by email."
        text += entry
    return text


def summary(caller: str, lead: dict | None, slots: dict, history: list[dict]) -> str:
    """A call summary for staff: who called, what they want, and what was said."""
    lines = [f"Caller: {caller}" + (f" ({lead['name']}, {lead['company']})" if lead and lead.get("name") else "")]
    if lead and lead.get("email"):
        lines.append(f"Email: {lead['email']}")
    for key in ("interested_plan", "callback_time", "order_id", "issue_type"):
        if slots.get(key):
            lines.append(f"{key.replace('_', ' ').capitalize()}: {slots[key]}")
    lines.append("")
    lines += [f"{'Caller' if turn['role'] == 'user' else 'Appliance'}: {turn['content'].removeprefix('Caller: ')}"
              for turn in history]
    return "\n".join(lines)


def staff_email(company: str, about: str, caller: str, text: str, invite: dict | None) -> Email:
    """A notice to staff ("hot lead", "callback booked") with the call summary, and the callback's invite if any."""
    title = f"{company} {about}: {caller}"
    return Email(title, text + "\n", _page(title, [("", text)], "Sent by the phone-support appliance."),
                 (invite,) if invite else ())


def _ics_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """RFC 5545 lines are at most 75 octets; longer ones continue on lines that start with a space."""
    parts, current = [], ""
    for char in line:
        if len((current + char).encode()) > (75 if not parts else 74):
            parts.append(current)
            current = ""
        current += char
    return "\r\n ".join(parts + [current])


def invite(uid: str, company: str, caller: str, moment: datetime, description: str, minutes: int = 15) -> dict:
    """An iCalendar (RFC 5545) event for a callback, as an attachment."""
    stamp = "%Y%m%dT%H%M%SZ"
    start = moment.astimezone(timezone.utc)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:-//{company}//phone-support appliance//EN", "METHOD:PUBLISH",
             "BEGIN:VEVENT", f"UID:{uid}@{company.lower()}.appliance", f"DTSTAMP:{start.strftime(stamp)}",
             f"DTSTART:{start.strftime(stamp)}", f"DTEND:{(start + timedelta(minutes=minutes)).strftime(stamp)}",
             f"SUMMARY:{_ics_text(f'Call back {caller}')}", f"DESCRIPTION:{_ics_text(description)}",
             "END:VEVENT", "END:VCALENDAR"]
    return {"name": "callback.ics", "type": "text/calendar", "text": "\r\n".join(map(_fold, lines)) + "\r\n"}
