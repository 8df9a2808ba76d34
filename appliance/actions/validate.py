"""Who a message may go to: the caller's own number or email, or the company's configured staff. Nobody else.

The caller's own contacts are the caller ID, the CRM record for it, and what the caller gave on the
call when the appliance asked for it or read it back and heard a yes. A request to send anything to
anyone else is refused and logged, whatever the reply model or the caller says.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class Contacts:
    """The addresses one call may write to."""

    phones: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    staff_phones: set[str] = field(default_factory=set)
    staff_emails: set[str] = field(default_factory=set)
    opted_out: set[str] = field(default_factory=set)  # numbers that replied STOP


class Refused(Exception):
    """An action that may not be carried out, with the reason (for the log) and what to tell the caller."""

    def __init__(self, reason: str, tell_caller: str):
        super().__init__(reason)
        self.tell_caller = tell_caller


def check(channel: str, recipient: str | None, contacts: Contacts, staff: bool = False) -> str:
    """The recipient, if this call may write to it on this channel; otherwise `Refused`."""
    if not recipient:
        raise Refused(f"{channel} with no recipient", "I don't have an address to send that to.")
    if channel == "email":
        allowed = contacts.staff_emails if staff else contacts.emails
        address = recipient.strip().lower()
        if address not in {email.lower() for email in allowed}:
            log.warning("refused email to %s: not the caller's own address%s", recipient, " or staff" * staff)
            raise Refused(f"email to {recipient} is not to the caller's own address",
                          "For your security, I can only send emails to the address on your account.")
        return recipient.strip()
    allowed = contacts.staff_phones if staff else contacts.phones
    if recipient not in allowed:
        log.warning("refused %s to %s: not the caller's own number%s", channel, recipient, " or staff" * staff)
        raise Refused(f"{channel} to {recipient} is not to the caller's own number",
                      "For your security, I can only send messages to your own number.")
    if recipient in contacts.opted_out and not staff:
        log.info("not texting %s: opted out of SMS", recipient)
        raise Refused(f"{recipient} has opted out of SMS",
                      "You've opted out of text messages from us, so I won't send a text.")
    return recipient
