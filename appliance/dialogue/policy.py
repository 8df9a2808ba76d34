"""The dialogue policy: what the caller's reading means at this point of the call, what is still missing,
and what to do.

The intent classifier (intents.py) reads each clause of a turn by meaning; code reads the details (numbers,
emails, times, order IDs checked against the orders table, names from the knowledge base's own headings).
The policy puts them together with the call's state: a bare "yes" accepts what was just offered, "no
thanks, but when does it come?" is a question, not a goodbye. Hard rules are kept only for safety.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from appliance.dialogue import entities
from appliance.dialogue.catalog import Catalog
from appliance.dialogue.entities import MONTHS, WEEKDAYS
from appliance.dialogue.hours import spoken_clock
from appliance.dialogue.intents import ACTS, QUESTIONS, IntentClassifier, Reading
from appliance.llm.reply import Reply

log = logging.getLogger(__name__)

# Channels named outright win over the classifier's guess between them ("what's app" is not a channel).
CHANNELS = ((re.compile(r"\bwhats\s?app\b", re.I), "send_details_whatsapp"),
            (re.compile(r"\b(e-?mail(ing|ed)?|inbox)\b", re.I), "send_details_email"),
            (re.compile(r"\b(sms|text(ed)?( message)?|texting|(my|the|a) (cell|cellphone|cell phone|mobile|phone))\b",
                        re.I), "send_details_sms"))
# Asking for other people's data: refused whatever the wording, before any task is considered.
OTHERS_DATA = re.compile(r"\b(all|every|other|another|list of|export|dump)\b[\w\s']{0,24}\b(customers?|clients?|callers?|"
                         r"users?|leads?|contacts|phone numbers|numbers|emails|addresses|records|database|data)\b"
                         r"|\b(customer|client) (database|list|records|data)\b", re.I)
# ...or one other person's: "the phone number and email of Petr Dvorak", "his address", "Mrs Fahy's delivery day",
# "she is your customer". Said with a request for them, it is refused the same way.
CONTACT_DATA = r"(phone number|phone|mobile( number)?|number|e-?mail( address)?|address|contact( details)?|details)"
THIRD_PARTY = re.compile(rf"\b(his|her|their)\s+(own\s+)?{CONTACT_DATA}\b|\b(mr|mrs|ms|miss|dr)\.? [A-Z][a-z]+'s\b|"
                         rf"\b(he|she) is (a |one of )?your (customers?|clients?)\b|\b(customer|client|neighbou?r)'?s? "
                         rf"{CONTACT_DATA}\b", re.I)
# "the phone number and the email of Petr Dvorak": another person's only when the turn says it is a person (he, she,
# a customer), not "the number of the Galway office".
NAMED_CONTACT = re.compile(rf"\b{CONTACT_DATA} (and [\w ]{{1,20}} )?(of|for) (mr|mrs|ms|miss|dr)?\.?\s*[A-Z][a-z]+")
PERSON_CUE = re.compile(r"\b(he|she|him|his|her|customer|client|neighbou?r|friend)\b", re.I)
ASKING_FOR = re.compile(r"\b(need|want|give|tell|send|share|read|what(')?s|what is|what are|let me have|can i have|"
                        r"could i have|look up)\b", re.I)
ORDER_NOUN = re.compile(r"\b(order|booking|docket|reservation|purchase|parcel|package|shipment|delivery|tracking)\b",
                        re.I)
ON_FILE = re.compile(r"\b(on file|(that|which) you (already )?have|you('ve| have) (already )?got|the one you have|"
                     r"(my|the) (usual|registered) (e-?mail|address))\b", re.I)
# Asking for something to be sent; not "no text, no call" or "nobody texted me", which say what did not happen.
SEND = re.compile(r"(?<!\bno )(?<!\bnot a )(?<!n't )\b(send|forward|share|mail|e-?mail(ing)?|text(ing)?|sms|whats\s?app)\b",
                  re.I)
HANDING_OVER = re.compile(r"\b(send|share|forward|e-?mail|mail|text|give|read|tell|list|export|dump|copy)\b", re.I)
REFUSAL = ("I'm sorry, I can't share other customers' information or anything from our internal systems. "
           "I can send you our public documents or details of your own account.")
# Whose order it is: the proofs that count, and what a caller hears who has not given one. The words are the same
# whether or not the order exists, so a caller guessing order numbers learns nothing.
IDENTIFY_BY = "caller_id, detail"
DETAIL_TRIES = 2
NOT_ON_THIS_NUMBER = "I can't find order {heard} for the number you're calling from."
ASK_DETAIL = (" If I heard it wrong, please say it again or key it in. Otherwise, to look it up, could you tell me "
              "the phone number the order was placed with?")
NO_MATCH = ("I couldn't match that number to the order. Could you say it again, digit by digit, or key it in on "
            "your keypad?")
NOT_FOUND = ("I'm sorry, I couldn't find that order with those details, so I can't share anything about it. I've "
             "asked our team to look into it: if the order is yours, they'll call you on the number we have on "
             "file for it.")
CONFIRM_BELOW = 0.5  # a number heard with less recognition confidence than this is read back first
FAREWELL = re.compile(r"\b(bye|goodbye|bye-bye|bye now|see (ya|you)( later| soon| then)?|cheerio|ta-ra|catch (you|ya)( later)?|"
                      r"cheers( mate| then)?|take care|have a good (one|day|night|weekend)|"
                      # wishes that close a call: "Happy Christmas when it comes!", "Merry Christmas to you all"
                      r"(?<![\w,] )(happy|merry) (?!with|to\b|for\b|about|enough|now)\w+( \w+)?( when it comes| to you( all| too)?)?|"
                      # said in the caller's own language, as many do at the end of an English call
                      r"do widzenia|do zobaczenia|do us[lł]yszenia|na razie|tsch[uü]ss|auf wiedersehen|adi[oó]s|"
                      r"hasta luego|ciao|chao|arrivederci|au revoir|tchau|at[eé] (logo|mais)|tot ziens|doei|hej d[aå]|"
                      r"farvel|ha det( bra)?|n[aä]kemiin|kwaheri|totsiens|paalam|jumpa lagi|sampai jumpa|t[aạ]m bi[eệ]t|"
                      r"ma'?a (el )?salama|alvida|sayonara|na shledanou|viszontl[aá]t[aá]sra|la revedere|dovi[dđ]enja"
                      r")\W*$", re.I)
# An order's status that says it has happened: its date is when it did, not when it should
DONE = re.compile(r"\b(delivered|collected|completed?|ready|cancell?ed|refunded|returned|picked up|done|finished)\b", re.I)
# Words without which nothing was said to have gone wrong with an order ("it hasn't come", "still nothing")
NEGATIVE = re.compile(r"\b(not|never|no|nothing|n't|wrong|still|yet|late|missing|again)\b|n't\b", re.I)
# A short turn of thanks or "that's all", with nothing asked: the caller is done
CLOSING = re.compile(r"\b(thanks|thank you|cheers|ta|that's all|that is all|that's everything|that's it|that's me|noted|"
                     # thanks in the caller's own language
                     r"dzi[eę]kuj[eę]|dzi[eę]ki|danke|gracias|merci|grazie|obrigad[oa]|dank je|dankie|asante|salamat|"
                     r"terima kasih|c[aả]m [oơ]n|shukran|dhanyavaad|shukriya|arigato|tack|takk|kiitos|d[eě]kuji|d[ií]ky|"
                     r"k[oö]sz[oö]n[oö]m|mul[tț]umesc|hvala)\b", re.I)
# A yes said outright, which a thank-you after it does not turn into a goodbye: "yes please, thanks"
WANTS_IT = re.compile(r"\b(yes|yeah|yep|yup|please|sure|go ahead|connect|put me through|that would be)\b", re.I)
# "I'll get her to ring you": the caller's side will call, which asks for no callback.
THEY_WILL_CALL = re.compile(r"\b(ring|call|phone|contact) you\b", re.I)
PERSON = re.compile(r"\b(speak|talk|put me (through |on |onto |across )?to|put me (through|on|onto|across)|connect me|"
                    r"transfer me)\b.{0,30}\b(someone|somebody|a person|a human|"
                    r"an agent|your team|a manager|a representative|a real person|(a|an|the|your) (doctor|vet|nurse|"
                    r"manager|supervisor|accountant|technician|engineer|specialist|advisor|adviser|consultant|"
                    r"receptionist|owner)|(your|the) \w+ (team|department|office|desk))\b", re.I)
# ...or by name, with the capitals a name is written with: "can I speak to Priya?", "I'd like to talk with Mr Osei".
NAMED_PERSON = re.compile(r"\b(?:[Ss]peak|[Tt]alk) (?:to|with) (?:(?:Dr|Mr|Mrs|Ms)\.? )?[A-Z][a-z'-]+")
# ...asked for outright: "could I talk to somebody who...", "I'd like to speak to someone", "put me through to".
ASKS_FOR_PERSON = re.compile(r"\b((can|could|may) (i|we) (please )?(speak|talk)|(i'd|i would|we'd|we would|i want|"
                             r"i need|we need|i wanna) (like )?to (speak|talk)|put me (through|on|onto|across|to)|"
                             r"connect me|transfer me)\b",
                             re.I)
# A caller owning up to a wrong number: "I've dialled wrong", "my mistake", "sorry for disturbing you"
MISDIALLED = re.compile(r"\b(wrong (number|one|line|place)|dial(l)?ed (it )?wrong|misdial\w*|(my|a) mistake|my bad|"
                        r"sorry (for|to) (disturb|bother|trouble)\w*)\b", re.I)
# "put me through to accounts", "just put me through": to be put through is to a person, whatever the desk
PUT_THROUGH = re.compile(r"\b(put me (through |across |on |onto )?to|transfer me to|connect me (to|with)) (the )?[a-z]+|"
                         r"\b(just |please )?put me through\b(?! to)", re.I)
OTHER_QUESTION_MIN = 0.6  # a question this sure, asked while a detail is awaited, is a new question
# What the caller is asked to say yes or no to: a detail read back before it is used.
READ_BACKS = ("email_confirmation", "order_confirmation", "number_confirmation")
# Words of a caller who is fed up: with an order's status asked for, the call is a complaint (and gets a ticket).
ANGER = re.compile(r"\b(ridiculous|unacceptable|disgrace(ful)?|fed up|sick of|furious|angry|outrageous|useless|upset|"
                   r"scandal(ous)?|shocking|unbelievable|absurd|shameful|disgusting|pathetic|a joke|"
                   r"(really|very|so) (annoyed|frustrated|disappointed)|you promised|not (too |very |at all |really )?"
                   r"happy|(that's|it's|this is) (just |simply )?not (right|on|fair)|"
                   r"terrible|appalling|worst|(third|fourth|fifth) time|complain(t)?|not good enough|sort(ed)? (this|it) "
                   r"out|wasted (my|our) (whole |entire )?\w+|(nobody|no one|no-one) (even )?(came|come|showed up|"
                   r"turned up)\b.{0,30}\b(nobody|no one|no-one) (even )?(call(ed)?|rang|ring|phoned|told))\b", re.I)
# Words of a fault in something the caller has: what the documents advise about it is said with the apology
FAULT = re.compile(r"\b(broken|damaged|cracked|dented|faulty|defective|scratched|leak\w*|smashed|torn|stopped working|"
                   r"doesn't work|does not work)\b", re.I)
ISSUE_CUES = (
    (re.compile(r"\b(late|delayed|still (not|hasn't|isn't|haven't)|not (here|arrived|received|delivered)|"
                r"(haven't|hasn't|never) (received|got|arrived|come|turned up)|meant to (be|arrive|come)|was due|"
                r"waiting (for|since))\b", re.I), "an order or delivery that is late or has not arrived"),
    (FAULT, "something arrived broken, damaged or faulty"),
    (re.compile(r"\b(wrong (item|colou?r|size|model|one|thing|order)|not what (i|we) ordered|should (have )?be(en)?|"
                r"missing|short)\b", re.I), "the wrong item or quantity was sent"),
    (re.compile(r"\b(charged|overcharged|invoice|bill(ed|ing)?|refund|double[- ]charged|payment)\b", re.I),
     "a wrong charge, invoice or refund"),
)
# Words that make "order" a caller's own order, not ordering in general ("what's the last day I can order?").
OWN_ORDER = re.compile(r"\b(my|our|mine|i (ordered|bought|placed|paid)|(an|the|this|that) (order|delivery|parcel|"
                       r"package)|order (number|id|no)|status|track(ing)?|where('s| is| are)|shipped|dispatched|arriv\w*|"
                       r"deliver(ed|y)? (yet|today|tomorrow))\b", re.I)
# A question about what may be done or how long things take ("how long will my parcel wait in the locker?", "can
# I cancel it and get my money back?"), for the documents to answer, unless the order's state is asked as well.
ASKS_A_RULE = re.compile(r"\b(how long|how many (days|hours|weeks)|until when|till when|(can|could|may) (i|we|she|he|they|"
                         r"someone|somebody|my \w+)|is it possible|what (happens|if)|how do (i|we)|do (i|we) (have|need) "
                         r"to|am i allowed)\b", re.I)
STATE_ASKED = re.compile(r"\b(where|status|track\w*|arriv\w*|dispatched|shipped|on (its|their) way|yet|late|delayed|"
                         r"when (will|is|are|does|do|can i expect)|still (not|hasn't|haven't|isn't)|not (here|arrived|"
                         r"received|delivered))\b", re.I)
# A message the caller had from us, told of, not asked for: "I got an SMS that my parcel is waiting, but I deleted it"
GOT_MESSAGE = re.compile(r"\b(got|get|received|receive|had|deleted|lost|saw|missed) (an?|the|your|this|that|my) "
                         r"(sms|text( message)?|e-?mail|message|notification|whats\s?app)\b", re.I)
SEND_ASKED = re.compile(r"\b((send|resend|forward|text|e-?mail|whats\s?app) (me|it|us|again|this|that|them)|"
                        r"(can|could|would|will|please)\b[^.?!]{0,30}\b(send|resend|forward))\b", re.I)
# A question about the order just told of, by its pronoun: "and until when I have to pick it up?", "when will it come?"
ORDER_FOLLOW_UP = re.compile(r"\b(until when|by when|how long|what time|when)\b.*\b(it|they|them)\b|\b(it|they|them)\b.*"
                             r"\b(pick(ed)? up|collect\w*|arriv\w*|deliver\w*|come|get here|be (here|there|ready))\b", re.I)
# Words that move something already arranged: "make it Thursday", "change it to ten", "can we do Friday instead?"
MOVES = re.compile(r"\b(make it|change (it|that)|move (it|that)|instead|rather|actually|better|can't (do|make)|"
                   r"won't be (there|here|in|around|free|available)|not (free|available|around))\b", re.I)
# A mistake the caller owns ("she chose the wrong locker"): no complaint about the business.
OWN_MISTAKE = re.compile(r"\b(i|we|she|he|they|my \w+)( \w+)? (chose|picked|selected|entered|typed|gave|put in|wrote|used|"
                         r"bought|booked|ordered) (the |a )?wrong\b", re.I)
# "Is it done yet?", "is my bike ready?": the state of the caller's own job or order asked, in any trade's words.
STATUS_ASKED = re.compile(r"\b((is|are) (it|they|my \w+|the \w+) (done|ready|finished|fixed|sorted|repaired|back|"
                          r"on (its|their) way|out for delivery)|(ready|done|finished) yet)\b", re.I)
# A caller who decides to buy, not one who asks how buying works.
COMMITS = re.compile(r"\b(i'd like|i would like|we'd like|we would like|i want|we want|i'll take|we'll take|"
                     r"let's|go ahead|sign (me|us) up|i'm ready|we're ready|book (me|us)|count (me|us) in|interested)\b",
                     re.I)
BUYS = re.compile(r"\b(go ahead|sign (me|us) up|(i'll|we'll|i will|we will) take (it|them|one)|place an order|"
                  r"ready to (buy|order|purchase|sign)|(want|like|keen|ready|planning|looking) to (sign|switch|"
                  r"be set up|get set up|open an account|go with you)|sign (before|by|this|next)|"
                  r"(we're|we are|i'm|i am) (pretty |really |very |quite )?keen(?! to know)|let's do it|"
                  r"count (me|us) in)\b", re.I)
# "Is that Karori Dental?", "am I speaking to Dr Patel?": a name asked for, with the capitals it is written with.
ASKS_FOR_NAME = re.compile(r"\b(?:[Ii]s (?:this|that) |[Aa]m I (?:speaking|talking) (?:to|with) |[Hh]ave I (?:reached|got) )"
                           r"(?:the )?((?:(?:Dr|Mr|Mrs|Ms)\.? )?[A-Z][\w'&-]+(?: [A-Z&][\w'&-]*){0,3})")
# ...or the name first, asked after it: "Hello, Restoran Pelita is it?", "Kamau Motors, right?"
NAME_THEN_ASKED = re.compile(r"((?:(?:Dr|Mr|Mrs|Ms)\.? )?[A-Z][\w'&-]+(?: [A-Z&][\w'&-]*){0,3}),? (?:is it|isn't it|is that "
                             r"right|right|yes)\?")
TELL_SALES = re.compile(r"\b(let|tell|inform|notify|pass (it|this|that|me|my details) (on )?to|put me in touch with) "
                        r"(your |the )?sales\b", re.I)
CALL_ME = re.compile(r"\b(call|ring|phone|contact|reach|get back to|get in touch)\b", re.I)
# The line the caller is on, named as where to send: "to this number I'm calling from", "this same number can"
THIS_NUMBER = re.compile(r"\b((this|the same|same|my) (phone |mobile |handphone |cell )?number( that)?( i'?m| i am)? "
                         r"(calling|ringing|phoning) (from|on)|(to|on) (this|the same|same) (number|phone|line)|"
                         r"this same number)\b", re.I)
# "Can someone call me to discuss where to put it?": a call asked for, whatever it is to be about
CALL_ASKED = re.compile(r"\b(can|could|would|will|please|get)\b(?:(?!\b(?:don't|do not|not|never|no)\b)[\w' ]){0,25}"
                        r"\b(call|ring|phone) (me|us)( back)?\b|(?<!don't )(?<!not )\b(call|ring|phone) (me|us) back\b",
                        re.I)
NO_CALL = re.compile(r"\b(don't|do not|not|never|no need to|no need for you to)\s+(call|ring|phone)\b", re.I)
# "Can your sales person call me?": sales asked for by name is a lead
SALES_ASKED = re.compile(r"\b((from|in|on) (your |the )?sales|(your|the) sales ?(person|people|team|rep\w*|guy|lady|"
                         r"staff|department|office))\b", re.I)
CONTACT_ME = re.compile(r"\b(get in touch|contact (me|us)|call (me|us)|ring (me|us)|phone (me|us)|reach (me|us))\b",
                        re.I)
# Words that add to what was said before: "put that down as well", "and another thing".
ADDS_TO = re.compile(r"\b(put (that|this|it) (down|there|in|on)|(also|please) (put|add|note|write|mention)|write (that|this|it) "
                     r"down|add (that|this|it)|note (that|this)|another thing|on top of "
                     r"(that|this))\b", re.I)
# Words of something gone wrong with what was delivered or done: said of an order, not asked, it is a complaint.
PROBLEM = re.compile(r"\b(disaster|wrong(?! (number|line|person|department))|damaged|broken|faulty|defective|mistake|"
                     r"missing|ruined|spoilt|spoiled|dead|rotten|gone off|"
                     r"not what (i|we) ordered|should (have )?be(en)?|useless|overcharged|charged (me |us )?twice|"
                     r"double[- ]charged|short (delivery|by)|scratched|leaking|leaked|torn|"
                     r"(charged|paid|deducted|debited|billed|taken|went|came out)( \w+){0,3} (twice|two times|double)|"
                     r"slipping|playing up|acting up|grinding|not impressed|cut(s|ting)? out|(stopped|isn't|is not|not) "
                     r"cooling|dripping|drips|soak(ed|ing)( wet)?|flood(ed|ing)|noisy|rattl\w+|smell\w*|"
                     r"(still |until now,? )nothing|no (call|text|update|word)s?,? no (call|text|update|word)s?|"
                     r"working|keeps? (breaking|failing|dropping|cutting))\b",
                     re.I)
# Words of a caller let down, which add to a complaint already made ("and nobody even called me"); said of
# someone else ("we're not happy with who we have now") they make no complaint of their own.
LET_DOWN = re.compile(r"\b((nobody|no one|no-one) (even )?(called|rang|phoned|told|picked|answered|came|bothered|got "
                      r"back)|not happy|unhappy|disappointed|supposed to (just )?(wait|put up))\b", re.I)
# A clause that asks or supposes ("what if it arrives broken", "if the money goes out twice") states no problem.
ASKS_OR_SUPPOSES = re.compile(r"\W*(what|how|when|where|why|who|which|can|could|do|does|did|is|are|will|would|should|"
                              r"may|if|in case|suppose)\b", re.I)
# Words that put a complaint on an order. Without them ("the money went out twice", "your vet was rude to me") the
# ticket is opened for the caller, with no order to ask for.
ABOUT_AN_ORDER = re.compile(r"\b(order(ed)?|deliver(y|ed)|parcel|package|shipment|tracking|arriv\w*|dispatch\w*)\b",
                            re.I)
# "I don't have the order number", "it isn't about an order": asked for an order, the caller has none.
NO_ORDER = re.compile(r"\b((don't|do not|dont|haven't|have not|can't|cannot|didn't) (have|got|find|remember|know|get)\b"
                      r".{0,25}\b(order|number|reference|receipt)|(not|isn't) (about )?(an|a|my|the) order|no order)\b",
                      re.I)
PROBLEM_MIN = 0.25
WRONG_NUMBER_MIN = 0.55  # surer than a yes or no must be: a caller asking for us must never hear "wrong number"
TASK_MIN_OPENING = 0.6  # "I need help" with nothing else: asked what it is about
ACT_MIN_WRONG = 0.4  # ... unless they ask "is this the ...?" of a name that is not the company's
SLOT_FOR = {"send_details_email": "email", "send_details_whatsapp": "whatsapp_number", "send_details_sms": "phone",
            "callback_request": "callback_time", "complaint": "order_id", "order_status": "order_id"}
ON_FILE_EMAIL = "the email address we have on file"
DEFAULT_ISSUE_TYPES = "other/normal: anything else"


def parse_issue_types(text: str) -> list[tuple[str, str, str]]:
    """(name, priority, description) from "delivery_delay/high: an order that is late; billing/normal: ..."."""
    types = []
    for item in filter(None, (part.strip() for part in (text or DEFAULT_ISSUE_TYPES).split(";"))):
        name, _, description = item.partition(":")
        name, _, priority = name.strip().partition("/")
        types.append((name.strip(), priority.strip() or "normal", description.strip() or name.strip()))
    return types


@dataclass
class Crm:
    """What the box knows of callers, orders and agents (fixtures in tests; RecordsCrm reads the database)."""

    leads: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    agents: list[dict] = field(default_factory=list)

    def lead(self, phone: str | None) -> dict | None:
        """The lead whose phone is `phone`."""
        return next((lead for lead in self.leads if phone and lead.get("phone") == phone), None)

    def order(self, order_id: str | None) -> dict | None:
        """The order with this ID."""
        return next((o for o in self.orders if order_id and o.get("order_id", "").upper() == order_id.upper()), None)

    def order_ids(self) -> list[str]:
        """The IDs of the known orders (all of them: a caller may ring from another phone)."""
        return [o["order_id"] for o in self.orders if o.get("order_id")]

    def order_ids_for(self, phone: str | None) -> list[str]:
        """The IDs of the orders placed with this phone number."""
        return [o["order_id"] for o in self.orders if phone and same_number(o.get("phone"), phone)]

    def agent_names(self) -> list[str]:
        """The names of the people calls can be handed to."""
        return [agent["name"] for agent in self.agents if agent.get("name")]

    def agent_for(self, expertise: str, words: str = "", similar=None) -> dict | None:
        """An available agent, preferring one whose expertise the caller's words name, then `expertise`."""
        return choose_agent(self.agents, expertise, words, similar)


def phones_of(crm, order_ids) -> list[str]:
    """The phone numbers on file for these orders (those the caller has shown to be theirs), from either CRM."""
    return [phone for phone in ((crm.order(order_id) or {}).get("phone") for order_id in order_ids) if phone]


def same_number(a: str | None, b: str | None) -> bool:
    """Whether two phone numbers as stored (E.164, perhaps with spaces or dashes) are the same number."""
    digits = [re.sub(r"\D", "", n or "") for n in (a, b)]
    return bool(digits[0]) and digits[0] == digits[1]


AGENT_MIN = 0.3  # how close (cosine) the caller's words must be to an expertise for it to choose the agent


def choose_agent(agents: list[dict], expertise: str, words: str = "", similar=None) -> dict | None:
    """The first available agent whose expertise the caller's words name ("someone for the installation"), else
    the one whose expertise is closest in meaning to them (`similar(labels, words)` → scores; "I'm moving house"
    → moves), else one with `expertise`, else the first available one, else None."""
    available = [a for a in agents if a.get("status") == "available"]
    named = [a for a in available if words and any(names(label, words) for label in a.get("expertise") or [])]
    if not named and words and similar is not None and available:
        scores = [max(similar(a.get("expertise") or [""], words), default=-1.0) for a in available]
        best = max(range(len(available)), key=scores.__getitem__)
        named = [available[best]] if scores[best] >= AGENT_MIN else []
    matching = [a for a in available if expertise in (a.get("expertise") or [])]
    return (named or matching or available or [None])[0]


def names(label: str, words: str) -> bool:
    """Whether the caller asks for `label` as a team: "your installation team", "somebody in billing". A
    word of the label said in passing ("integration with sales...") names nobody."""
    team = r"(team|department|specialists?|experts?|people|staff|desk|side|person|guys?)"
    spoken = re.split(r"[\s_-]+", label.lower().strip())  # "boiler_service" as said: "boiler service"
    whole = r"\s+".join(map(re.escape, spoken))
    # the whole label, or one of its longer words before a team ("the service department" for boiler_service)
    part = "|".join(re.escape(word) for word in spoken if len(word) > 3 and len(spoken) > 1) or "(?!)"
    return re.search(rf"\b{whole}s?\s+{team}\b|\b(in|on|from|for|at)\s+(the\s+|your\s+)?{whole}s?\b|"
                     rf"\b({part})s?\s+{team}\b", words.lower()) is not None


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
    hours_asked: bool = False  # the last question was about opening hours, so "how about the 24th?" is one too
    buying: bool = False
    asked_for: str | None = None  # a request to send that named what it wants ("your showroom's address")
    listed: list[str] = field(default_factory=list)  # the items of the last list said, in the order said
    wrong_number: bool = False  # the caller was told they may have the wrong number
    sales_told: bool = False  # the hot lead went to the sales team on this call
    no_order: bool = False  # the complaint is about no order the caller can name: its ticket is opened without one
    ticket_opened: bool = False  # a complaint ticket was opened on this call: more of it is added to that one
    confirmed: set = field(default_factory=set)  # numbers and emails the caller gave when asked, or confirmed
    order_suggested: str | None = None  # the one order on the caller's number, offered when none was named
    order_to_confirm: str | None = None  # a known order one digit away from what was heard: "did you mean ...?"
    reading: Reading | None = None  # this turn, as the classifier read it
    heard: str = ""  # this turn's words
    question: str = ""  # the last question for the knowledge base
    complaint: str = ""  # what the caller complained of, for the ticket
    agent: dict | None = None  # the agent the caller is handed to
    confidence: float | None = None  # how sure speech recognition was of this turn's words
    number_to_confirm: str | None = None  # a number heard with low confidence, read back before it is used
    number_slot: str = "phone"
    order_heard: str | None = None  # the order ID as the caller said it, read back when it is not theirs
    found: dict = field(default_factory=dict)  # the details read from this turn's words
    number_unclear: bool = False  # asked for a number, the caller said digits that make none
    verified_orders: set = field(default_factory=set)  # orders this caller has shown to be theirs
    advised: bool = False  # the documents' advice about a fault has been said
    order_detail: str | None = None  # the phone number the caller gave for an order, to check against it
    detail_tries: int = 0  # checks of a detail on file so far: few, so a guesser cannot go through a list
    callback_booked: bool = False  # a callback was booked on this call: a new day or time said moves it


def unstopped(name: str) -> str:
    """A name to end a sentence with: "Tern Rock Lobster Co." ends one with its own full stop, not with two."""
    return name[:-1] if name.endswith(".") else name


def spoken_day(moment: date) -> str:
    """"Friday, December 26": a day as said, its number never with a leading zero ("October 6", not "October 06")."""
    return f"{moment:%A}, {moment:%B} {moment.day}"


def spoken_time(moment: datetime, now: datetime) -> str:
    """A callback time as said on the phone: "tomorrow at 10 AM"."""
    days = (moment.date() - now.date()).days
    day = {0: "today", 1: "tomorrow"}.get(days, f"on {spoken_day(moment)}")
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

    def __init__(self, company: str, crm: Crm, classifier: IntentClassifier, country_code: str = "+1",
                 whatsapp_online=lambda: False, catalog: Catalog | None = None, issue_types: str = "",
                 unanswered_expertise: str = "technical", sales_expertise: str = "sales",
                 identify_by: str = IDENTIFY_BY):
        self.company = company
        self.identify_by = {proof.strip() for proof in identify_by.split(",") if proof.strip()}
        self.crm = crm
        self.classifier = classifier
        self.country_code = country_code
        self.whatsapp_online = whatsapp_online
        self.catalog = catalog or Catalog()
        self.issue_types = parse_issue_types(issue_types)
        self.unanswered_expertise = unanswered_expertise
        self.sales_expertise = sales_expertise
        self._issue_vectors = None
        self.can_transfer = True  # the line can hand a caller to a person; a GSM modem's cannot, so one calls back
        self.closed_on = lambda day: False  # whether the documents' timetable says the business is closed that day

    def read(self, heard: str, state: CallState, now: datetime) -> dict:
        """Details in the caller's words, into the call's slots; a bare number answers what was asked."""
        found = {}
        state.heard = heard
        state.reading = reading = self.classifier.read(heard, self.catalog.mask)
        yes, no = reading.act("affirm"), reading.act("deny")
        if state.waiting_for == "order_detail" and not entities.find_order_id(heard, self.crm.order_ids()):
            # The phone number the order was placed with: checked against the order, never kept as the caller's
            # own number (that would let a stranger have things sent to it).
            number = entities.to_e164(heard, self.country_code)
            # An answer that is no number ("I don't know it, can't you just tell me?") is checked, and wrong; a
            # clear question about something else is answered as one.
            if number or not (reading.task or reading.best(QUESTIONS, OTHER_QUESTION_MIN)):
                state.order_detail = number or ""
                return found
        if state.waiting_for == "email_confirmation":
            if yes and not no:
                state.confirmed.add(state.slots["email"])
            elif no:
                state.slots.pop("email", None)
        if state.waiting_for == "order_confirmation":
            if yes and not no:
                found["order_id"] = state.order_to_confirm
            state.order_to_confirm = None
        own = set(state.verified_orders)
        if "caller_id" in self.identify_by:
            own.update(self.crm.order_ids_for(state.caller_id))
        mention = entities.find_order_id(heard, self.crm.order_ids(), near_ids=own,
                                         bare_digits=state.waiting_for in ("order_id", "order_confirmation"))
        if mention:
            state.order_heard = mention.heard
        if mention and mention.order_id and mention.exact:
            found["order_id"] = mention.order_id
        elif mention and mention.order_id:
            state.order_to_confirm = mention.order_id  # one digit away from a known order: ask before using it
        elif mention:
            found["order_id"] = mention.heard  # no such order: said so, and asked again
        ids = {found.get("order_id"), mention.heard if mention else None}
        if state.waiting_for == "number_confirmation":
            number, state.number_to_confirm = state.number_to_confirm, None
            if yes and not no:
                found[state.number_slot] = number
                state.confirmed.add(number)
        phone = entities.to_e164(heard, self.country_code)
        state.number_unclear = (state.waiting_for in ("whatsapp_number", "phone") and not phone
                                and len(re.sub(r"\D", "", entities.spoken_digits(heard))) >= 4)
        said_with_order = phone and found.get("order_id") and "detail" in self.identify_by and \
            state.waiting_for not in ("whatsapp_number", "phone")
        if said_with_order and not any(i and re.sub(r"\D", "", i) in phone for i in ids):
            # "the job number's KT5093R and the mobile on it is 021 458 3307": the order's number on file, checked
            # against the order as if asked for, and not kept as the caller's own.
            state.order_detail = phone
        elif phone and not any(i and re.sub(r"\D", "", i) in phone for i in ids):
            slot = "whatsapp_number" if state.waiting_for == "whatsapp_number" else "phone"
            if state.waiting_for in ("whatsapp_number", "phone") and (state.confidence or 1.0) < CONFIRM_BELOW:
                state.number_to_confirm, state.number_slot = phone, slot  # not sure of it: read it back first
            else:
                found[slot] = phone
                if state.waiting_for in ("whatsapp_number", "phone"):
                    state.confirmed.add(phone)  # given in answer to "what's your number?"
        elif state.caller_id and THIS_NUMBER.search(heard):  # "SMS the details to this number I'm calling from"
            found["phone"] = found["whatsapp_number"] = state.caller_id
        email = entities.find_email(heard)
        if email:
            found["email"] = email  # read back before anything is sent to it, even when it was asked for
        when = entities.parse_when(heard, now)
        bare_hour = re.search(r"\b(1[0-2]|[1-9])\b", heard)
        if state.waiting_for == "callback_time" and not when.at and bare_hour:
            when = entities.parse_when(f"{heard} at {bare_hour.group(1)}", now)  # "round 2" answers "what time?"
        if when.day or when.at:
            state.when = when.merged(state.when)
            moment = state.when.resolve(now)
            if moment:
                found["callback_time"] = moment.isoformat()
        topic = self.catalog.topic(heard)
        if topic:
            state.topic = topic.text
        elif state.slots.get("order_id") in state.verified_orders and ORDER_NOUN.search(heard) and SEND.search(heard):
            state.topic = f"order {state.slots['order_id']}"  # "send me a text with the order"
        if ON_FILE.search(heard):
            state.slots.pop("email", None)  # "just send it to the email you have"
            found.pop("email", None)
        offer = self.catalog.offer(heard)
        if offer:
            found["interested_plan"] = offer.text
        if reading.buying or any(BUYS.search(clause) and "?" not in clause for clause, _, _ in reading.clauses):
            state.buying = True  # "we want to sign before the twentieth. Send me the details": a lead, whatever else
        state.slots.update(found)
        state.found = found
        return found

    def intent(self, heard: str, state: CallState) -> str | None:
        """The task the caller wants, or None for a question for the knowledge base."""
        # (Not while the number on an order's file is asked for: "I don't know her number" answers that.)
        someone_elses = state.waiting_for != "order_detail" and (
            THIRD_PARTY.search(heard) or (NAMED_CONTACT.search(heard) and PERSON_CUE.search(heard)))
        if (OTHERS_DATA.search(heard) and HANDING_OVER.search(heard)) or (someone_elses and ASKING_FOR.search(heard)):
            return "other"
        if self._another_business(heard):
            return "goodbye" if FAREWELL.search(heard) else "wrong_number"  # "is that Karori Dental?"
        if state.waiting_for == "order_detail" and FAREWELL.search(heard) and not re.search(r"\d", entities.spoken_digits(heard)):
            return "goodbye"  # "Forget it. Bye." when asked for the order's number
        if state.waiting_for == "order_detail" and state.order_detail is not None:
            return state.waiting_intent
        if state.waiting_for in ("order_id", "order_confirmation") and state.waiting_intent == "complaint" and \
                NO_ORDER.search(heard) and not state.found.get("order_id"):
            state.no_order = True  # "I don't have an order number, it's about a payment"
            state.order_to_confirm = state.order_suggested = None
            return "complaint"
        reading = state.reading or self.classifier.read(heard, self.catalog.mask)
        yes, no = reading.act("affirm"), reading.act("deny")
        if state.wrong_number and not reading.question and MISDIALLED.search(heard):
            return "goodbye"  # "ai, sorry, I've dialled wrong", once told it may be a wrong number: no complaint
        task = reading.task
        if task == "buying" and reading.question and not COMMITS.search(heard):
            task = None  # "can I order online?" asks how, for the knowledge base
        if task == "buying":
            task = "callback_request"  # "I'll take it": sales calls back to set it up
        if task == "callback_request" and NO_CALL.search(heard):
            task = None  # "please don't call me, just send an email"
        told_of = GOT_MESSAGE.search(heard) and not SEND_ASKED.search(heard)  # a message had, not one asked for
        if task and task.startswith("send_details") and state.found.get("order_id") and told_of:
            task = "order_status"  # "I got an SMS that it's waiting but deleted it. The number is ZS40718265."
        if task and task.startswith("send_details"):
            task = next((name for pattern, name in CHANNELS if pattern.search(heard)), task)
        elif task in (None, "order_status") and SEND.search(heard) and not told_of:  # "text me the tracking number"
            task = next((name for pattern, name in CHANNELS if pattern.search(heard)), task)
            if task is None and entities.find_email(heard):
                task = "send_details_email"  # "send it to jane at example dot com"
        if state.waiting_for in READ_BACKS and (
                yes or no) and not task:
            return state.waiting_intent
        if state.waiting_for == "order_confirmation" and state.found.get("order_id") and task in (
                None, "order_status", state.waiting_intent):
            return state.waiting_intent  # "no, it's this one" (an order number) in answer to "is it this one?"
        answered = state.slots.get(state.waiting_for) or (state.number_to_confirm and state.waiting_for in (
            "whatsapp_number", "phone"))
        if state.waiting_intent and answered and task in (None, state.waiting_intent):
            return state.waiting_intent  # the detail that was asked for
        if state.waiting_for == "details_type" and state.topic and task in (None, state.waiting_intent):
            return state.waiting_intent
        if task == "speak_to_human" and no and not yes:
            task = None  # "no, I don't need a person"
        if task in (None, "callback_request") and TELL_SALES.search(heard):
            state.buying, task = True, "callback_request"  # "we're keen to sign up, can you let your sales team know?"
        if task is None and BUYS.search(heard) and (CONTACT_ME.search(heard) or reading.best(
                ("callback_request", "buying"), 0.4)):
            state.buying, task = True, "callback_request"  # "we'd like to go ahead, have your sales people ring me"
        if task is None and CALL_ASKED.search(heard) and not THEY_WILL_CALL.search(heard):
            task = "callback_request"  # "before that, can someone call me to discuss where to put the filter?"
        if task is None:
            task = self._task_by_detail(reading, state)
        no_order = not (state.found.get("order_id") or state.order_to_confirm or state.slots.get("order_id"))
        if task == "order_status" and no_order and not OWN_ORDER.search(heard) and reading.question:
            task = None  # a question about ordering in general, for the knowledge base
        if task in ("order_status", "complaint") and no_order and reading.question and ASKS_A_RULE.search(heard) and \
                not STATE_ASKED.search(heard) and not ANGER.search(heard) and not \
                PROBLEM.search(OWN_MISTAKE.sub("", heard)):
            task = None  # "how long will my parcel wait for me?", "she chose the wrong locker, can she cancel it?"
        if task == "complaint" and not (ANGER.search(heard) or PROBLEM.search(heard)) and (
                reading.question or reading.best(("order_status",), 0.4)):
            task = "order_status"  # "I ordered one on Monday, just wondering when it's coming?" asks, calmly
        if state.ticket_opened and self._adds_to_complaint(heard, task, reading.question):
            return "complaint"  # "and another thing, the driver left ruts in the lawn, put that down as well"
        if task == "order_status" and self._complains(heard, reading):
            task = "complaint"  # "order SUN3907B was due last week, this is ridiculous": the status, and a ticket
        if task == "callback_request" and THEY_WILL_CALL.search(heard) and not CONTACT_ME.search(heard):
            task = None  # "fine, I'll get her to ring you, bye"
        if task == "callback_request" and SALES_ASKED.search(heard):
            state.buying = True  # "could someone from sales ring me back?"
        if task == "callback_request" and FAREWELL.search(heard) and not CALL_ME.search(heard):
            task = "goodbye"  # "okay lah, just make sure somebody come tomorrow. Bye.": no call asked for
        if task:
            return task
        if self._wrong_number(reading):  # "sorry, wrong number, bye", or said after the box said it may be one
            return "goodbye" if FAREWELL.search(heard) or state.wrong_number else "wrong_number"
        if reading.best(("opening",), TASK_MIN_OPENING) and not reading.question and all(
                label in ACTS for _, label, _ in reading.clauses):
            return "opening"  # "I need help": nothing asked yet
        if FAREWELL.search(heard) and not reading.question:
            return "goodbye"  # "Choice, ta, bye."; "Okay, got it. Thanks. Bye." is no yes to an offer before it
        if state.number_unclear:
            return state.waiting_intent  # asked for a number, heard digits that make none: asked again
        if state.offered_specialist and yes and not no and not reading.question and not (
                CLOSING.search(heard) and not WANTS_IT.search(heard)):
            return "speak_to_human"  # not "Okay. Thanks for your help.": a thank-you that closes, with no yes to it
        if state.slots.get("order_id") and self.crm.order(state.slots["order_id"]) and reading.question and (
                reading.best(("order_status",), 0.4) or ORDER_FOLLOW_UP.search(heard)):
            return "order_status"  # a follow-up about the order just looked up: "and until when do I have to pick it up?"
        if not reading.question and CLOSING.search(heard) and len(re.findall(r"[\w']+", heard)) <= 8:
            return "goodbye"  # "Got it, thanks.", "That's all po, salamat.": nothing more asked, the call is done
        if not reading.question and (self._says_goodbye(reading) or no or state.wrong_number):
            return "goodbye"  # also "oh, sorry, wrong number so" once told it is one  # "No, that's okay. Thanks for looking into it."
        return None

    def _looks_after(self, agent: dict, words: str) -> str | None:
        """What of the agent's work the caller's words are about ("a steady supply for my restaurant" → wholesale),
        said so the caller knows they reach the right person; None when no one part of it is close enough."""
        labels = [label for label in agent.get("expertise") or [] if label]
        named = [label for label in labels if names(label, words)]
        if named or not labels:
            return named[0].replace("_", " ") if named else None
        scores = self._similar(labels, words)
        best = max(range(len(labels)), key=scores.__getitem__)
        return labels[best].replace("_", " ") if scores[best] >= AGENT_MIN else None

    def _similar(self, labels: list[str], words: str) -> list[float]:
        """How close in meaning each label (an agent's expertise, "billing") is to the caller's words."""
        vectors = self.classifier.embedder.embed([words] + [label.replace("_", " ") for label in labels])
        return [float(score) for score in vectors[1:] @ vectors[0]]

    def _another_business(self, heard: str) -> bool:
        """Whether the caller asks for a business or person by a name that is none of ours: "is that Karori
        Dental?" (names as speech recognition writes them, with capitals; ours: the company's, any name its
        documents use, and its agents')."""
        found = ASKS_FOR_NAME.search(heard) or NAME_THEN_ASKED.search(heard)
        if not found:
            return False
        name = {word.lower() for word in re.findall(r"[A-Za-z']{3,}", found.group(1))} - set(entities.WEEKDAYS) - set(
            entities.MONTHS) - {"the", "and", "okay", "right", "correct", "true"}
        if not name:
            return False
        ours = set(re.findall(r"[a-z']{3,}", self.company.lower()))
        ours |= {word for listed in self.catalog.topics + self.catalog.offers for word in listed.words}
        ours |= {word.lower() for word in self.catalog.vocabulary}  # "is that the Moycullen yard?"
        ours |= self.catalog.names  # "and I can pay with BLIK, yes?": a name the documents use is no other business
        names = getattr(self.crm, "agent_names", lambda: [])()
        ours |= {word for agent in names for word in re.findall(r"[a-z']{3,}", agent.lower())}
        return len(name & ours) * 2 < len(name)  # "Nairobi West Hospital" names our city, not us

    def _wrong_number(self, reading: Reading) -> bool:
        """Whether the caller meant to reach someone else: sure of it, or less sure but asking "is this the ...?"
        of a business whose name is not ours."""
        ours = {word for word in re.findall(r"[a-z]{3,}", self.company.lower())}
        for clause, label, score in reading.clauses:
            if label != "wrong_number" or score < ACT_MIN_WRONG or (SEND_ASKED.search(clause) and not MISDIALLED.search(
                    clause)):
                continue  # "can you send me the address to this number, the one I'm calling from?" names where to
            asks = re.search(r"\b(is|isn't|is not) (this|that) (the )?([\w' ]+)", clause.lower())
            named = set(re.findall(r"[a-z]{3,}", asks.group(4))) if asks else set()
            if named & (ours | self.catalog.names):  # "is this the lobster place?" of Tern Rock Lobster Co.: us
                continue
            if score >= WRONG_NUMBER_MIN or asks:
                return True
        return False

    @staticmethod
    def _says_goodbye(reading: Reading) -> bool:
        """A goodbye said, not an apology ("sorry, sorry") before words that go on ("just for 500 litres, like")."""
        byes = [clause for clause, label, _ in reading.clauses
                if label == "goodbye" and "?" not in clause and not re.fullmatch(r"\W*((so|very) )?(sorry|excuse me|pardon)(\W+sorry)*\W*",
                                                            clause, re.I)]
        said_more = any(label not in ACTS and len(clause.split()) > 2 for clause, label, _ in reading.clauses)
        ends_with_bye = reading.clauses[-1][0] in byes or FAREWELL.search(reading.clauses[-1][0])
        return bool(byes) and reading.act("goodbye") and (ends_with_bye or not said_more)

    @staticmethod
    def _adds_to_complaint(heard: str, task: str | None, question: bool) -> bool:
        """Whether, after a complaint's ticket was opened, the caller adds to it: another complaint, or something
        said (not asked) with words that add ("put that down as well") or words of a problem, with no other task."""
        problem = PROBLEM.search(heard) or any(cue.search(heard) for cue, _ in ISSUE_CUES)
        if task == "complaint" or ADDS_TO.search(heard):
            return True  # "please also put it down that nobody picked up"
        if task in (None, "callback_request") and (PROBLEM.search(heard) or LET_DOWN.search(heard)):
            return True  # "nobody even called me back": said as a question or not, it is no request for a call
        return task is None and not question and bool(problem)

    @staticmethod
    def _complains(heard: str, reading: Reading) -> bool:
        """Whether the caller says something about an order went wrong: in words of anger, or in words of a problem
        stated, not asked about ("the logo is purple, it should be blue", not "is anything wrong with it?")."""
        stated = [clause for clause, _, _ in reading.clauses if PROBLEM.search(clause) and "?" not in clause]
        if ANGER.search(heard):
            return True  # "this is the third time I'm ringing about it"
        return bool(stated) and bool(reading.best(("complaint",), PROBLEM_MIN) or len(stated) > 1)

    def _task_by_detail(self, reading: Reading, state: CallState) -> str | None:
        """A task the turn's details name when no clause was sure enough of one: an order ID says the call is
        about that order ("it's the blender, number AB-4471-Q"), a day or time says which callback, and asking to
        speak to someone says it outright, whatever else the clause is about."""
        asked = ASKS_FOR_PERSON.search(state.heard)
        if (PERSON.search(state.heard) and (asked or reading.best(("speak_to_human",), 0.3))) or (
                asked and (NAMED_PERSON.search(state.heard) or PUT_THROUGH.search(state.heard))):
            return "speak_to_human"
        if STATUS_ASKED.search(state.heard) and not state.found.get("order_id") and \
                "caller_id" in self.identify_by and self.crm.order_ids_for(state.caller_id):
            return "order_status"  # "I dropped my bike off on Saturday, is it done yet?" from the number on file
        if state.found.get("order_id") or state.order_to_confirm:
            if self._complains(state.heard, reading):
                return "complaint"
            found = reading.best(("complaint", "order_status"), 0.3)
            if found and found[0] == "complaint" and not NEGATIVE.search(state.heard):
                return "order_status"  # "just want to double-check it's all go": nothing said went wrong
            return found[0] if found else "order_status"
        stated = any(PROBLEM.search(clause) and "?" not in clause and not ASKS_OR_SUPPOSES.match(clause)
                     for clause, _, _ in reading.clauses)
        if stated and ("?" not in state.heard or self._complains(state.heard, reading)):
            return "complaint"  # "I paid on Monday and the money went out two times": about no order named
        if ANGER.search(state.heard) and "?" not in state.heard and not re.search(
                r"\b(not|n't|never) (\w+ )?(angry|upset|furious)\b", state.heard, re.I):
            return "complaint"  # "this is a scandal! I waited all Friday and nobody came!": said, not asked
        if state.found.get("callback_time") and reading.best(("callback_request", "buying"), 0.35) and (
                CALL_ME.search(state.heard) or state.buying):  # not "I'll swing by Saturday morning then"
            return "callback_request"
        if state.found.get("callback_time") and state.callback_booked and (MOVES.search(state.heard) or not reading.question):
            return "callback_request"  # "wait, on Wednesday I'm away, please make it Thursday at half past nine"
        return None

    def reply(self, intent: str, state: CallState, now: datetime) -> Reply:
        """The reply for a task intent: ask for what is missing, or say what will be done."""
        slots = state.slots
        if intent == "opening":
            return Reply("Of course. What can I help you with?", "greeting", {})
        if intent == "wrong_number":
            state.wrong_number = True
            return Reply(f"This is {unstopped(self.company)}. I think you may have the wrong number. Is there anything I can "
                         f"help you with from {self.company}?", "other", {})
        if intent == "complaint" and state.ticket_opened:
            state.complaint = f"{state.complaint} {state.heard}"
            return Reply("I've added that to your complaint, so our team sees it too.", intent,
                         {**state.slots}, actions=("update_ticket",))
        if intent == "complaint" and not state.complaint:
            state.complaint = state.heard
        if intent == "other":
            log.warning("refused a request for other people's data")
            return Reply(REFUSAL, "other", {})
        missing = self._missing(intent, state)
        if missing == "callback_time" and state.buying and not state.sales_told and TELL_SALES.search(state.heard):
            state.sales_told = True  # told at once, as asked; a time to call can still be booked
            state.waiting_for, state.waiting_intent = missing, intent
            return Reply("Of course. I've passed your details to our sales team, who will be in touch. If you'd like "
                         "them to call at a particular time, just tell me when.", intent,
                         {**slots, "missing_info": [missing]}, needs_clarification=True,
                         actions=("create_hot_lead", "notify_sales_team"))
        if missing:
            state.waiting_for, state.waiting_intent = missing, intent
            asked = "order_id" if missing == "order_confirmation" and state.order_suggested else missing
            return Reply(self._ask(intent, missing, state), intent, {**slots, "missing_info": [asked]},
                         needs_clarification=True)
        state.waiting_for = state.waiting_intent = None
        about = state.topic or "details"
        entities_out = dict(slots)
        if intent in ("send_details_email", "send_details_sms", "send_details_whatsapp"):
            entities_out["details_type"] = about
        if intent == "goodbye" and state.buying and not state.sales_told:  # decided to buy, left no time to call
            state.sales_told = True
            return Reply(f"Thank you for calling {unstopped(self.company)}. I've passed your details to our sales team, who will "
                         f"be in touch. Goodbye!", "goodbye", entities_out,
                         actions=("create_hot_lead", "notify_sales_team"))
        if intent == "goodbye":
            return Reply(f"Thank you for calling {unstopped(self.company)}. Have a great day. Goodbye!", "goodbye", entities_out)
        if intent == "speak_to_human":
            expertise = self.unanswered_expertise if state.offered_specialist else self.sales_expertise
            # a call about a complaint goes to whoever handles complaints, whatever was asked on the way
            about = state.complaint if state.complaint else state.question
            agent = state.agent = self.crm.agent_for(expertise, " ".join(filter(None, (about, state.heard))),
                                                     self._similar)
            state.offered_specialist = False
            if not self.can_transfer:  # one call at a time on this line: the person rings back instead
                state.waiting_for, state.waiting_intent = "callback_time", "callback_request"
                who = agent["name"] if agent else "one of our specialists"
                return Reply(f"I can't put you through on this line, but I can have {who} call you back. When "
                             f"would be a good time?", "callback_request",
                             {**entities_out, "missing_info": ["callback_time"]}, needs_clarification=True)
            looks_after = self._looks_after(agent, " ".join(filter(None, (about, state.heard)))) if agent else None
            who = (f"{agent['name']}, who looks after {looks_after}," if looks_after else
                   f"{agent['name']}, one of our specialists," if agent else "one of our specialists")
            return Reply(f"Sure. I'm connecting you with {who} now. Please stay on the line.", intent,
                         entities_out, actions=("escalate_to_human",), escalate_to_human=True)
        if intent == "send_details_email":
            email = slots.get("email") or (state.caller or {}).get("email")
            # An address on file is never read out: whoever calls from a number need not be its owner.
            to = spoken_email(email) if email == slots.get("email") else ON_FILE_EMAIL
            return Reply(f"Sure. I'll email the {about} to {to} right away.", intent,
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
            number = slots.get("phone") or slots.get("whatsapp_number") or state.caller_id
            return Reply(f"Sure. I'll text the {about} to {spoken_phone(number)}.", intent,
                         {**entities_out, "phone": number}, actions=("send_sms",))
        if intent == "callback_request":
            moment = datetime.fromisoformat(slots["callback_time"])
            if self.closed_on(moment.date()):  # "Friday morning" that is Boxing Day: nobody would call
                del slots["callback_time"]
                state.waiting_for, state.waiting_intent = "callback_time", intent
                return Reply(f"We're closed on {spoken_day(moment)}, so nobody could call you then. What "
                             f"other day and time would suit you?", intent,
                             {**entities_out, "missing_info": ["callback_time"]}, needs_clarification=True,
                             used_knowledge=True)
            state.callback_booked = True
            actions = ["schedule_callback", "send_sms"]
            if state.buying and not state.sales_told:
                actions += ["create_hot_lead", "notify_sales_team"]
                state.sales_told = True
            return Reply(f"Done. Our specialist will call you {spoken_time(moment, now)}. "
                         f"You'll get a confirmation SMS shortly.", intent, entities_out, actions=tuple(actions))
        if intent == "complaint" and not slots.get("order_id"):
            return self._ticket_without_order(state, entities_out)
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
        if slot in ("whatsapp_number", "phone"):  # a number volunteered, not asked for: read back before it is used
            keys = (slot, "phone" if slot == "whatsapp_number" else "whatsapp_number")
            given = next((state.slots[key] for key in keys if state.slots.get(key)), None)
            owners = phones_of(self.crm, state.verified_orders)
            if given and not any(same_number(given, own) for own in (state.caller_id, (state.caller or {}).get("phone"),
                                                                     *owners)) and given not in state.confirmed:
                for key in keys:
                    if state.slots.get(key) == given:
                        del state.slots[key]
                state.number_to_confirm, state.number_slot = given, slot
        if slot in ("whatsapp_number", "phone") and state.number_to_confirm and not state.slots.get(slot):
            return "number_confirmation"
        if slot in ("whatsapp_number", "phone") and (state.slots.get("whatsapp_number") or state.slots.get("phone")
                                                    or state.caller_id):  # "a text is fine then, my number's..."
            return None
        if intent == "complaint" and not state.slots.get(slot) and not state.order_to_confirm and (state.no_order or not (
                ABOUT_AN_ORDER.search(state.complaint or state.heard) or self.crm.order_ids_for(state.caller_id))):
            if state.caller_id or state.slots.get("phone"):
                return None  # a complaint about no order: the ticket is opened for the caller
            return "phone" if not state.number_to_confirm else "number_confirmation"
        if intent == "callback_request" and state.slots.get(slot) and not (state.caller_id or state.slots.get("phone")):
            return "number_confirmation" if state.number_to_confirm else "phone"  # a withheld number: where to call
        if slot == "order_id" and not state.slots.get(slot) and state.order_to_confirm:
            return "order_confirmation"
        if slot == "order_id" and not state.slots.get(slot) and "caller_id" in self.identify_by:
            own = self.crm.order_ids_for(state.caller_id)
            if len(own) > 1 and intent == "order_status":  # "the lobsters I sent to my daughter in Calgary"
                own = [order_id for order_id in [self._described(own, state.heard)] if order_id] or own
            if len(own) == 1 and intent == "order_status":  # "when's it coming?" from the number it was placed with
                state.slots["order_id"] = own[0]
                return None
            if len(own) == 1:  # a complaint opens a ticket against an order: which one is asked first
                state.order_to_confirm = state.order_suggested = own[0]
                return "order_confirmation"
        return None if state.slots.get(slot) else slot

    def _described(self, order_ids: list[str], heard: str) -> str | None:
        """Of the caller's own orders, the one their words describe: the one whose record shares the most of their
        words ("my daughter in Calgary" and "shipping to Calgary, AB"), when no other shares as many."""
        said = {word for word in re.findall(r"[a-z]+", heard.lower()) if len(word) > 3}
        shared = []
        for order_id in order_ids:
            order = self.crm.order(order_id) or {}
            record = " ".join(str(order.get(key) or "") for key in ("product", "status", "estimated_delivery"))
            shared.append((len(said & set(re.findall(r"[a-z]+", record.lower()))), order_id))
        best = max(count for count, _ in shared)
        chosen = [order_id for count, order_id in shared if count == best]
        return chosen[0] if best and len(chosen) == 1 else None

    def _ask(self, intent: str, missing: str, state: CallState) -> str:
        if missing == "callback_time":
            if state.buying and intent == "callback_request" and not state.when.day:
                return "Great. I'll have our team call you to set that up. When would be a good time?"
            if state.when.day:
                return "Sure. What time would suit you?"
            return "Sure. When would be a good time for us to call you?"
        if missing == "order_id":
            sorry = "I'm really sorry about that. " if intent == "complaint" else ""
            return f"{sorry}Could you tell me your order number, please? You can also key it in on your keypad."
        if missing == "order_confirmation" and state.order_suggested == state.order_to_confirm:
            order = self.crm.order(state.order_to_confirm) or {}
            what = f"{order['product']}, order" if order.get("product") else "order"
            sorry = "I'm really sorry about that. " if intent == "complaint" else ""
            return (f"{sorry}I can see one order on this number: {what} {entities.spoken_id(state.order_to_confirm)}. "
                    f"Is that the one? If not, tell me the order number.")
        if missing == "order_confirmation":
            return f"Just to check, is your order number {entities.spoken_id(state.order_to_confirm)}?"
        if missing == "details_type":
            names = [name.text for name in self.catalog.topics][:4]
            listed = f" I can send our {', '.join(names[:-1])} or {names[-1]}." if len(names) > 1 else ""
            return f"Sure. What would you like me to send you?{listed}"
        if missing == "number_confirmation":
            digits = " ".join(state.number_to_confirm.lstrip("+").removeprefix(self.country_code.lstrip("+")))
            return f"Just to check, that's {digits}? If it's not, you can key it in on your keypad."
        if missing in ("whatsapp_number", "phone") and state.number_unclear:
            return "Sorry, I didn't catch the whole number. Could you say it again, digit by digit, or key it in?"
        if missing == "whatsapp_number":
            return "Sure. What's your WhatsApp number?"
        if missing == "email":
            return "Sure. What email address should I send it to?"
        if missing == "email_confirmation":
            return f"Just to confirm, should I send it to {spoken_email(state.slots['email'])}?"
        if intent == "complaint":
            return "I'm really sorry about that. What number can our team call you back on?"
        if intent == "callback_request":
            return "Sure. What number should we call you on?"
        return "Sure. What number should I use?"

    def issue_type(self, text: str) -> tuple[str, str]:
        """(issue type, priority) of a complaint: the configured type whose description is closest in meaning."""
        if len(self.issue_types) == 1:
            return self.issue_types[0][:2]
        embed = self.classifier.embedder.embed
        if self._issue_vectors is None:
            self._issue_vectors = embed([description for _, _, description in self.issue_types])
        # Words that say what kind of problem it is, when only one kind is said: "I paid two and a half grand for
        # it, it was meant to be here last week" is a late delivery, whatever the price said first suggests. The
        # kind's own words are matched to the company's issue types by meaning, so any set of types works.
        kinds = [meaning for cue, meaning in ISSUE_CUES if cue.search(text)]
        if len(kinds) == 1:
            text = kinds[0]
        # Else each clause on its own, so one long turn is not blurred into one embedding.
        clauses = [c for c in re.split(r"(?<=[.!?;])\s+|,\s+(?:and\s+)?", text) if len(c.split()) >= 2] or [text]
        scores = embed(clauses) @ self._issue_vectors.T
        best = int(scores.max(axis=0).argmax())
        return self.issue_types[best][:2]

    def owns(self, order: dict, state: CallState) -> bool:
        """Whether this caller has shown the order to be theirs: by the number they call from, or earlier on
        the call by a detail on file."""
        return order["order_id"] in state.verified_orders or (
            "caller_id" in self.identify_by and same_number(order.get("phone"), state.caller_id))

    def on_file(self, order: dict, detail: str | None) -> bool:
        """Whether `detail`, a phone number the caller said, is the one on file for the order. A name or an email
        address is no proof: they are on every letter and business card the customer sends."""
        return bool(detail) and "detail" in self.identify_by and same_number(order.get("phone"), detail)

    def _order(self, intent: str, state: CallState, entities_out: dict) -> Reply:
        order = self.crm.order(state.slots.get("order_id"))
        detail, state.order_detail = state.order_detail, None
        if order is not None and (self.owns(order, state) or self.on_file(order, detail)):
            state.verified_orders.add(order["order_id"])
            if detail and self.on_file(order, detail):  # "I'm on a friend's phone, mine is ...": texts go to theirs
                state.slots["phone"] = entities_out["phone"] = detail
            return self._order_status(intent, state, entities_out, order)
        # No such order, or not shown to be this caller's: the same words either way.
        sorry = "I'm really sorry about that. " if intent == "complaint" and detail is None else ""
        heard = entities.spoken_id(state.order_heard or state.slots.get("order_id") or "")
        if detail is not None:
            state.detail_tries += 1
        if detail and state.detail_tries < DETAIL_TRIES:  # a number that does not match: once more, or by keypad
            state.waiting_for, state.waiting_intent = "order_detail", intent
            return Reply(NO_MATCH, intent, {**entities_out, "missing_info": ["order_detail"]}, needs_clarification=True)
        if detail is None and "detail" in self.identify_by and state.detail_tries < DETAIL_TRIES:
            state.waiting_for, state.waiting_intent = "order_detail", intent
            return Reply(sorry + NOT_ON_THIS_NUMBER.format(heard=heard) + ASK_DETAIL, intent,
                         {**entities_out, "missing_info": ["order_detail"]}, needs_clarification=True)
        log.warning("an order was asked about by a caller who did not show it is theirs")
        state.slots.pop("order_id", None)
        state.waiting_for = state.waiting_intent = None
        state.complaint = state.complaint or state.heard
        return Reply(sorry + NOT_FOUND, intent, {**entities_out, "issue_type": "identity_check", "urgency": "normal"},
                     actions=("create_ticket",))

    def _ticket_without_order(self, state: CallState, entities_out: dict) -> Reply:
        """A complaint about no order (a payment taken twice, a visit that went wrong): a ticket for the caller, whom
        the team calls back on the number they rang from or gave."""
        issue, priority = self.issue_type(state.complaint or state.heard)
        if ANGER.search(state.complaint or ""):
            priority = "high"
        state.ticket_opened = True
        number = state.slots.get("phone")
        back = f" on {spoken_phone(number)}" if number else " on this number"
        return Reply(f"I'm really sorry about that. I've opened a ticket so our team can look into it and call you "
                     f"back{back}.", "complaint", {**entities_out, "issue_type": issue, "urgency": priority},
                     actions=("create_ticket",))

    def _order_status(self, intent: str, state: CallState, entities_out: dict, order: dict) -> Reply:
        """An order that is the caller's: its status, the tracking link texted to the number on file."""
        status = order.get("status", "being processed")
        # Said inside a sentence: "Out for Delivery" in small letters, but a code in it kept as written ("Ready for
        # pickup in locker WAW114"), so that it is spelled out, not read as a word
        status = status.lower() if status.isupper() else re.sub(r"\b[A-Z][a-z]+\b", lambda w: w[0].lower(), status)
        eta = spoken_eta(order.get("estimated_delivery"))
        said_before = state.topic == f"order {order['order_id']}"
        state.topic = f"order {order['order_id']}"
        if said_before:
            text = f"Yes. It is {status}" + ((f": {eta}." if DONE.search(status) else f" and should reach you {eta}.")
                                                       if eta else ".")
            return Reply(text, "order_status", entities_out, actions=("lookup_order",))
        product = order.get("product") or "order"
        text = f"Thank you. Your {product} order {order['order_id']} is {status}"
        if eta and DONE.search(status):  # "delivered", "ready for collection": when, not when it should come
            text += f": {eta}."
        else:
            text += f" and should reach you {eta}." if eta else "."
        actions = ["lookup_order"]
        if order.get("tracking_id") and order.get("phone"):
            here = same_number(order["phone"], state.caller_id)
            text += " I'll text you the tracking link now." if here else (
                f" I'll text the tracking link to the number on file, {spoken_phone(order['phone'])}.")
            actions.append("send_sms")
            entities_out = {**entities_out, "phone": order["phone"]}
        extra = {}
        if intent == "complaint":
            actions.append("create_ticket")
            issue, priority = self.issue_type(state.complaint or order.get("status", ""))
            if ANGER.search(state.complaint or ""):
                priority = "high"  # a caller fed up enough to say so ("third time I'm ringing") goes first
            extra = {"issue_type": issue, "urgency": priority}
            state.ticket_opened = True
            text = (f"I'm sorry about that. {text.removeprefix('Thank you. ')} I've opened a ticket so our team "
                    f"can put it right and get back to you.")
        return Reply(text, intent, {**entities_out, **extra}, actions=tuple(actions))


def spoken_eta(estimate: str | None) -> str | None:
    """An estimated delivery such as "today 18:00" as said on the phone: "today by 6 PM"."""
    if not estimate:
        return None
    iso = re.fullmatch(r"\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{1,2}):(\d{2})(?::\d{2})?)?\s*", estimate)
    if iso:  # "2025-11-15 09:00", as a system exports it: "on Saturday 15 November by 9 AM"
        try:
            day = date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        except ValueError:
            return estimate
        said = f"on {WEEKDAYS[day.weekday()].title()} {day.day} {MONTHS[day.month - 1].title()}"
        return f"{said} by {spoken_clock(f'{iso.group(4)}:{iso.group(5)}')}" if iso.group(4) else said
    found = re.match(r"(\w+)\s+(\d{1,2}):(\d{2})", estimate)
    if not found:
        return estimate
    hour = int(found.group(2))
    clock = f"{hour % 12 or 12}{'' if found.group(3) == '00' else ':' + found.group(3)} {'PM' if hour >= 12 else 'AM'}"
    return f"{found.group(1)} by {clock}"
