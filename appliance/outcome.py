"""What a call really did once the queue has drained, and the scenario's `after` checks scored against it.

Emails are what the SMTP relay accepted, text messages what the modem sent, and the rest rows in the
records database: callbacks, tickets, escalations, hot leads, and WhatsApp messages still waiting for
a gateway. See ../shared/scenarios/FORMAT.md.
"""

from __future__ import annotations

import re
from datetime import datetime

from appliance.dialogue.entities import to_e164
from appliance.records.models import Callback, Escalation, Lead, Outbox, Ticket


def relay_emails(received) -> list[dict]:
    """The emails a relay accepted, one item per recipient, as the report lists them."""
    return [{"to": to, "subject": mail.subject, "body": mail.text(), "attachments": sorted(mail.attachments())}
            for mail in received for to in mail.recipients]


def modem_texts(sent) -> list[dict]:
    """The texts a modem sent, as the report lists them."""
    return [{"to": text.number, "text": text.text} for text in sent]


def collect(emails: list, sms: list) -> dict:
    """The outcome object of the report: emails and SMS as given (from the relay and the modem), the rest from rows."""
    return {
        "emails": emails,
        "sms": sms,
        "whatsapp": [{"to": r.recipient, "text": r.body, "state": r.state}
                     for r in Outbox.select().where(Outbox.channel == "whatsapp")],
        "callbacks": [{"phone": c.phone, "at": c.at, "state": c.state} for c in Callback.select()
                      if c.state != "cancelled"],  # one moved to a later time said on the call is not made
        "tickets": [{"issue_type": t.issue_type, "priority": t.priority, "status": t.status, "order_id": t.order_id}
                    for t in Ticket.select()],
        "escalations": [{"agent": e.agent, "reason": e.reason} for e in Escalation.select()],
        "leads": [{"phone": lead.phone, "status": lead.status, "quality": lead.quality,
                   "interested_plan": lead.interest} for lead in Lead.select().where(Lead.quality != "")],
    }


PHONE_KEYS = ("phone", "whatsapp_number", "to")
TIME_KEYS = ("callback_time", "at")


def digits(text) -> str:
    """Text as FORMAT.md compares it: lower case, digits as digits ("2,999" is "2999")."""
    return re.sub(r"(?<=\d),(?=\d{3})", "", str(text).lower())


def same(key: str, want, got, country_code: str) -> bool:
    """Whether a value is the one a check wants, after normalising: numbers to E.164, times as moments."""
    if want is None:
        return got is not None
    if got is None:
        return False
    if key in PHONE_KEYS and "@" not in str(want):
        return to_e164(str(got), country_code) == to_e164(str(want), country_code)
    if key in TIME_KEYS:
        try:
            return datetime.fromisoformat(str(got)) == datetime.fromisoformat(str(want))
        except ValueError:
            return False
    if isinstance(want, list):
        return isinstance(got, list) and all(item in got for item in want)
    return str(got).lower() == str(want).lower()


def _matches(key: str, want, item: dict, country_code: str) -> bool:
    if key == "mentions":
        text = digits(" ".join(str(item.get(field, "")) for field in ("subject", "body", "text")))
        return all(digits(word) in text for word in want)
    return same(key, want, item.get(key), country_code)


def score_after(after: dict, outcome: dict, country_code: str) -> list[dict]:
    """One check per wanted item (it must be there) and per empty list (nothing of that kind may be there)."""
    checks = []
    for kind, wanted in after.items():
        got = outcome.get(kind, [])
        if not wanted:
            checks.append({"what": f"after {kind}: none", "ok": not got, "detail": f"got {got}" if got else "none"})
        for item in wanted:
            found = [g for g in got if all(_matches(key, value, g, country_code) for key, value in item.items())]
            checks.append({"what": f"after {kind} {item}", "ok": bool(found),
                           "detail": f"matched {len(found)} of {len(got)}" if found else f"got {got}"})
    return checks
