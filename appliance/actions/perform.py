"""Carrying out a reply's actions: check each one, write the rows, and queue the messages, before the reply is spoken.

`ActionTaker.take` runs on the turn's worker thread between the dialogue deciding and the reply being
spoken, so a refused action changes what the caller hears ("I can only send it to the address on your
account") instead of being promised and quietly dropped. Messages go to the outbox in one transaction
with the rows they belong to; the queue is only woken afterwards.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
from datetime import datetime, timedelta, timezone
from typing import Callable

from appliance.actions import compose, outbox
from appliance.actions.outbox import Message, message_key
from appliance.actions.validate import Contacts, Refused, check
from appliance.dialogue.catalog import PRICE_ASKED, priced_items
from appliance.dialogue.policy import CallState, phones_of, same_number, spoken_time
from appliance.llm.reply import Reply
from appliance.records import disk_full
from appliance.records.models import (Call, Callback, CallStats, Escalation, Lead, Outbox, Staff, Ticket, Turn, database,
                                      utc_now)
from appliance.settings import Privacy

log = logging.getLogger(__name__)
SENDS = ("send_email", "send_sms", "send_whatsapp", "notify_sales_team")


class ActionTaker:
    """One call's actions: validated, recorded in the database, and queued for the worker."""

    def __init__(self, company: str, caller_id: str | None, index=None, crm=None,
                 wake: Callable[[int], None] = lambda row_id: None, whatsapp_online: Callable[[], bool] = lambda: False,
                 privacy: Privacy = Privacy()):
        self.company = company
        self.privacy = privacy
        self.emails = 0  # emails this call has queued to the caller
        self.index = index
        self.crm = crm
        self.wake = wake
        self.whatsapp_online = whatsapp_online
        self.caller_id = caller_id
        self.turn = 0
        # What the records disk refused, in order: kept in memory and written by flush() when there is room, so a
        # full disk never turns a caller away or loses what the call did.
        self.unwritten: list[Callable[[], None]] = []
        self.call: Call | None = None
        self._write(functools.partial(self._open, caller_id), "the call")

    def _open(self, caller_id: str | None) -> None:
        self.call = Call.create(caller_id=caller_id)

    def _write(self, write: Callable[[], None], what: str) -> None:
        """Write now, or keep it for later when the disk is full (or something before it is still waiting)."""
        if not self.unwritten:
            try:
                write()
                return
            except Exception as exc:
                if not disk_full(exc):
                    raise
                log.error("records-disk-full: %s of call %s kept in memory until there is room: %s",
                          what, self.call.id if self.call else "(new)", exc)
        self.unwritten.append(write)

    def flush(self) -> bool:
        """Write what the disk refused, oldest first; True when nothing is left waiting."""
        while self.unwritten:
            try:
                self.unwritten[0]()
            except Exception as exc:
                if not disk_full(exc):
                    raise
                return False
            self.unwritten.pop(0)
            log.warning("records: call %s: a write the full disk refused is now on disk", self.call.id)
        return True

    def contacts(self, state: CallState) -> Contacts:
        """Who this call may write to, now."""
        lead = state.caller or {}
        staff = list(Staff.select())
        # An order the caller has shown to be theirs may go to the phone and email on file for it.
        owners = phones_of(self.crm, state.verified_orders) if self.crm else []
        on_file = [(self.crm.lead(phone) or {}).get("email") for phone in owners if phone]
        opted_out = {lead.phone for lead in Lead.select(Lead.phone).where(Lead.sms_opt_out == True)}  # noqa: E712
        return Contacts(phones={p for p in (state.caller_id, lead.get("phone"), *owners) if p} | state.confirmed,
                        emails={e for e in (lead.get("email"), *on_file) if e} | state.confirmed,
                        staff_phones={s.phone for s in staff if s.phone}, staff_emails={s.email for s in staff if s.email},
                        opted_out=opted_out)

    def take(self, reply: Reply, state: CallState, history: list[dict], now: datetime) -> Reply:
        """Do what the reply asks; returns the reply as it should be spoken, less any refused action."""
        self.turn += 1
        told: list[str] = []
        done = list(reply.actions)
        # The state as it is now: a write kept for later must carry out this turn, not the call's last one.
        write = functools.partial(self._act, reply, copy.deepcopy(state), list(history), now, self.turn, told, done)
        self._write(write, f"turn {self.turn}'s actions")
        if not told:
            return reply
        return dataclasses.replace(reply, immediate_response=" ".join(dict.fromkeys(told)), actions=tuple(done))

    def _act(self, reply: Reply, state: CallState, history: list[dict], now: datetime, turn: int,
             told: list[str], done: list[str]) -> None:
        """One turn's actions in one transaction; refusals go to `told` and leave `done`."""
        self.turn, current = turn, self.turn
        contacts = self.contacts(state)
        queued: list[int] = []
        refused: list[str] = []
        try:
            with database.atomic():
                for action in reply.actions:
                    try:
                        queued += getattr(self, action)(reply, state, history, now, contacts)
                    except Refused as refusal:
                        log.warning("call %s turn %s: refused %s: %s", self.call.id, turn, action, refusal)
                        refused.append(action)
                        told.append(refusal.tell_caller)
        finally:
            self.turn = current
        done[:] = [action for action in done if action not in refused]
        for row_id in queued:
            self.wake(row_id)

    # One method per action name; each returns the outbox rows it queued.

    def _queue(self, action: str, channel: str, recipient: str, body: str, **content) -> list[int]:
        key = message_key(self.call.id, self.turn, action, channel, recipient)
        row, created = outbox.put(Message(key, channel, recipient, body, **content), self.call.id)
        return [row.id] if created else []

    def _documents(self, topic: str) -> list:
        """Every passage of the document about `topic`; Refused when the knowledge base has none."""
        found = self.index.search(topic, k=1) if self.index else []
        if not found:
            raise Refused(f"no document about {topic!r}", f"I'm sorry, I don't have a document about {topic} to send.")
        return self.index.document(found[0].source)

    def _topic(self, reply: Reply, state: CallState) -> str:
        return reply.entities.get("details_type") or state.topic or "details"

    def _order_in_hand(self, state: CallState) -> dict | None:
        """The order this call is about when it is the caller's (shown by caller ID or a detail on file)."""
        order = self.crm.order(state.slots.get("order_id")) if self.crm else None
        return order if order and order["order_id"] in state.verified_orders else None

    def _email_allowed(self, email: str) -> None:
        """Refused past the per-call and per-address-per-day limits: the box is no way to flood a mailbox."""
        if self.emails >= self.privacy.emails_per_call:
            raise Refused(f"{self.emails} emails already on this call",
                          "I've already sent as many emails as I can on one call. Our team can send you more.")
        since = (datetime.now(timezone.utc) - timedelta(days=1)).isoformat(timespec="seconds")
        today = (Outbox.select().where((Outbox.channel == "email") & (Outbox.recipient == email)
                                       & (Outbox.created_at >= since)).count())
        if today >= self.privacy.emails_per_address_per_day:
            raise Refused(f"{today} emails to {email} in the last day",
                          "That address has had as many emails from us as we send in a day. Please try tomorrow.")

    def send_email(self, reply, state, history, now, contacts) -> list[int]:
        topic = self._topic(reply, state)
        order = self._order_in_hand(state) if topic.startswith("order ") else None
        if topic.startswith("order ") and not order:
            raise Refused("order details for an order the caller has not shown is theirs",
                          "I'm sorry, I can't send details of that order.")
        if order:  # personal details: only to the email on file for the order's customer, never one just said
            on_file = (self.crm.lead(order.get("phone")) or {}).get("email")
            asked = reply.entities.get("email") or on_file
            if not on_file or asked.strip().lower() != on_file.strip().lower():
                log.warning("refused order details by email to %s: not the address on file", asked)
                raise Refused("order details to an address not on file",
                              "For your security, I can only email order details to the address we have on file.")
            email = check("email", on_file, contacts)
        else:
            email = check("email", reply.entities.get("email") or (state.caller or {}).get("email"), contacts)
        self._email_allowed(email)
        self.emails += 1
        if order:
            text = compose.order_text(self.company, order)
            letter = compose.Email(f"{self.company}: your order", text + "\n", f"<p>{text}</p>")
        else:
            letter = compose.document_email(self.company, topic, self._documents(topic))
        return self._queue("send_email", "email", email, letter.text, subject=letter.subject, html=letter.html,
                           attachments=letter.attachments)

    def _sms_text(self, reply, state, now) -> str:
        if "schedule_callback" in reply.actions and state.slots.get("callback_time"):
            moment = datetime.fromisoformat(state.slots["callback_time"])
            return compose.callback_text(self.company, spoken_time(moment, now), moment)
        order = self.crm.order(state.slots.get("order_id")) if self.crm else None
        topic = self._topic(reply, state)
        if order and (reply.intent in ("order_status", "complaint") or topic.startswith("order ")):
            return compose.order_text(self.company, order)  # "text me the tracking number" after the order
        asked = state.asked_for or state.question
        items = priced_items(self._documents(topic)) if asked and PRICE_ASKED.search(asked) else []
        if len(items) >= 2:  # "text me your price list": the prices, not the document's first sentences
            return compose.price_text(self.company, topic, items)
        return compose.details_text(self.company, topic, self._answering(topic, asked))

    def _answering(self, topic: str, question: str) -> list:
        """The document about `topic`, the passages that best answer the caller's question first (a text has room
        for a few sentences, so they must be the ones asked about)."""
        document = self._documents(topic)
        found = self.index.search(question or topic, k=len(document))
        first = [p for p in found if p.source == document[0].source]
        keys = {(p.heading, p.text) for p in first}
        return first + [p for p in document if (p.heading, p.text) not in keys]

    def send_sms(self, reply, state, history, now, contacts) -> list[int]:
        number = reply.entities.get("whatsapp_number") if reply.intent == "send_details_whatsapp" else None
        number = check("sms", number or reply.entities.get("phone") or state.caller_id, contacts)
        self._order_to_owner(reply, state, number)
        return self._queue("send_sms", "sms", number, self._sms_text(reply, state, now))

    def _order_to_owner(self, reply, state, number: str) -> None:
        """An order's details go by text only to the number on file for that order."""
        if "schedule_callback" in reply.actions or not self.crm or not state.slots.get("order_id"):
            return
        if reply.intent in ("order_status", "complaint") or self._topic(reply, state).startswith("order "):
            order = self._order_in_hand(state)
            if order is None or not same_number(order.get("phone"), number):
                log.warning("refused order details by text to %s: not the order's number on file", number)
                raise Refused("order details to a number not on file",
                              "For your security, I can only text order details to the number on file for the order.")

    def send_whatsapp(self, reply, state, history, now, contacts) -> list[int]:
        number = check("whatsapp", reply.entities.get("whatsapp_number") or state.caller_id, contacts)
        self._order_to_owner(reply, state, number)
        return self._queue("send_whatsapp", "whatsapp", number, self._sms_text(reply, state, now))

    def schedule_callback(self, reply, state, history, now, contacts) -> list[int]:
        phone = check("callback", reply.entities.get("phone") or state.caller_id, contacts)
        moment = datetime.fromisoformat(reply.entities.get("callback_time") or state.slots["callback_time"])
        # A new time on the same call moves the callback booked before it: one call back, at the time said last.
        Callback.update(state="cancelled", outcome=f"moved by the caller to {moment.isoformat()}").where(
            (Callback.call == self.call) & (Callback.state == "scheduled")).execute()
        Callback.create(call=self.call, phone=phone, at=moment.isoformat(),
                        at_utc=moment.astimezone(timezone.utc).isoformat(timespec="seconds"),
                        reason=reply.intent, state="scheduled")
        if "notify_sales_team" in reply.actions:
            return []  # the invite goes with the sales team's notice
        # Only to whoever the office names for callbacks: the box dials them itself, and sales hear of leads, not of
        # every caller who asked to be rung back.
        staff = Staff.get_or_none(Staff.role == "callbacks")
        if staff is None or not staff.email:
            return []
        text = compose.summary(phone, state.caller, state.slots, history)
        letter = compose.staff_email(self.company, "callback booked", phone, text,
                                     self._invite(phone, moment, text))
        return self._queue("schedule_callback", "email", check("email", staff.email, contacts, staff=True),
                           letter.text, subject=letter.subject, html=letter.html, attachments=letter.attachments)

    def _invite(self, phone: str, moment: datetime, text: str) -> dict:
        return compose.invite(message_key(self.call.id, self.turn, "invite"), self.company, phone, moment, text)

    def lookup_order(self, reply, state, history, now, contacts) -> list[int]:
        return []  # the dialogue has already read the order from the orders table

    def create_ticket(self, reply, state, history, now, contacts) -> list[int]:
        urgency = reply.entities.get("urgency") or "normal"
        checking = reply.entities.get("issue_type") == "identity_check"  # an order the caller could not show is theirs
        order_id = state.slots.get("order_id") or (state.order_heard if checking else "")
        phone = state.caller_id or state.slots.get("phone") or ""  # a caller with no caller ID gives one
        Ticket.create(call=self.call, phone=phone, order_id=order_id or "",
                      issue_type=reply.entities.get("issue_type") or reply.intent, priority=urgency,
                      description=next((t["content"] for t in history if t["role"] == "user"), ""))
        return []

    def update_ticket(self, reply, state, history, now, contacts) -> list[int]:
        phone = state.caller_id or state.slots.get("phone") or ""
        ticket = (Ticket.select().where((Ticket.phone == phone) & (Ticket.status != "closed"))
                  .order_by(Ticket.id.desc()).first())
        if ticket is None:
            return self.create_ticket(reply, state, history, now, contacts)
        said = next((turn["content"] for turn in reversed(history) if turn["role"] == "user"), "")
        ticket.description += "\n" + said.removeprefix("Caller: ")
        ticket.updated_at = utc_now()
        ticket.save()
        return []

    def create_hot_lead(self, reply, state, history, now, contacts) -> list[int]:
        phone = state.caller_id or reply.entities.get("phone")
        if not phone:
            raise Refused("a lead needs a phone number", "Could you tell me your phone number first?")
        lead, _ = Lead.get_or_create(phone=phone)
        lead.quality, lead.status = "hot", "qualified"
        lead.interest = state.slots.get("interested_plan", lead.interest)
        lead.preferred_channel = lead.preferred_channel or "phone"
        lead.updated_at = utc_now()
        lead.save()
        return []

    def notify_sales_team(self, reply, state, history, now, contacts) -> list[int]:
        staff = Staff.get_or_none(Staff.role == "sales")
        if staff is None:
            log.warning("no sales staff configured: the hot lead is recorded but nobody is told")
            return []
        caller = state.caller_id or "unknown caller"
        text = compose.summary(caller, state.caller, state.slots, history)
        invite = None
        if "schedule_callback" in reply.actions and state.slots.get("callback_time"):
            invite = self._invite(caller, datetime.fromisoformat(state.slots["callback_time"]), text)
        rows = []
        if staff.email:
            letter = compose.staff_email(self.company, "hot lead", caller, text, invite)
            rows += self._queue("notify_sales_team", "email", check("email", staff.email, contacts, staff=True),
                                letter.text, subject=letter.subject, html=letter.html, attachments=letter.attachments)
        if staff.phone:
            offer = state.slots.get("interested_plan")
            short = f"{self.company} hot lead: {caller}" + (f", {offer}" if offer else "") + ". Details by email."
            rows += self._queue("notify_sales_team", "sms", check("sms", staff.phone, contacts, staff=True), short)
        return rows

    def escalate_to_human(self, reply, state, history, now, contacts) -> list[int]:
        agent = state.agent  # chosen by the dialogue, by the caller's words and the call's reason
        reason = next((t["content"].removeprefix("Caller: ") for t in reversed(history) if t["role"] == "user"
                       and "?" in t["content"]), "caller asked for a person")
        package = {"caller": state.caller_id, "lead": state.caller, "history": history, "reason": reason,
                   "agent": agent, "slots": state.slots}
        Escalation.create(call=self.call, agent=agent["name"] if agent else "", reason=reason, package=package)
        return []

    def end_call(self, records: list, ended_by: str, voice_to_voice_ms: list[float] = ()) -> None:
        """Write the call's turns and analytics once it is over (or keep them until the disk has room)."""
        ended_at = utc_now()
        self._write(functools.partial(self._end, list(records), ended_by, list(voice_to_voice_ms), ended_at),
                    "the end")

    def _end(self, records: list, ended_by: str, voice_to_voice_ms: list[float], ended_at: str) -> None:
        intents, actions, v2v = [], [], sorted(voice_to_voice_ms)
        with database.atomic():
            for number, record in enumerate(records):
                Turn.create(call=self.call, number=number, kind=record.kind, heard=record.heard or "",
                            reply=record.reply, spoken=" ".join(record.spoken), interrupted=record.interrupted,
                            latency_ms={k: round(v) if isinstance(v, float) else v
                                        for k, v in record.latency_ms.items()})
                if record.reply:
                    intents.append(record.reply["intent"])
                    actions += record.reply["actions"]
            started = datetime.fromisoformat(self.call.started_at)
            Call.update(ended_at=ended_at, ended_by=ended_by).where(Call.id == self.call.id).execute()
            CallStats.create(call=self.call, turns=len(records), intents=intents, actions=actions,
                             duration_s=round((datetime.fromisoformat(ended_at) - started).total_seconds()),
                             used_knowledge=any(r.reply and r.reply["used_knowledge"] for r in records),
                             escalated=any(r.reply and r.reply["escalate_to_human"] for r in records),
                             voice_to_voice_p50_ms=round(v2v[len(v2v) // 2]) if v2v else None)
