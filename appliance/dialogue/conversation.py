"""One call's conversation: the policy for tasks, the knowledge and the reply model for questions."""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from appliance.dialogue.catalog import (CURRENCY_SIGN, CURRENCY_WORDS, PRICE, PRICE_ASKED, Catalog, name_words,
                                        priced_items, title_of)
from appliance.dialogue.catalog import words_of as catalog_words
from appliance.dialogue.entities import MONTHS, WEEKDAYS, spoken_id
from appliance.dialogue.grounding import (CONFIRM, Grounded, _unwrapped, extractive, numbers, quoted_from,
                                          says_nothing_new, speakable)
from appliance.dialogue.hours import HOURS_ASKED, SHORT_WEEKDAYS, Timetable, spoken_clock, weekday_number
from appliance.dialogue.intents import QUESTIONS, IntentClassifier
from appliance.dialogue.policy import (ASKS_FOR_NAME, FAREWELL, FAULT, IDENTIFY_BY, READ_BACKS, CallState, Crm,
                                       Policy, spoken_phone, unstopped)
from appliance.dialogue.prompt import messages
from appliance.knowledge.documents import plain
from appliance.llm.reply import Reply
from appliance.settings import Tickets

# Choosing the document for "send me your ..." when no document's name was heard: the best must be this close and
# this far ahead of the next document (cosine), or the caller is asked what to send.
TOPIC_MIN_SCORE = 0.2
TOPIC_MARGIN = 0.05
# The words a question about what one thing costs is made of besides the thing's name.
ASKING_WORDS = set("""hi hello hey um uh er erm so and ok okay right please is it its it's the a an how much does do
    cost costs price prices priced what what's whats for me you your can could would tell i i'd like to know there
    that this one of on about again sorry just then also charge fee be are was yeah well roughly much""".split())
# After the model's answer failed its check, a sentence of the documents is said instead only when it is this close
# to the question (cosine); otherwise a colleague is offered. A loosely related sentence ("our address is...") for
# "can you put panels on thatch?" would answer a question nobody asked.
FALLBACK_QUOTE = 0.4
# Words that say nothing of what is asked about: "what do I get with that one?" has no words of its own
FUNCTION_WORDS = set("""with from have does will your they them what when where which there their about would could
    should this that these those into also just like some more much many other than then were been being here""".split())
# A question that asks the one before it again of another day: "how about the 24th?", "and on Saturday?"
FOLLOW_UP = re.compile(r"\b(how|what) about\b|(?:^|[.!?]\s+)(?:(?:okay|ok|right|so|alright)\W+)?(and|or|then)\b",
                       re.I)
ORDINAL = re.compile(r"\bthe (first|second|third|fourth|middle|last|top|bottom|cheapest|most expensive|dearest) "
                     r"(?:one|plan|option|package|tier|level|choice)\b", re.I)
SENDING_WORDS = set("""send sent text texted sms message email e-mail mail whatsapp details detail info information
    stuff all everything me us my on by via over in as them those these they okay fine too also normal instead want
    need get have got some any more""".split())


def names_something(heard: str) -> bool:
    """Whether a request to send says what it wants ("your showroom's address"), not just "send me the details"."""
    return bool(set(re.findall(r"[a-z']+", heard.lower())) - ASKING_WORDS - SENDING_WORDS - {"please", "thanks"})


# What a request to send names, after its verb: "send me those vaccination prices on my email" → "vaccination prices"
SENT_THING = re.compile(r"\b(?:send|email|e-mail|mail|text|sms|whatsapp|forward)(?: it)?(?: (?:me|us))?(?: over)?"
                        r"(?: (?:the|those|these|that|this|your|all|all the|a copy of|the rest of))? "
                        r"(?P<what>(?:[\w'-]+ ){0,3}[\w'-]+)", re.I)
GENERIC_THINGS = {"complete", "full", "whole", "detail", "info", "information", "everything", "stuff", "same", "rest",
                  "link", "document", "copy", "thing"}


def wanted_words(heard: str) -> set[str]:
    """The words of a request to send that say what is wanted: "those vaccination prices" has two, "yes, please
    email it to me" none."""
    return {word for word in re.findall(r"[a-z']+", heard.lower()) if len(word) > 3} - ASKING_WORDS - \
        SENDING_WORDS - FUNCTION_WORDS - {"please", "thanks", "kindly", "yes", "yeah", "sure", "okay", "right"}


REFERRING = re.compile(r"\b(one|it|that|this|those|them|these|its|their)\b", re.I)
# "What are your plans?", "How much do your plans cost?": a question about the whole list of a document's
# sections, answered from their headings.
OVERVIEW = re.compile(r"\b(your|the|all|which|what|any)\b[\w ]{0,20}\b(plans|products|options|packages|services|"
                      r"models|tiers|memberships|ranges|offers|deals|bundles|subscriptions)\b", re.I)
# A question about the whole list is short and its words are general ("what offers do you have for companies?"), so
# the passages it is about may score under min_score, the more so when their headings are in the company's own
# language ("Oferta dla firm"). Such a question searches again down to this cosine; what is found is used only when
# it is a list of at least two priced things, read out in code, never given to the model.
OVERVIEW_FLOOR = 0.2
# "Is this the lobster place?", "are you the Harbour shop?": who answered, asked in any case; it is us when a word of
# what is asked is a word of our name
ASKS_IF_US = re.compile(r"\b(?:is (?:this|that|it)|are you|am i (?:speaking|talking) (?:to|with)|have i (?:reached|got))"
                        r" (?:the )?([\w'& -]{2,40}?)\s*(?:\?|$|,)", re.I)
# "What kind of gift boxes do you have?", "what sorts of cakes do you do?": a list of the things named
KINDS = re.compile(r"\bwhat (?:kinds?|sorts?|types?|sizes?) of ([a-z][a-z' -]{2,30}?) (?:do|does|can|have|has|are|is)"
                   r"\b", re.I)


def questions_in(heard: str) -> list[str]:
    """The sentences of a turn that ask something ("We're a small office. What plans do you have?")."""
    return [sentence for sentence in re.split(r"(?<=[.!?])\s+", heard.strip()) if sentence.endswith("?")]


def asked_list(heard: str) -> str | None:
    """What a question about a whole list asks for ("plans", "gift boxes"), or None."""
    found = OVERVIEW.search(heard) or KINDS.search(heard)
    return found.group(found.lastindex).lower() if found else None
# "What do I get with the Gold plan?", "what's included in the professional one?": a question about what one offer
# holds, answered with its whole section, not with the one line of it closest to the question.
CONTENTS = re.compile(r"\bwhat(?:'s| is| are| do(?:es)?)?\b[\w' ]{0,40}\b(?:includ\w*|get|come with|comes with|"
                      r"feature\w*|benefit\w*|in it|cover\w*)\b|\b(?:tell me (?:more )?about|details of)\b", re.I)
MAX_CONTENTS = 8  # lines of a section said as its contents; a longer section is left to the quoting
OFFER = "Would you like me to connect you with a specialist?"
NO_ANSWER = f"I'm sorry, I don't have information about that. {OFFER}"
# An amount after its sign, said by the sign's words when the settings name none (catalog.CURRENCY_WORDS);
# thousands grouped by commas (Indian lakhs too) or by spaces ("R164 500").
_AMOUNT = re.compile(rf"({CURRENCY_SIGN})\s?(\d{{1,3}}(?:,\d{{2,3}})+|\d{{1,3}}(?:[ \u00a0\u202f]\d{{3}})+(?!\d)|\d+)"
                     r"(?:\.(\d{1,2}))?")


@dataclass
class TurnReply:
    """The reply to one caller turn, with the passages it drew on and its stage times."""

    reply: Reply
    passages: list = field(default_factory=list)
    stages_ms: dict = field(default_factory=dict)
    ends_call: bool = False


# Amounts written the continental way, thousands by dots and cents after a comma: before a currency written after
# them ("19,99 zł", "1.234,50 €"), and after a sign ("€1.234,50", read as €1234.50 below). A voice says the
# currency written after an amount in words ("49 zł" → "49 zloty"), never its letters.
AFTER_WORDS = {"zł": "zloty", "PLN": "zloty", "Kč": "crowns", "CZK": "crowns", "kr": "crowns", "SEK": "crowns",
               "NOK": "crowns", "DKK": "crowns", "Ft": "forints", "HUF": "forints", "lei": "lei", "RON": "lei",
               "€": "euros", "EUR": "euros", "CHF": "francs"}
_DECIMAL_COMMA_AFTER = re.compile(r"(?<![\d.,])(\d{1,3}(?:\.\d{3})+|\d+),(\d{2})(?!\d|[,.]\d)\s?"
                                  rf"({'|'.join(map(re.escape, AFTER_WORDS))})(?!\w)")
_WHOLE_AFTER = re.compile(rf"(?<![\d.,])(\d+)\s?({'|'.join(map(re.escape, AFTER_WORDS))})(?!\w)")  # "49 zł", "1190 Kč"
_DECIMAL_COMMA = re.compile(rf"({CURRENCY_SIGN})\s?(\d{{1,3}}(?:\.\d{{3}})+|\d+),(\d{{2}})(?!\d|[,.]\d)")  # not ₹1,09,990
# Thousands grouped by spaces before a currency written after the amount ("1 190 Kč", "12 500 kr"): one number.
_GROUPED_BEFORE_CODE = re.compile(r"(?<![\d.,])(\d{1,3}(?:[ \u00a0\u202f]\d{3})+)(?=\s?(?:[A-Z]{3}\b|Kč|zł|kr\b|Ft\b|lei\b|"
                                  r"€|EUR\b|CHF\b))")


# "24/12/2025", "06/01": a date in figures, which a voice would read as numbers and slashes
# with its year, or after a weekday or a word that leads a date ("3/4 full" is a fraction, "50/50" a split)
_FIGURES_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(?:\d{4}|\d{2})\b|\b((?:on|from|until|till|to|by|before|after|"
                           r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]{0,6}) )(\d{1,2})/(\d{1,2})\b(?!/)", re.I)


def spoken_dates(text: str, month_first: bool = False) -> str:
    """Dates in figures as said aloud: "Wednesday 24/12/2025" → "Wednesday 24 December". The day comes first
    unless the country writes the month first (`month_first`) or the second number can only be a day."""
    def say(found: re.Match) -> str:
        lead = found.group(3) or ""  # the word before a date with no year, kept
        first, second = (int(found.group(1)), int(found.group(2))) if found.group(1) else (int(found.group(4)),
                                                                                          int(found.group(5)))
        day, month = (second, first) if month_first or second > 12 else (first, second)
        if first > 12 and month_first:
            day, month = first, second
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return found.group(0)
        return f"{lead}{day} {MONTHS[month - 1].title()}"

    return _FIGURES_DATE.sub(say, text)


_SHORT_DAY = re.compile(rf"\b({'|'.join(sorted(SHORT_WEEKDAYS, key=len, reverse=True))})\.?"
                        rf"(?=,?\s+\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{'|'.join(MONTHS)})\b)", re.I)
_CLOCK_SPAN = re.compile(r"\b(\d{1,2}(?:[:.]\d{2})?\s?[ap]\.?m\.?)\s?[-–]\s?(\d{1,2}(?:[:.]\d{2})?\s?[ap]\.?m\.?)", re.I)
_PER = re.compile(r"(?<=\d)(\s[^\W\d]+)?\s?/\s?(month|year|week|day|night|hour|person|visit|unit|user|lbs?|kg|"
                  r"litre|liter|l)\b")
PER_UNIT = {"lb": "pound", "lbs": "pound", "kg": "kilo", "l": "litre", "liter": "litre"}  # "$19.95/lb": a pound


def spoken_short_forms(text: str) -> str:
    """What is written short, as said: "Sat 12 December, 9am-12pm slot" → "Saturday 12 December, 9 AM to 12 PM
    slot"; "49 ringgit / month" → "49 ringgit a month"; "19 dollars 95/lb" → "19 dollars 95 a pound"."""
    text = _SHORT_DAY.sub(lambda found: WEEKDAYS[weekday_number(found.group(1))].title(), text)
    text = _CLOCK_SPAN.sub(lambda found: f"{spoken_clock(found.group(1))} to {spoken_clock(found.group(2))}", text)
    return _PER.sub(lambda found: f"{found.group(1) or ''} a {PER_UNIT.get(found.group(2), found.group(2))}", text)


def _named_section(heard: str, passages: list) -> tuple[list, str]:
    """The passages of the section whose heading the question names, every word of it said ("replacement
    cartridges" for "B. Replacement cartridges (katrij ganti)"), and that heading's words; the most words win."""
    said = {word.rstrip("s") for word in catalog_words(heard)}
    best, words, what = [], [], ""
    for heading in dict.fromkeys(passage.heading for passage in passages if " > " in passage.heading):
        name = re.sub(r"\([^)]*\)|\s[—–-]\s.*$|^\W*[A-Z0-9]{1,2}[.)]\s", "", heading.split(" > ")[-1])
        own = [word for word in catalog_words(name) if len(word) > 3 and not word.isdigit()]
        if own and len(own) > len(words) and all(word.rstrip("s") in said for word in own):
            best, words, what = [passage for passage in passages if passage.heading == heading], own, name
    return best, what.strip().lower() if best else ""


def spoken_money(text: str, words: str = "") -> str:
    """Amounts as said aloud: "₹2,999 per month" → "2999 rupees per month", "£39.99" → "39 pounds 99";
    `words` ("Australian dollars") overrides what the symbol says."""
    def say(found: re.Match) -> str:
        unit = words or CURRENCY_WORDS.get(found.group(1), "")
        amount = re.sub(r"[,\s\u00a0\u202f]", "", found.group(2))
        cents = found.group(3)
        return f"{amount} {unit} {cents}" if cents and cents != "00" else f"{amount} {unit}"

    def said_after(found: re.Match) -> str:  # "19,99 zł" → "19 zloty 99"
        unit = words or AFTER_WORDS.get(found.group(3), found.group(3))
        cents = f" {found.group(2)}" if found.group(2) != "00" else ""
        return f"{found.group(1).replace('.', '')} {unit}{cents}"

    text = _GROUPED_BEFORE_CODE.sub(lambda found: re.sub(r"\s", "", found.group(1)), text)
    text = _DECIMAL_COMMA_AFTER.sub(said_after, text)
    text = _WHOLE_AFTER.sub(lambda found: f"{found.group(1)} {words or AFTER_WORDS[found.group(2)]}", text)
    text = _DECIMAL_COMMA.sub(lambda found: f"{found.group(1)}{found.group(2).replace('.', '')}.{found.group(3)}", text)
    return _AMOUNT.sub(say, text)


def greeting_for(company: str, template: str = "") -> str:
    """What every call hears first: the [company] greeting with `{company}` filled in, or the usual one."""
    if template.strip():
        return template.strip().replace("{company}.", f"{unstopped(company)}.").replace("{company}", company)
    return f"Hello, thank you for calling {unstopped(company)}. How can I help you today?"


def goodbye_for(company: str) -> str:
    """What every call hears last."""
    return f"Thank you for calling {unstopped(company)}. Have a great day. Goodbye!"


STILL_THERE = "Are you still there?"


def quiet_goodbye_for(company: str) -> str:
    """What a caller who went quiet hears before the appliance hangs up: why the call ends, and the way back."""
    return f"I can't hear anyone, so I'll end the call now. Please call {company} again any time. Goodbye!"


class Conversation:
    """Holds one call's state; tasks go to the policy, questions to retrieval and the reply model."""

    def __init__(self, company: str, index, responder, now: Callable[[], datetime], country_code: str = "+1",
                 top_k: int = 3, min_score: float = 0.35, caller_id: str | None = None, crm: Crm | None = None,
                 actions=None, whatsapp_online=lambda: False, knowledge: list = (), currency_words: str = "",
                 issue_types: str = Tickets.issue_types, unanswered_expertise: str = "technical", sales_expertise: str = "sales",
                 classifier: IntentClassifier | None = None, catalog: Catalog | None = None,
                 timetable: Timetable | None = None, greeting: str = "",
                 identify_by: str = IDENTIFY_BY, quote_at: float = 0.5):
        self.company = company
        self.greeting_template = greeting
        self.index = index
        self.responder = responder
        self.now = now
        self.top_k = top_k
        self.min_score = min_score
        self.quote_at = quote_at
        self.currency_words = currency_words
        crm = crm or Crm()
        every = index.passages() if index else []  # read once: a conversation is made for every call
        self.catalog = catalog or Catalog.from_passages(every, company)
        self.country_code = country_code
        self.timetable = timetable or (Timetable.from_passages(every) if index else Timetable())
        # every document's sections, for a list asked for by a section's name
        self._sections = list(dict.fromkeys((passage.source, passage.heading) for passage in every))
        self.classifier = classifier or IntentClassifier(index.embedder)
        self.policy = Policy(company, crm, self.classifier, country_code, whatsapp_online, self.catalog,
                             issue_types, unanswered_expertise, sales_expertise, identify_by)
        self.policy.closed_on = lambda day: self.timetable.on_date(day) == "closed"
        self.actions = actions  # an ActionTaker, or None where nothing is to be carried out (tests, `ask`)
        self.knowledge = list(knowledge)  # the whole knowledge base when it is in the warm prompt (prompt.py)
        self.state = CallState(caller_id=caller_id, caller=crm.lead(caller_id))
        self.history: list[dict] = []  # the last question and answer, for a question that refers back
        self.transcript: list[dict] = []  # the whole call, for summaries and handoffs

    def greeting(self) -> str:
        """The proactive greeting, with the company's name."""
        return greeting_for(self.company, self.greeting_template)

    def reprompt(self) -> str:
        """The one question to a caller who has gone quiet."""
        return STILL_THERE

    def goodbye(self) -> str:
        """The polite goodbye before the appliance hangs up."""
        return goodbye_for(self.company)

    def quiet_goodbye(self) -> str:
        """The goodbye to a caller who stayed quiet after being asked whether they are still there."""
        return quiet_goodbye_for(self.company)

    def handover_summary(self, agent_name: str | None = None) -> str:
        """What a person taking the call over hears first (a warm transfer): who is waiting, and why."""
        state = self.state
        hello = f"Hello {agent_name.split()[0]}, this" if agent_name else "Hello, this"
        caller = (state.caller or {}).get("name")
        number = f", calling from {spoken_phone(state.caller_id)}" if state.caller_id else ""
        who = f"I have {caller} on the line{number}." if caller else f"I have a caller on the line{number}."
        said = [turn["content"].removeprefix("Caller: ") for turn in self.transcript if turn["role"] == "user"]
        if state.complaint:
            why = f"They have a complaint: {state.complaint.rstrip('.!?')}."
        elif state.question:
            why = f"They asked: {state.question.rstrip('.!?')}."
        elif len(said) > 1:  # what they said before asking for a person
            why = f"They said: {said[-2].rstrip('.!?')}."
        else:
            why = "They asked to speak to someone."
        if state.slots.get("order_id"):
            why += f" Their order number is {spoken_id(state.slots['order_id'])}."
        return f"{hello} is the {self.company} phone assistant. {who} {why} I'm putting them through now."

    def offer_callback(self, agent_name: str | None = None) -> str:
        """A transfer nobody answered: say so and offer a callback; the caller's next words can book it."""
        self.state.waiting_for, self.state.waiting_intent = "callback_time", "callback_request"
        self.state.agent = None
        who = agent_name or "our team"
        return (f"I'm sorry, {who} couldn't take your call just now. I can have someone call you back. "
                f"When would be a good time?")

    def spoken(self, sentence: str) -> str:
        """A sentence as it is said on the line: amounts in words of this company's currency."""
        return spoken_short_forms(spoken_dates(spoken_money(sentence, self.currency_words), self.country_code == "+1"))

    def _understand(self, heard: str, state: CallState, now: datetime) -> tuple[dict, str | None]:
        """Details and the task in the caller's words, into `state`; the intent is None for a question."""
        found = self.policy.read(heard, state, now)
        intent = self.policy.intent(heard, state)
        if intent != "speak_to_human":
            state.offered_specialist = False  # an offer stands for the next turn only
        return found, intent

    def reply(self, heard: str, on_text: Callable[[str], None] | None = None,
              confidence: float | None = None) -> TurnReply:
        """Answer one caller turn; the spoken text streams to `on_text` as it is generated. `confidence` is the
        speech recognizer's (None for keyed or typed words): a number heard with little of it is read back."""
        now = self.now()
        self.state.confidence = confidence
        confirming = self.state.waiting_for in READ_BACKS
        found, intent = self._understand(heard, self.state, now)
        if intent:
            if intent.startswith("send_details") and (not self.state.topic or not self._fits_topic(heard)):
                # "send me those vaccination prices": the document they are in, whatever was talked about last
                self._find_topic(heard)
            elif intent.startswith("send_details"):  # "text me those Christmas hours": the passages about them
                self.state.asked_for = heard if names_something(heard) else None
            reply = self.policy.reply(intent, self.state, now)
            unordered = "create_ticket" in reply.actions and not reply.entities.get("order_id")
            if intent == "complaint" and not self.state.advised and (unordered or FAULT.search(heard)):
                reply = self._with_advice(heard, reply)  # "it's leaking!": close the valve, whatever the order
            if self.actions and reply.actions:
                said = self.transcript + [{"role": "user", "content": f"Caller: {heard}"}]
                reply = self.actions.take(reply, self.state, said, now)
            if confirming:
                reply = self._and_question(heard, found, reply)  # "Yep, that's it. And do I salt the water?"
            ends = intent == "goodbye"
            if not ends and FAREWELL.search(heard) and not reply.needs_clarification and not reply.escalate_to_human:
                # "Perfect, send it. Thanks, bye.": done, and the call ends as the caller said
                reply = dataclasses.replace(reply, immediate_response=f"{reply.immediate_response} {self.goodbye()}")
                ends = True
            if on_text:
                on_text(reply.immediate_response + " ")
            self._remember(heard, reply, knowledge=False)
            return TurnReply(reply, [], {}, ends_call=ends)
        if self.state.waiting_for in READ_BACKS:
            # "Is that the one?" answered with another question: the yes or no asked for is not coming, and a later
            # "fine, goodbye" is no answer to it
            self.state.waiting_for = self.state.waiting_intent = None
        asked, ours = self._without_our_name(heard)
        if ours and not asked:  # "Hello, is this the lobster place?" and nothing more: yes, and what can we do
            reply = Reply(f"{ours} How can I help you today?", "greeting", {**self.state.slots})
            if on_text:
                on_text(reply.immediate_response + " ")
            self._remember(heard, reply, knowledge=False)
            return TurnReply(reply, [], {})
        if ours and on_text:
            on_text(ours + " ")
        result = self._knowledge(asked, found, self.state, on_text)
        if ours:
            result.reply = dataclasses.replace(result.reply,
                                               immediate_response=f"{ours} {result.reply.immediate_response}")
        self._remember(heard, result.reply, knowledge=True)
        return result

    def _and_question(self, heard: str, found: dict, reply: Reply) -> Reply:
        """A yes to a read-back said with a question of its own ("Yep, that's it. Oh, and do I put salt in the water
        or no?"): the question is answered after what the yes does, not lost to it."""
        question = " ".join(sentence for sentence in questions_in(heard) if len(sentence.split()) >= 4)
        if not question or reply.needs_clarification:
            return reply
        answer = self._knowledge(question, found, self.state, None).reply
        if not answer.used_knowledge:
            return reply
        return dataclasses.replace(reply, immediate_response=f"{reply.immediate_response} {answer.immediate_response}",
                                   used_knowledge=True)

    def _with_advice(self, heard: str, reply: Reply) -> Reply:
        """A fault reported with no order ("the boiler cut out, there's a red light flashing") gets its ticket and,
        where the documents say what to do about it, their own sentences, after the apology."""
        heard, _ = self._without_our_name(heard)  # "Hello, is that Corrib Oil?" is no part of the fault
        advice = self._section_on(FAULT.search(heard)) or self._quoted(heard)
        if not advice:
            return reply
        self.state.advised = True
        sorry, _, rest = reply.immediate_response.partition(". ")
        return dataclasses.replace(reply, immediate_response=f"{sorry}. {self.spoken(advice)} {rest}",
                                   used_knowledge=True)

    def _quoted(self, words: str) -> str | None:
        """The documents' own sentence that answers `words`, said in passing (a fault, a question beside another);
        None when none is close enough."""
        passages = self.index.search(words, k=self.top_k, min_score=self.min_score) if self.index else []
        return extractive(words, passages, self.index.embedder.embed, min_score=self.quote_at,
                          sections=False) if passages else None

    def _section_on(self, fault: re.Match | None) -> str | None:
        """The first line of the documents' section headed by the fault's word ("leaking": "4. LEAKS"), which says
        what to do first; None when no section is headed so."""
        if fault is None or not self.index:
            return None
        stem = fault.group(0).lower()[:4]
        for passage in self.index.search(fault.group(0), k=self.top_k):
            if " > " in passage.heading and any(word.startswith(stem) for word in
                                                catalog_words(passage.heading.split(" > ")[-1])):
                lines = [speakable(line) for line in _unwrapped(plain(passage.text)) if line.strip()]
                return next((line if line.endswith((".", "!")) else line + "." for line in lines
                             if 3 <= len(line.split()) <= 40), None)
        return None

    def _without_our_name(self, heard: str) -> tuple[str, str]:
        """"Hello, is that Corrib Oil? The boiler's cut out...": (the question without the check of who answered,
        "Yes, this is Corrib Oil & Heating."), so the model answers the question, not the check; (heard, "")
        when no such check was made or there is nothing else."""
        ours = set(re.findall(r"[a-z']{3,}", self.company.lower()))
        sentences = re.split(r"(?<=[.!?])\s+", heard)
        kept = [s for s in sentences if not ((found := ASKS_FOR_NAME.search(s) or ASKS_IF_US.search(s)) and set(
            re.findall(r"[a-z']{3,}", found.group(1).lower())) & ours and len(s.split()) <= 8)]
        if len(kept) == len(sentences):
            return heard, ""
        return " ".join(kept), f"Yes, this is {unstopped(self.company)}."

    def _find_topic(self, heard: str) -> None:
        """What a caller wants sent when no document's name was heard: the document that fits the request
        clearly better than any other, or none (the caller is then asked)."""
        if not self.index:
            return
        offer = self.catalog.offer(heard)
        if offer is not None and hasattr(self.index, "document"):  # "the details of the Rent-to-own plan"
            passages = self.index.document(offer.source)
            if passages:
                self.state.topic = title_of(passages[0].heading, self.company)
                return
        best: dict[str, object] = {}  # each document's first passage in the search's order
        # searched by what is wanted, not by how it is to be sent ("...on my email" would find the ordering page)
        wanted = " ".join(word for word in re.findall(r"[\w']+", heard) if word.lower() not in SENDING_WORDS)
        for passage in self.index.search(wanted if wanted_words(heard) else heard, k=6):
            best.setdefault(passage.source, passage)
        ranked = sorted(best.values(), key=lambda passage: passage.score, reverse=True)
        # A request that names what it wants ("the address of your showroom", "your bank details") takes the best
        # document even when another is close: what is sent is that document's passages nearest the request.
        named = names_something(heard)
        if ranked and ranked[0].score >= TOPIC_MIN_SCORE and (len(ranked) == 1 or named
                                                             or ranked[0].score - ranked[1].score >= TOPIC_MARGIN):
            self.state.topic = title_of(ranked[0].heading, self.company)
            self.state.asked_for = heard if named else None

    def _fits_topic(self, heard: str) -> bool:
        """Whether what a request to send names is in the document talked about last: "the full terms" after the
        returns terms is, "those vaccination prices" after the shop's delivery terms is not; a request that names
        nothing keeps it."""
        sent = SENT_THING.search(heard)
        wanted = {word.rstrip("s") for word in wanted_words(sent.group("what"))} - GENERIC_THINGS if sent else set()
        source = next((name.source for name in self.catalog.topics if name.text == self.state.topic), None)
        if not wanted or source is None or not hasattr(self.index, "document"):
            return True
        text = " ".join(f"{passage.heading} {passage.text}" for passage in self.index.document(source)).lower()
        return any(re.search(rf"\b{re.escape(word)}", text) for word in wanted)

    def _question_intent(self, state: CallState) -> str:
        """policy_query or product_query, as the classifier read the question."""
        found = state.reading.best(QUESTIONS, -1.0) if state.reading else None
        return found[0] if found else "product_query"

    def _knowledge(self, heard: str, found: dict, state: CallState, on_text) -> TurnReply:
        """A question answered from the knowledge base: in code for a list, by the reply model otherwise."""
        say = on_text or (lambda text: None)
        before, state.question = state.question, heard
        stages: dict[str, float] = {}
        start = time.perf_counter()
        hours = self.timetable.answer(heard, self.now())
        if hours is None and state.hours_asked and FOLLOW_UP.search(heard):  # "...and how about the 24th?"
            hours = self.timetable.answer(f"Are you open {FOLLOW_UP.sub(' ', heard)}", self.now())
        state.hours_asked = hours is not None
        if hours:  # "are you open on Sunday?": said from the timetable in the documents, not by the model
            hours = self.spoken(hours)
            # "Where are you, exactly? And what time do you close today?": the other question is answered too, with
            # the documents' own sentence when one is close enough
            others = " ".join(part for part in questions_in(heard) if not HOURS_ASKED.search(part))
            quoted = self._quoted(others) if others else None
            hours = f"{self.spoken(quoted)} {hours}" if quoted else hours
            reply = Reply(hours, self._question_intent(state), {**state.slots}, used_knowledge=True)
            say(hours + " ")
            stages["retrieval"] = (time.perf_counter() - start) * 1000
            return TurnReply(reply, [], stages)
        named = self._listed_item(heard) or self.catalog.offer(heard) or self.catalog.topic(heard)
        refers = state.topic is not None and REFERRING.search(heard) is not None
        queries = [heard]
        asked = " ".join(questions_in(heard))
        if asked and asked != heard.strip():  # "We're a small real estate office. What plans do you have for
            queries.append(asked)  # companies?": the question alone, which what was said before it blurs
        if named:  # "what comes with the Gold option?": also the passage of the name the caller said
            queries.append(f"{heard} ({named.text})")
        elif refers:  # "the cheaper one" after a list of offers
            queries.append(f"{heard} ({state.topic})")
        about = heard  # what the answer must be about: the question, or the complaint it refers to
        if state.complaint and REFERRING.search(heard) and not named:
            about = f"{heard} ({state.complaint})"  # "so what are you going to do about it?"
            queries.append(about)
        found: dict = {}
        for query in queries:  # each passage at its best score over the queries
            for passage in self.index.search(query, k=self.top_k, min_score=self.min_score):
                key = (passage.source, passage.heading, passage.text)
                if key not in found or passage.score > found[key].score:
                    found[key] = passage
        if not found and before:  # "what about Saturday then?": a follow-up is read with the question before it
            for passage in self.index.search(f"{before} {heard}", k=self.top_k, min_score=self.min_score):
                found[(passage.source, passage.heading, passage.text)] = passage
        passages = sorted(found.values(), key=lambda passage: passage.score, reverse=True)[:self.top_k]
        stages["retrieval"] = (time.perf_counter() - start) * 1000
        intent = self._question_intent(state)
        if not passages and asked_list(heard):
            listed = self._overview_below_floor(queries)
            if listed:
                reply = Reply(listed, intent, {**state.slots}, used_knowledge=True)
                say(reply.immediate_response + " ")
                return TurnReply(reply, [], stages)
        if not passages:
            state.offered_specialist = True
            reply = Reply(NO_ANSWER, intent, found, escalate_to_human=True)
            say(reply.immediate_response + " ")
            return TurnReply(reply, [], stages)
        state.topic = title_of(passages[0].heading, self.company)
        overview = self._overview(heard, self._listed_source(heard, passages)) or self._contents(heard) or \
            self._price_of(heard, passages)
        if overview:
            reply = Reply(overview, intent, {**state.slots}, used_knowledge=True)
            say(reply.immediate_response + " ")
            return TurnReply(reply, passages, stages)
        priced = PRICE_ASKED.search(heard) is not None  # "how much is...": only a sentence with an amount answers it
        # "and how much is it?" leans on what came before, which only the model reads; "roughly how much is a new
        # tank, a normal house one?" says enough of its own to be answered from the documents' sentences
        own_words = {word for word in re.findall(r"[a-z']+", heard.lower()) if len(word) > 3} - ASKING_WORDS - \
            FUNCTION_WORDS
        leans = refers and len(own_words) < 3
        quoted = None if leans else extractive(about, passages, self.index.embedder.embed, min_score=self.quote_at,
                                                priced=priced)
        if quoted:  # the documents' own sentence answers it: said now, with nothing the model could get wrong
            state.topic = title_of(quoted_from(quoted, passages).heading, self.company)  # "email me those steps"
            quoted = self.spoken(quoted)
            reply = Reply(quoted, intent, {**state.slots}, used_knowledge=True)
            say(quoted + " ")
            return TurnReply(reply, passages, stages)
        history = self.history if refers else []  # only a question that refers back needs the one before it
        # Each clause the model says is checked against the passages before the caller hears it (grounding.py).
        checked = Grounded(passages, heard, say)
        result = self.responder.respond(messages(self.company, heard, passages, history, self.knowledge),
                                        on_text=checked.push)
        checked.finish()
        stages["llm_first_token"] = result.first_token_ms
        stages["llm_total"] = result.total_ms
        stages["llm_prompt_tokens"] = float(result.evaluated_tokens)
        answer = result.reply
        said, used, escalate = [checked.text], answer.used_knowledge, answer.escalate_to_human
        if escalate:  # the appliance's own offer, never the model's words for it
            said.append(OFFER if checked.text else NO_ANSWER)
        elif checked.failed or not checked.text:
            # An answer that says we do, or do not, offer something the documents never mention shows they do not
            # cover what was asked: someone who knows is offered, not a sentence about something else.
            uncovered = any(why.endswith("never mention") for _, why in checked.dropped)
            quoted = None if uncovered else extractive(about, passages, self.index.embedder.embed, priced=priced,
                                                       min_score=FALLBACK_QUOTE)
            if quoted is None:
                said.append(CONFIRM)
                escalate = True
                used = used and bool(checked.text)  # nothing from the documents was said
            else:
                said.append(quoted)
                used = True
        elif says_nothing_new(checked.text, heard):  # "Yes, there is an app for your phone.": and the documents' words
            quoted = extractive(about, passages, self.index.embedder.embed, priced=priced, min_score=FALLBACK_QUOTE)
            if quoted and not says_nothing_new(quoted, checked.text):
                said.append(quoted)
        for extra in said[1:]:
            say(extra + " ")
        if escalate:
            state.offered_specialist = True
        reply = Reply(" ".join(filter(None, said)), intent, {**state.slots}, used_knowledge=used,
                      escalate_to_human=escalate)
        return TurnReply(reply, passages, stages)

    def _overview_below_floor(self, queries: list[str]) -> str | None:
        """The list a question about the whole list asks for, from passages under min_score (OVERVIEW_FLOOR)."""
        for query in queries:
            passages = self.index.search(query, k=self.top_k, min_score=OVERVIEW_FLOOR)
            listed = self._overview(query, self._listed_source(query, passages)) if passages else None
            if listed:
                self.state.topic = title_of(passages[0].heading, self.company)
                return listed
        return None

    def _listed_source(self, heard: str, passages: list) -> str:
        """The document a question about a whole list is about: among the retrieved ones, the first whose title or
        headings name what is asked for ("what plans do you have?" → the one with "plans" in a heading)."""
        found = asked_list(heard)
        if found:
            asked = found.rstrip("s")
            for passage in passages:
                if asked in passage.heading.lower() or asked in passage.source.lower():
                    return passage.source
            for name in self.catalog.topics:  # a document titled so, even if another came first in the search
                if asked in name.text.lower():
                    return name.source
            for source, heading in self._sections:  # ...or with a section headed so ("## Gift boxes")
                if asked in heading.split(" > ")[-1].lower():
                    return source
        return passages[0].source

    def _listed_item(self, heard: str):
        """The item of the list just said that "the middle one", "the second option" or "the cheapest" points at."""
        listed = self.state.listed
        found = ORDINAL.search(heard) if listed else None
        if not found:
            return None
        word = found.group(1).lower()
        if word in ("cheapest", "most expensive", "dearest"):
            return None  # left to the passages: the list's order need not be by price
        place = {"first": 0, "top": 0, "second": 1, "third": 2, "fourth": 3, "last": -1, "bottom": -1,
                 "middle": len(listed) // 2 if len(listed) % 2 else None}.get(word)
        if place is None or place >= len(listed):
            return None
        return next((name for name in self.catalog.offers if name.text == listed[place]), None)

    def _price_of(self, heard: str, passages: list = ()) -> str | None:
        """"How much is a full service, and do you do e-bikes?": the price of each thing the caller names, read from
        the documents in code. A name counts when every word of it is said ("full service" is not "standard
        service"), or, in a short question ("what does the basic one cost?"), when it is the one offer the words
        point to. A clause that asks about something else as well ("installation for the Gold plan in a remote
        area") leaves the answer to the documents' sentences or the model; another clause ("...and is there a
        deposit?") is answered after the prices with the documents' own sentence, when one is close enough."""
        if not PRICE_ASKED.search(heard):
            return None
        named = self.catalog.named_in(heard)
        if not named:
            offer = self.catalog.sole_offer(heard)
            price = self.catalog.prices.get(offer.text, "") if offer else ""
            if not PRICE.search(price):
                return None
            named = [(offer.text, price, set(catalog_words(offer.text)))]
        names = set().union(*(words for _, _, words in named))
        clauses = re.split(r"(?<=[?.!,])\s+(?:and\s+)?|\s+and\s+", heard)
        about = [clause for clause in clauses if names & set(catalog_words(clause))]
        rest = [clause for clause in clauses if clause not in about]

        def other_words(text: str) -> set[str]:
            return {word for word in catalog_words(text) if len(word) > 3} - ASKING_WORDS - names

        if len(other_words(" ".join(about))) > 2:
            return None
        if len(named) == 1:
            answer = f"{named[0][0]} costs {named[0][1]}."
        else:
            answer = " ".join(f"{text}: {price}." for text, price, _ in named)
        if len(other_words(" ".join(rest))) > 2:
            more = extractive(" ".join(rest), passages, self.index.embedder.embed, most=1, min_score=self.quote_at,
                              priced=True) if passages else None
            if more and not any(numbers(price) & numbers(more) for _, price, _ in named):
                answer = f"{answer} {more}"
        return self.spoken(answer)

    def _contents(self, heard: str) -> str | None:
        """"What do I get with the Gold plan?": the section of the one offer the caller names, said as its name, its
        price and what it lists ("Gold plan: 12 pounds a month. It includes two visits a year, ...").
        None when no one offer is named, or its section is no short list of its own."""
        if not CONTENTS.search(heard) or not hasattr(self.index, "document"):
            return None
        offer = self._listed_item(heard) or self.catalog.sole_offer(heard)
        if offer is None:
            return None
        section = next((passage for passage in self.index.document(offer.source)
                        if catalog_words(passage.heading.split(" > ")[-1])[:len(catalog_words(offer.text))]
                        == catalog_words(offer.text)), None)
        if section is None:
            return None
        lines = [speakable(line).rstrip(".") for line in plain(section.text).splitlines()]
        items = [line for line in lines if line and not PRICE.fullmatch(line)]
        if not 2 <= len(items) <= MAX_CONTENTS or any(len(item.split()) > 12 for item in items):
            return None
        items = [item if item.split()[0].isupper() else item[0].lower() + item[1:] for item in items]  # "API" kept
        price = self.catalog.prices.get(offer.text, "")
        opening = f"{offer.text}: {price}." if price else f"{offer.text}."
        listed = ", ".join(items[:-1]) + f" and {items[-1]}"
        return self.spoken(f"{opening} It includes {listed}.")

    def _overview(self, heard: str, source: str) -> str | None:
        """For a question about the whole list, what the document offers and what each costs, said in code from
        its content (priced sections or table rows, catalog.priced_items); None when it lists no such things."""
        found = asked_list(heard)
        if not hasattr(self.index, "document") or not (found or PRICE_ASKED.search(heard)):
            return None
        passages = self.index.document(source)
        named, what = _named_section(heard, passages)  # "the price of the replacement cartridges, all the models?"
        if len(priced_items(named)) >= 2 and (found or not self.catalog.named_in(heard)):  # not "...for the U4 set?"
            passages = named
        elif not found:
            return None
        else:
            what = found  # "what plans do you have?" in a price list: its plans' section, unless
            section = [passage for passage in passages if what.rstrip("s") in passage.heading.split(" > ")[-1].lower()]
            whole = any(what.rstrip("s") in passage.heading.split(" > ")[0].lower() for passage in passages)
            if len(priced_items(section)) >= 2 and not whole:  # the whole document is about plans ("Care Plans")
                passages = section
        items = priced_items(passages)
        if len(items) < 2:
            return None
        intro = plain(next((p.text for p in passages if " > " not in p.heading), ""))
        first = re.split(r"(?<=[.!?])\s", intro.strip(), maxsplit=1)[0] if intro.strip() else ""
        if not first or len(first) > 160 or not first.endswith((".", "!")):
            first = f"There are {len(items)} {what}."
        self.state.listed = [name for name, _ in items]  # "the middle one" next refers to these
        listed = " ".join(f"{self.spoken(f'{name}: {price}')}." for name, price in items)
        return f"{first} {listed} Would you like the details of one of them?"

    def _remember(self, heard: str, reply: Reply, knowledge: bool) -> None:
        said = [{"role": "user", "content": f"Caller: {heard}"}, {"role": "assistant", "content": reply.immediate_response}]
        self.transcript += said
        if knowledge:
            self.history = said  # the last question the model answered, for one that refers back to it
