"""The tables, as peewee models. Times are stored as ISO 8601 text with their offset."""

from __future__ import annotations

from datetime import datetime, timezone

import peewee
from peewee import BooleanField, CharField, FloatField, ForeignKeyField, IntegerField, JSONField, TextField

database = peewee.DatabaseProxy()


def utc_now() -> str:
    """Now, as stored: ISO 8601 in UTC."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Record(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class Lead(Record):
    """A caller the company knows, or has come to know on a call."""

    phone = CharField(unique=True)
    name = CharField(default="")
    email = CharField(default="")
    company = CharField(default="")
    status = CharField(default="new")  # new, contacted, qualified, customer, lost
    quality = CharField(default="")  # cold, warm, hot
    interest = CharField(default="")  # the offer the caller wants: a plan, a product, a service
    preferred_channel = CharField(default="")  # sms, email, whatsapp, phone
    notes = TextField(default="")
    sms_opt_out = BooleanField(default=False)
    email_opt_out = BooleanField(default=False)
    created_at = CharField(default=utc_now)
    updated_at = CharField(default=utc_now)


class Call(Record):
    """One phone call, from answer to hang-up."""

    caller_id = CharField(null=True)
    started_at = CharField(default=utc_now)
    ended_at = CharField(null=True)
    ended_by = CharField(default="")  # caller, appliance, line
    summary = TextField(default="")
    recording = CharField(default="")  # the call's audio, relative to data_dir (recordings/...wav); "" for none
    recording_s = FloatField(null=True)  # its length; kept when the file is deleted
    recording_deleted = CharField(default="")  # why it is gone: "after 30 days", "by alice"


class Turn(Record):
    """One exchange in a call: what was heard, the reply, what was said, how long each stage took."""

    call = ForeignKeyField(Call, backref="turns", on_delete="CASCADE")
    number = IntegerField()
    kind = CharField(default="caller")  # caller, greeting, reprompt, goodbye
    heard = TextField(default="")
    reply = JSONField(null=True)
    spoken = TextField(default="")
    interrupted = BooleanField(default=False)
    latency_ms = JSONField(default=dict)


class Ticket(Record):
    """A support case opened on a call."""

    call = ForeignKeyField(Call, null=True, backref="tickets", on_delete="SET NULL")
    phone = CharField(default="")
    order_id = CharField(default="")
    issue_type = CharField()
    priority = CharField(default="normal")  # low, normal, high, urgent
    status = CharField(default="open")  # open, in_progress, resolved, closed
    description = TextField(default="")
    resolution = TextField(default="")
    created_at = CharField(default=utc_now)
    updated_at = CharField(default=utc_now)


class Callback(Record):
    """A call the appliance promised to make back; `state` moves scheduled → due → done or failed."""

    call = ForeignKeyField(Call, null=True, backref="callbacks", on_delete="SET NULL")
    phone = CharField()
    at = CharField()  # ISO 8601 in the company's timezone, as promised to the caller
    at_utc = CharField(index=True)
    reason = TextField(default="")
    state = CharField(default="scheduled")
    attempts = IntegerField(default=0)
    outcome = TextField(default="")


class Order(Record):
    """An order, imported from the company's systems; the only source of order status on a call."""

    order_id = CharField(unique=True)
    phone = CharField(default="", index=True)
    product = CharField(default="")
    status = CharField(default="")
    estimated_delivery = CharField(default="")
    tracking_id = CharField(default="")
    updated_at = CharField(default=utc_now)


class Agent(Record):
    """A person a caller can be handed to."""

    name = CharField(unique=True)
    expertise = JSONField(default=list)
    status = CharField(default="available")  # available, busy, offline
    contact = CharField(default="")  # where the line transfers to, e.g. sip:201@pbx.local
    phone = CharField(default="")
    email = CharField(default="")


class Staff(Record):
    """A staff mailbox and number the appliance may write to (sales, support, ...)."""

    role = CharField(unique=True)
    email = CharField(default="")
    phone = CharField(default="")


class Escalation(Record):
    """A handoff to a person: who, why, and the package they get."""

    call = ForeignKeyField(Call, null=True, backref="escalations", on_delete="SET NULL")
    agent = CharField(default="")
    reason = TextField(default="")
    package = JSONField(default=dict)
    created_at = CharField(default=utc_now)


class Outbox(Record):
    """One message to leave the box. `key` makes queueing idempotent; `state` queued → sending → sent or failed."""

    key = CharField(unique=True)
    call = ForeignKeyField(Call, null=True, backref="messages", on_delete="SET NULL")
    channel = CharField()  # email, sms, whatsapp
    recipient = CharField()
    subject = TextField(default="")
    body = TextField(default="")
    html = TextField(default="")
    attachments = JSONField(default=list)  # [{"name", "type", "path" or "text"}]
    state = CharField(default="queued", index=True)
    attempts = IntegerField(default=0)
    last_error = TextField(default="")
    next_attempt_at = CharField(default=utc_now)
    created_at = CharField(default=utc_now)
    sent_at = CharField(null=True)
    reference = CharField(default="")  # Message-ID, or the modem's message references
    delivery = CharField(default="")  # for SMS: "", delivered or failed, from the network's status report
    delivered_at = CharField(null=True)


class CallStats(Record):
    """Per-call analytics, written when a call ends."""

    call = ForeignKeyField(Call, unique=True, backref="stats", on_delete="CASCADE")
    duration_s = IntegerField(default=0)
    turns = IntegerField(default=0)
    intents = JSONField(default=list)
    used_knowledge = BooleanField(default=False)
    escalated = BooleanField(default=False)
    actions = JSONField(default=list)
    voice_to_voice_p50_ms = IntegerField(null=True)


class Admin(Record):
    """A person who may sign in to the admin panel; the password only as a scrypt hash."""

    name = CharField(unique=True)
    password_hash = CharField()  # scrypt$n$r$p$salt$hash (hex), see appliance/panel/auth.py
    created_at = CharField(default=utc_now)
    session_generation = IntegerField(default=0)  # raised by a new password: older sessions are refused


class AuditLog(Record):
    """One change made from the admin panel: who made it, what it was, when."""

    who = CharField()
    what = TextField()
    at = CharField(default=utc_now, index=True)


class RevokedSession(Record):
    """A panel session ended by signing out: its cookie is refused until `expires` (epoch seconds)."""

    nonce = CharField(unique=True)
    expires = FloatField()


class LoginAttempt(Record):
    """One try at the panel's login form, recorded before its password is checked (the login limit)."""

    address = CharField(index=True)  # the client's address
    at = FloatField(index=True)  # epoch seconds


MODELS = [Lead, Call, Turn, Ticket, Callback, Order, Agent, Staff, Escalation, Outbox, CallStats, Admin, AuditLog,
          RevokedSession, LoginAttempt]
