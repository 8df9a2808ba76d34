"""The dialogue policy in code: which task the caller wants, what is still missing, and what to do.

A small model names intents and fills slots unreliably; these rules do it the same way every time. The
model is left what it is good at: answering a question in words from the retrieved passages.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime

from appliance.dialogue import entities
from appliance.llm.reply import Reply

log = logging.getLogger(__name__)

YES = re.compile(r"\b(yes|yeah|yep|sure|please|okay|ok|go ahead|do it|connect me)\b", re.I)
CLOSING = re.compile(r"\b(that'?s all|that is all|bye|goodbye|no,? thank(s| you)|that'?s fine|nothing else)\b", re.I)
HUMAN = re.compile(r"\b(human|person|agent|representative|somebody real|transfer me|connect me)\b", re.I)
WHATSAPP = re.compile(r"\bwhats\s?app\b", re.I)
WHATSAPP_MISHEARD = re.compile(r"\b(what'?s|watts?) ?(app|at|up)\b", re.I)  # how Whisper hears it on a bad line
EMAIL = re.compile(r"\b(e-?mail|mail it|by mail|on mail)\b", re.I)
SMS = re.compile(r"\b(sms|text me|text message|send a text)\b", re.I)
SEND = re.compile(r"\b(send|share|forward|mail|email)\b", re.I)
CALLBACK = re.compile(r"\b(call ?back|call me|give me a call|someone call|somebody call|schedule a call)\b", re.I)
COMPLAINT = re.compile(r"\b(unacceptable|complain|complaint|terrible|worst|angry|not happy|(haven'?t|not|never) "
                       r"(received|arrived|got)|still waiting)\b", re.I)
ORDER = re.compile(r"\b(order|delivery|deliver|shipment|package|parcel|tracking)\b", re.I)
ORDER_FOLLOW_UP = re.compile(r"\b(get it|arrive|delivered|deliver|today|when|notification|tracking)\b", re.I)
BUYING = re.compile(r"\b(go ahead|sign up|buy|purchase|subscribe|get started|want the|take the)\b", re.I)
POLICY_WORDS = re.compile(r"\b(policy|refund|return|warranty|privacy|terms|guarantee|cancel)\b", re.I)
PLAN = re.compile(r"\b(basic|professional|enterprise)\b", re.I)
NO = re.compile(r"\b(no|nope|wrong|not right|incorrect)\b", re.I)
# Asking for other people's data: refused whatever the wording, before any task is considered.
OTHERS_DATA = re.compile(r"\b(all|every|other|another|list of|export|dump)\b[\w\s']{0,24}\b(customers?|clients?|callers?|"
                         r"users?|leads?|contacts|phone numbers|numbers|emails|addresses|records|database|data)\b"
                         r"|\b(customer|client) (database|list|records|data)\b", re.I)
HANDING_OVER = re.compile(r"\b(send|share|forward|e-?mail|mail|text|give|read|tell|list|export|dump|copy)\b", re.I)
REFUSAL = ("I'm sorry, I can't share other customers' information or anything from our internal systems. "
           "I can send you our public documents or details of your own account.")

TOPICS = ((re.compile(r"\bcatalog(ue)?\b|\byour products?\b", re.I), "product catalog"),
          (re.compile(r"\brefund", re.I), "refund policy"),
          (re.compile(r"\b(pricing|price|plans?)\b", re.I), "pricing plans"),
          (re.compile(r"\b(mobile )?app\b", re.I), "mobile app"))
SLOT_FOR = {"send_details_email": "email", "send_details_whatsapp": "whatsapp_number", "send_details_sms": "phone",
            "callback_request": "callback_time", "complaint": "order_id", "order_status": "order_id"}


@dataclass
class Crm:
    """What the box knows of callers and orders (fixtures now, the database once actions land)."""

    leads: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    agents: list[dict] = field(default_factory=list)

    def lead(self, phone: str | None) -> dict | None:
        """The lead whose phone is `phone`."""
        return next((lead for lead in self.leads if phone and lead.get("phone") == phone), None)

    def order(self, order_id: str | None) -> dict | None:
        """The order with this ID."""
        return next((o for o in self.orders if order_id and o.get("order_id", "").upper() == order_id.upper()), None)

    def agent_for(self, topic: str) -> dict | None:
        """An available agent, preferring one whose expertise matches the topic."""
        return choose_agent(self.agents, topic)


def choose_agent(agents: list[dict], topic: str) -> dict | None:
    """The first available agent whose expertise covers the topic, else the first available one, else None."""
    available = [a for a in agents if a.get("status") == "available"]
    matching = [a for a in available if topic in (a.get("expertise") or [])]
    return (matching or available or [None])[0]


@dataclass
class CallState:
    """One call's memory: the caller, the details given so far, and what the appliance last asked or offered."""

    caller_id: str | None = None
    caller: dict | None = None
    slots: dict = field(default_factory=dict)
    when: entities.When = field(default_factory=entities.When)
    waiting_for: str | None = None  # the slot the appliance asked for
    waiting_intent: str | None = None
    offered_specialist: bool = False
    topic: str | None = None  # what the caller last asked about, for "send it on email"
    buying: bool = False
    confirmed: set = field(default_factory=set)  # numbers and emails the caller gave when asked, or confirmed


def spoken_time(moment: datetime, now: datetime) -> str:
    """A callback time as said on the phone: "tomorrow at 10 AM"."""
    days = (moment.date() - now.date()).days
    day = {0: "today", 1: "tomorrow"}.get(days, moment.strftime("on %A, %B %d"))
    clock = moment.strftime("%I:%M %p").lstrip("0").replace(":00", "")
    return f"{day} at {clock}"


def spoken_email(email: str) -> str:
    """An email address as read back on the phone: "jane dot doe at example dot com"."""
    return email.replace(".", " dot ").replace("@", " at ").replace("_", " underscore ").replace("-", " dash ")


def spoken_phone(phone: str) -> str:
    """The last four digits of a number, as read back to a caller."""
    return "the number ending " + " ".join(phone[-4:])


class Policy:
    """Turns a caller's words and the call's state into a reply for the tasks code handles; None otherwise."""

    def __init__(self, company: str, crm: Crm, country_code: str = "+91", whatsapp_online=lambda: False):
        self.company = company
        self.crm = crm
        self.country_code = country_code
        self.whatsapp_online = whatsapp_online

    def read(self, heard: str, state: CallState, now: datetime) -> dict:
        """Details in the caller's words, into the call's slots; a bare number answers what was asked."""
        found = {}
        if state.waiting_for == "email_confirmation":
            if YES.search(heard) and not NO.search(heard):
                state.confirmed.add(state.slots["email"])
            elif NO.search(heard):
                state.slots.pop("email", None)
        phone = entities.to_e164(heard, self.country_code)
        if phone:
            found["whatsapp_number" if state.waiting_for == "whatsapp_number" else "phone"] = phone
            if state.waiting_for in ("whatsapp_number", "phone"):
                state.confirmed.add(phone)  # given in answer to "what's your number?"
        email = entities.find_email(heard)
        if email:
            found["email"] = email
            if state.waiting_for == "email":
                state.confirmed.add(email)
        order_id = entities.find_order_id(heard)
        if not order_id and state.waiting_for == "order_id":
            digits = re.search(r"\d[\d,\s]{3,}\d", entities.spoken_digits(heard))
            order_id = f"ORD{re.sub(r'[^0-9]', '', digits.group(0))}" if digits else None
        if order_id:
            found["order_id"] = order_id
        when = entities.parse_when(heard, now)
        bare_hour = re.search(r"\b(1[0-2]|[1-9])\b", heard)
        if state.waiting_for == "callback_time" and not when.at and bare_hour:
            when = entities.parse_when(f"{heard} at {bare_hour.group(1)}", now)  # "round 2" answers "what time?"
        if when.day or when.at:
            state.when = when.merged(state.when)
            moment = state.when.resolve(now)
            if moment:
                found["callback_time"] = moment.isoformat()
        for pattern, topic in TOPICS:
            if pattern.search(heard):
                state.topic = topic
                break
        plan = PLAN.search(heard)
        if plan:
            found["interested_plan"] = plan.group(1).capitalize()
        if BUYING.search(heard):
            state.buying = True
        state.slots.update(found)
        return found

    def intent(self, heard: str, state: CallState) -> str | None:
        """The task the caller wants, or None for a question for the knowledge base."""
        if OTHERS_DATA.search(heard) and HANDING_OVER.search(heard):
            return "other"
        if state.waiting_for == "email_confirmation" and (YES.search(heard) or NO.search(heard)):
            return state.waiting_intent
        rest = CLOSING.sub("", heard)
        if CLOSING.search(heard) and not (SEND.search(rest) or CALLBACK.search(rest) or "?" in rest):
            return "goodbye"
        if HUMAN.search(heard):
            return "speak_to_human"
        if WHATSAPP.search(heard) or (SEND.search(heard) and WHATSAPP_MISHEARD.search(heard)):
            return "send_details_whatsapp"
        if (EMAIL.search(heard) or entities.find_email(heard)) and (SEND.search(heard) or YES.search(heard)):
            return "send_details_email"
        if SMS.search(heard):
            return "send_details_sms"
        if CALLBACK.search(heard):
            return "callback_request"
        if COMPLAINT.search(heard):
            return "complaint"
        if state.offered_specialist and YES.search(heard):
            return "speak_to_human"
        if state.waiting_intent and (state.slots.get(state.waiting_for)
                                     or (state.waiting_for == "details_type" and state.topic)):
            return state.waiting_intent
        if ORDER.search(heard) or entities.find_order_id(heard) or (
                state.slots.get("order_id") and ORDER_FOLLOW_UP.search(heard)):
            return "order_status"
        return None

    def reply(self, intent: str, state: CallState, now: datetime) -> Reply:
        """The reply for a task intent: ask for what is missing, or say what will be done."""
        slots = state.slots
        missing = self._missing(intent, state)
        if missing:
            state.waiting_for, state.waiting_intent = missing, intent
            return Reply(self._ask(intent, missing, state), intent, {**slots, "missing_info": [missing]},
                         needs_clarification=True)
        state.waiting_for = state.waiting_intent = None
        about = state.topic or "details"
        entities_out = dict(slots)
        if intent in ("send_details_email", "send_details_sms", "send_details_whatsapp"):
            entities_out["details_type"] = about
        if intent == "other":
            log.warning("refused a request for other people's data")
            return Reply(REFUSAL, "other", {})
        if intent == "goodbye":
            return Reply(f"Thank you for calling {self.company}. Have a great day. Goodbye!", "goodbye", entities_out)
        if intent == "speak_to_human":
            agent = self.crm.agent_for("technical" if state.offered_specialist else "sales")
            state.offered_specialist = False
            who = f"{agent['name']}, one of our specialists" if agent else "one of our specialists"
            return Reply(f"Sure. I'm connecting you with {who} now. Please stay on the line.", intent,
                         entities_out, actions=("escalate_to_human",), escalate_to_human=True)
        if intent == "send_details_email":
            email = slots.get("email") or (state.caller or {}).get("email")
            return Reply(f"Sure. I'll email the {about} to {email} right away.", intent,
                         {**entities_out, "email": email}, actions=("send_email",))
        if intent == "send_details_whatsapp":
            number = slots.get("whatsapp_number") or slots.get("phone") or state.caller_id
            if not self.whatsapp_online():
                return Reply(f"Thank you. WhatsApp isn't available from this office right now, so I'll text the "
                             f"{about} to {spoken_phone(number)} instead.", intent,
                             {**entities_out, "whatsapp_number": number}, actions=("send_sms",))
            return Reply(f"Thank you. I'll send the {about} to {spoken_phone(number)} on WhatsApp.", intent,
                         {**entities_out, "whatsapp_number": number}, actions=("send_whatsapp",))
        if intent == "send_details_sms":
            number = slots.get("phone") or state.caller_id
            return Reply(f"Sure. I'll text the {about} to {spoken_phone(number)}.", intent,
                         {**entities_out, "phone": number}, actions=("send_sms",))
        if intent == "callback_request":
            moment = datetime.fromisoformat(slots["callback_time"])
            actions = ["schedule_callback", "send_sms"]
            if state.buying:
                actions += ["create_hot_lead", "notify_sales_team"]
            return Reply(f"Done. Our specialist will call you {spoken_time(moment, now)}. "
                         f"You'll get a confirmation SMS shortly.", intent, entities_out, actions=tuple(actions))
        if intent in ("order_status", "complaint"):
            return self._order(intent, state, entities_out)
        raise ValueError(f"no policy for intent {intent}")

    def _missing(self, intent: str, state: CallState) -> str | None:
        slot = SLOT_FOR.get(intent)
        if slot is None:
            return None
        if intent.startswith("send_details") and not state.topic:
            return "details_type"  # what to send comes first: "send me the details" after nothing at all
        if slot == "email":
            given, on_file = state.slots.get("email"), (state.caller or {}).get("email")
            if given and given != on_file and given not in state.confirmed:
                return "email_confirmation"  # volunteered, not asked for: read it back first
            return None if given or on_file else slot
        if slot in ("whatsapp_number", "phone") and (state.slots.get(slot) or state.slots.get("phone")
                                                    or state.caller_id):
            return None
        return None if state.slots.get(slot) else slot

    def _ask(self, intent: str, missing: str, state: CallState) -> str:
        if missing == "callback_time":
            if state.when.day:
                return "Sure. What time would suit you?"
            return "Sure. When would be a good time for us to call you?"
        if missing == "order_id":
            sorry = "I'm really sorry about that. " if intent == "complaint" else ""
            return f"{sorry}Could you tell me your order number, please?"
        if missing == "details_type":
            return "Sure. What would you like me to send you?"
        if missing == "whatsapp_number":
            return "Sure. What's your WhatsApp number?"
        if missing == "email":
            return "Sure. What email address should I send it to?"
        if missing == "email_confirmation":
            return f"Just to confirm, should I send it to {spoken_email(state.slots['email'])}?"
        return "Sure. What number should I use?"

    def _order(self, intent: str, state: CallState, entities_out: dict) -> Reply:
        order = self.crm.order(state.slots.get("order_id"))
        if order is None:
            state.slots.pop("order_id", None)
            state.waiting_for, state.waiting_intent = "order_id", intent
            return Reply("I couldn't find that order number. Could you say it again, please?", intent,
                         {**entities_out, "missing_info": ["order_id"]}, needs_clarification=True)
        status = order.get("status", "being processed")
        eta = spoken_eta(order.get("estimated_delivery"))
        said_before = state.topic == f"order {order['order_id']}"
        state.topic = f"order {order['order_id']}"
        if said_before:
            text = f"Yes. It is {status.lower()} and should reach you {eta}." if eta else f"It is {status.lower()}."
            return Reply(text, "order_status", entities_out, actions=("lookup_order",))
        product = order.get("product") or "order"
        text = f"Thank you. Your {product} order {order['order_id']} is {status.lower()}"
        text += f" and should reach you {eta}." if eta else "."
        text += " I'll text you the tracking link now."
        actions = ["lookup_order", "send_sms"] + (["create_ticket"] if intent == "complaint" else [])
        extra = {"issue_type": "delivery_delay", "urgency": "high"} if intent == "complaint" else {}
        return Reply(text, intent, {**entities_out, **extra}, actions=tuple(actions))


def spoken_eta(estimate: str | None) -> str | None:
    """An estimated delivery such as "today 18:00" as said on the phone: "today by 6 PM"."""
    if not estimate:
        return None
    found = re.match(r"(\w+)\s+(\d{1,2}):(\d{2})", estimate)
    if not found:
        return estimate
    hour = int(found.group(2))
    clock = f"{hour % 12 or 12}{'' if found.group(3) == '00' else ':' + found.group(3)} {'PM' if hour >= 12 else 'AM'}"
    return f"{found.group(1)} by {clock}"
