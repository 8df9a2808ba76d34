"""Carrying out a reply's actions: check each one, write the rows, and queue the messages, before the reply is spoken.

`ActionTaker.take` runs on the turn's worker thread between the dialogue deciding and the reply being
spoken, so a refused action changes what the caller hears ("I can only send it to the address on your
account") instead of being promised and quietly dropped. Messages go to the outbox in one transaction
with the rows they belong to; the queue is only woken afterwards.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timezone
from typing import Callable

from appliance.actions import compose, outbox
from appliance.actions.outbox import Message, message_key
from appliance.actions.validate import Contacts, Refused, check
from appliance.dialogue.policy import CallState, spoken_time
from appliance.llm.reply import Reply
from appliance.records.models import Call, Callback, CallStats, Escalation, Lead, Staff, Ticket, Turn, database, utc_now

log = logging.getLogger(__name__)
SENDS = ("send_email", "send_sms", "send_whatsapp", "notify_sales_team")


class ActionTaker:
    """One call's actions: validated, recorded in the database, and queued for the worker."""

    def __init__(self, company: str, caller_id: str | None, index=None, crm=None,
                 wake: Callable[[int], None] = lambda row_id: None, whatsapp_online: Callable[[], bool] = lambda: False):
        self.company = company
        self.index = index
        self.crm = crm
        self.wake = wake
        self.whatsapp_online = whatsapp_online
        self.call = Call.create(caller_id=caller_id)
        self.turn = 0

    def contacts(self, state: CallState) -> Contacts:
        """Who this call may write to, now."""
        lead = state.caller or {}
        staff = list(Staff.select())
        opted_out = {lead.phone for lead in Lead.select(Lead.phone).where(Lead.sms_opt_out == True)}  # noqa: E712
        return Contacts(phones={p for p in (state.caller_id, lead.get("phone")) if p} | state.confirmed,
                        emails={e for e in (lead.get("email"),) if e} | state.confirmed,
                        staff_phones={s.phone for s in staff if s.phone}, staff_emails={s.email for s in staff if s.email},
                        opted_out=opted_out)

    def take(self, reply: Reply, state: CallState, history: list[dict], now: datetime) -> Reply:
        """Do what the reply asks; returns the reply as it should be spoken, less any refused action."""
        self.turn += 1
        contacts = self.contacts(state)
        queued: list[int] = []
        done, told = [], []
        with database.atomic():
            for action in reply.actions:
                try:
                    queued += getattr(self, action)(reply, state, history, now, contacts)
                    done.append(action)
                except Refused as refusal:
                    log.warning("call %s turn %s: refused %s: %s", self.call.id, self.turn, action, refusal)
                    told.append(refusal.tell_caller)
        for row_id in queued:
            self.wake(row_id)
        if not told:
            return reply
        return dataclasses.replace(reply, immediate_response=" ".join(dict.fromkeys(told)), actions=tuple(done))

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

    def send_email(self, reply, state, history, now, contacts) -> list[int]:
        email = check("email", reply.entities.get("email") or (state.caller or {}).get("email"), contacts)
        topic = self._topic(reply, state)
        order = self.crm.order(state.slots.get("order_id")) if self.crm and topic.startswith("order ") else None
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
        return compose.details_text(self.company, topic, self._documents(topic))

    def send_sms(self, reply, state, history, now, contacts) -> list[int]:
        number = reply.entities.get("whatsapp_number") if reply.intent == "send_details_whatsapp" else None
        number = check("sms", number or reply.entities.get("phone") or state.caller_id, contacts)
        return self._queue("send_sms", "sms", number, self._sms_text(reply, state, now))

    def send_whatsapp(self, reply, state, history, now, contacts) -> list[int]:
        number = check("whatsapp", reply.entities.get("whatsapp_number") or state.caller_id, contacts)
        return self._queue("send_whatsapp", "whatsapp", number, self._sms_text(reply, state, now))

    def schedule_callback(self, reply, state, history, now, contacts) -> list[int]:
        phone = check("callback", reply.entities.get("phone") or state.caller_id, contacts)
        moment = datetime.fromisoformat(reply.entities.get("callback_time") or state.slots["callback_time"])
        Callback.create(call=self.call, phone=phone, at=moment.isoformat(),
                        at_utc=moment.astimezone(timezone.utc).isoformat(timespec="seconds"),
                        reason=reply.intent, state="scheduled")
        if "notify_sales_team" in reply.actions:
            return []  # the invite goes with the sales team's notice
        staff = Staff.get_or_none(Staff.role == "callbacks") or Staff.get_or_none(Staff.role == "sales")
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
        Ticket.create(call=self.call, phone=state.caller_id or "", order_id=state.slots.get("order_id", ""),
                      issue_type=reply.entities.get("issue_type") or reply.intent, priority=urgency,
                      description=next((t["content"] for t in history if t["role"] == "user"), ""))
        return []

    def update_ticket(self, reply, state, history, now, contacts) -> list[int]:
        ticket = (Ticket.select().where((Ticket.phone == (state.caller_id or "")) & (Ticket.status != "closed"))
                  .order_by(Ticket.id.desc()).first())
        if ticket is None:
            return self.create_ticket(reply, state, history, now, contacts)
        ticket.description += "\n" + (history[-2]["content"] if len(history) >= 2 else "")
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
        """Write the call's turns and analytics once it is over."""
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
            Call.update(ended_at=utc_now(), ended_by=ended_by).where(Call.id == self.call.id).execute()
            CallStats.create(call=self.call, turns=len(records), intents=intents, actions=actions,
                             duration_s=round((datetime.now(timezone.utc) - started).total_seconds()),
                             used_knowledge=any(r.reply and r.reply["used_knowledge"] for r in records),
                             escalated=any(r.reply and r.reply["escalate_to_human"] for r in records),
                             voice_to_voice_p50_ms=round(v2v[len(v2v) // 2]) if v2v else None)
