"""What an admin can change from the panel. Each change is one guarded UPDATE (it happens only from the
states it makes sense in, so it cannot race the worker or the dialer) and is audited in the same
transaction; each returns whether it happened."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from appliance.panel.auth import audit
from appliance.records.models import Agent, Callback, Outbox, Ticket, database, utc_now
from appliance.recordings import store as recordings

AGENT_STATUSES = {"available": "available", "away": "offline"}  # what the admin says → what the table keeps


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _audited(query, who: str, what: str) -> bool:
    with database.atomic():
        changed = bool(query.execute())
        if changed:
            audit(who, what)
    return changed


def retry_message(row_id: int, who: str, now: datetime) -> bool:
    """A failed (or cancelled) message goes back to queued, due now, with its tries counted afresh."""
    query = Outbox.update(state="queued", attempts=0, next_attempt_at=_stamp(now)).where(
        (Outbox.id == row_id) & Outbox.state.in_(("failed", "cancelled")))
    return _audited(query, who, f"retried outbox message {row_id}")


def cancel_message(row_id: int, who: str) -> bool:
    """A queued or failed message is never sent (a message being sent right now cannot be cancelled)."""
    query = Outbox.update(state="cancelled", last_error=f"cancelled by {who}").where(
        (Outbox.id == row_id) & Outbox.state.in_(("queued", "failed")))
    return _audited(query, who, f"cancelled outbox message {row_id}")


def cancel_callback(callback_id: int, who: str) -> bool:
    """A scheduled or due callback is not dialled."""
    query = Callback.update(state="cancelled", outcome=f"cancelled by {who}").where(
        (Callback.id == callback_id) & Callback.state.in_(("scheduled", "due")))
    return _audited(query, who, f"cancelled callback {callback_id}")


def reschedule_callback(callback_id: int, at: datetime, who: str) -> bool:
    """A scheduled or due callback is dialled at `at` instead (an aware time; kept as promised, in its zone)."""
    query = Callback.update(at=at.isoformat(timespec="seconds"), at_utc=_stamp(at), state="scheduled").where(
        (Callback.id == callback_id) & Callback.state.in_(("scheduled", "due")))
    return _audited(query, who, f"rescheduled callback {callback_id} to {at.isoformat(timespec='minutes')}")


def close_ticket(ticket_id: int, who: str) -> bool:
    query = Ticket.update(status="closed", updated_at=utc_now()).where(
        (Ticket.id == ticket_id) & (Ticket.status != "closed"))
    return _audited(query, who, f"closed ticket {ticket_id}")


def set_agent_status(agent_id: int, status: str, who: str) -> bool:
    """`available` or `away`: whether callers are handed to this agent."""
    stored = AGENT_STATUSES[status]
    query = Agent.update(status=stored).where((Agent.id == agent_id) & (Agent.status != stored))
    return _audited(query, who, f"marked agent {agent_id} {status}")


def delete_recording(call_id: int, who: str, data_dir: Path) -> bool:
    """The call's recording is deleted for good (file and row); the row says who deleted it."""
    with database.atomic():
        done = recordings.forget(data_dir, call_id, f"by {who}") is not None
        if done:
            audit(who, f"deleted the recording of call {call_id}")
    return done
