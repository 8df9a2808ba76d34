"""The outbox: one row per message, moved queued → sending → sent (or failed) in single SQL statements.

The table is the truth; the Huey queue only says "look at row N now". So a task lost with a killed
worker loses nothing (`recover` finds the row again), and a task run twice sends nothing twice: only
one run can move a row from queued to sending. A row found in `sending` when the worker starts was
being sent when the power went: it goes back to queued and is sent again. The one window where
that repeats a message is between the relay's (or modem's) final OK and the commit of `sent`, a
millisecond; the email keeps its Message-ID, so a relay that remembers IDs drops the repeat.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from appliance.records.models import Outbox, database

log = logging.getLogger(__name__)
FINAL = ("sent", "failed", "cancelled")  # an admin cancelled it in the panel: never sent, never woken again


@dataclass(frozen=True)
class Message:
    """A message to queue: channel, recipient and content; `key` names it so queueing it twice is harmless."""

    key: str
    channel: str  # email, sms, whatsapp
    recipient: str
    body: str
    subject: str = ""
    html: str = ""
    attachments: tuple = ()


def message_key(*parts) -> str:
    """An idempotency key from what identifies a message: the call, the turn, the action, the recipient."""
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()[:32]


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def put(message: Message, call_id: int | None = None) -> tuple[Outbox, bool]:
    """Store a message unless one with its key is already there; returns (row, created)."""
    with database.atomic():
        row = Outbox.get_or_none(Outbox.key == message.key)
        if row is not None:
            return row, False
        row = Outbox.create(key=message.key, call=call_id, channel=message.channel, recipient=message.recipient,
                            subject=message.subject, body=message.body, html=message.html,
                            attachments=list(message.attachments))
    log.info("queued %s to %s (%s)", message.channel, message.recipient, row.id)
    return row, True


def claim(row_id: int, now: datetime) -> Outbox | None:
    """Take a queued message that is due for sending; None if it is not due, taken, sent or failed."""
    taken = (Outbox.update(state="sending", attempts=Outbox.attempts + 1)
             .where((Outbox.id == row_id) & (Outbox.state == "queued") & (Outbox.next_attempt_at <= _stamp(now)))
             .execute())
    return Outbox.get_by_id(row_id) if taken else None


def sent(row: Outbox, reference: str, now: datetime) -> None:
    """The relay or the modem took the message."""
    Outbox.update(state="sent", sent_at=_stamp(now), reference=reference, last_error="").where(
        Outbox.id == row.id).execute()
    log.info("sent %s %s to %s (%s)", row.channel, row.id, row.recipient, reference)


def retry_later(row: Outbox, error: str, now: datetime, first_s: float, max_s: float, max_attempts: int) -> float | None:
    """A passing failure: back to queued after a doubling wait; returns the wait, or None when out of tries."""
    if row.attempts >= max_attempts:
        fail(row, f"gave up after {row.attempts} tries: {error}")
        return None
    wait_s = min(max_s, first_s * 2 ** (row.attempts - 1))
    Outbox.update(state="queued", last_error=error, next_attempt_at=_stamp(now + timedelta(seconds=wait_s))).where(
        Outbox.id == row.id).execute()
    log.warning("%s %s to %s: %s; trying again in %.0f s", row.channel, row.id, row.recipient, error, wait_s)
    return wait_s


def fail(row: Outbox, error: str) -> None:
    """A permanent failure (a rejected address, an invalid number): never tried again."""
    Outbox.update(state="failed", last_error=error).where(Outbox.id == row.id).execute()
    log.error("%s %s to %s failed: %s", row.channel, row.id, row.recipient, error)


def recover() -> list[int]:
    """At start-up: messages caught mid-send go back to queued; returns every unfinished message's id."""
    Outbox.update(state="queued").where(Outbox.state == "sending").execute()
    return [row.id for row in Outbox.select(Outbox.id).where(Outbox.state.not_in(FINAL)).order_by(Outbox.id)]


def due_at(row_id: int) -> datetime:
    """When a queued message may next be tried."""
    return datetime.fromisoformat(Outbox.get_by_id(row_id).next_attempt_at)
