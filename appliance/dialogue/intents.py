"""What the caller wants, by meaning: each clause of a turn against example utterances, embedded with MiniLM.

The examples are written for no company in particular: they say "my order", "your prices", "the thing I
bought", never a product. A turn is cut into clauses ("No thanks, | I just want to know when it comes"),
each clause is scored against every label (the best cosine over that label's examples), and the turn's
reading keeps the task, the question and the dialogue acts (yes, no, goodbye) it found. The policy then
decides with the call's state what the reading means here.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field

import numpy as np

TASKS = ("buying", "send_details_email", "send_details_sms", "send_details_whatsapp", "callback_request", "complaint",
         "order_status", "speak_to_human")
QUESTIONS = ("policy_query", "product_query")
ACTS = ("affirm", "deny", "goodbye", "wrong_number", "opening")

EXAMPLES = {
    "policy_query": (
        "what is your return policy", "can I get my money back", "how do refunds work", "do you give refunds",
        "what happens if I cancel", "is there a warranty", "what does the guarantee cover",
        "how long do I have to return something", "what are your terms and conditions",
        "what is your privacy policy", "can I cancel my subscription", "do I get a refund if I change my mind",
        "what's your cancellation policy", "how long is the warranty", "can I exchange an item",
        "who pays for return shipping"),
    "product_query": (
        "how much does it cost", "what are your prices", "what plans do you have", "what's included in it",
        "tell me about your products", "do you sell accessories", "what features does it have",
        "is it available in other sizes", "do you have an app", "does it work on my phone",
        "do you offer installation", "is there a free trial", "what's the difference between the two",
        "do you have anything cheaper", "what colours does it come in", "do you have someone who can set it up",
        "what are your opening hours", "where are you located", "do you deliver to my area",
        "how long does delivery take", "just tell me the price", "what do you offer",
        "is it in stock", "can it be used outdoors", "do you integrate with other software"),
    "order_status": (
        "where is my order", "what's the status of my order", "has my order shipped yet",
        "when will my package arrive", "can you track my delivery", "what's happening with my delivery",
        "when is it going to be delivered", "has my parcel left yet", "I want to check on my order",
        "is my order on its way", "when will the technician come", "I'm calling about an order I placed",
        "where's my stuff", "when should I expect it", "can I get the tracking number",
        "I'm ringing about something I ordered", "I'm phoning about my delivery"),
    "complaint": (
        "my order hasn't arrived and it's been a week", "this is unacceptable", "I want to make a complaint",
        "I'm really unhappy with the service", "the item arrived damaged", "it still hasn't come and I'm fed up",
        "you sent me the wrong item", "it's broken", "I've been waiting for ages and nobody has helped",
        "this is the worst service I've had", "I was charged twice", "the delivery never turned up",
        "nothing works and I'm very frustrated", "I ordered it weeks ago and still don't have it",
        "I'm not happy about this", "part of it is cracked", "it came with pieces missing",
        "I'm disappointed with what arrived", "the fitter never showed up"),
    "send_details_email": (
        "can you email me that", "send it to my email", "please email me the details", "mail me the brochure",
        "could you send that over by email", "I'd like it in my inbox", "email me the full document",
        "can I get that by email", "send the details to my email address", "drop me an email with it"),
    "send_details_sms": (
        "can you text me that", "send it as a text message", "text me the details", "send me an SMS",
        "could you message that to my phone", "text it to me please", "send the link by text"),
    "send_details_whatsapp": (
        "send it on WhatsApp", "can you WhatsApp me the details", "message me on WhatsApp",
        "share it over WhatsApp", "I'd like it on WhatsApp please", "send me the brochure on WhatsApp"),
    "callback_request": (
        "can someone call me back", "I'd like a callback", "please call me tomorrow",
        "have someone ring me later", "can you schedule a call", "I want to book a call back",
        "could somebody give me a call this afternoon", "call me back on Monday", "can a salesperson call me",
        "I want to go ahead, can someone call me to set it up", "I'd like to buy it, please have someone call me",
        "book me a call with your team", "ring me back when you can"),
    "speak_to_human": (
        "can I speak to a real person", "put me through to someone", "I want to talk to a human",
        "transfer me to an agent", "connect me to a representative", "let me speak to a person please",
        "get me a human being", "I need to talk to somebody in person", "can I talk to your manager",
        "yes please connect me", "could I speak to someone in your team", "can I talk to someone about it",
        "put me through please", "I'd like to talk to the specialist"),
    "affirm": (
        "yes", "yes please", "yeah", "sure", "okay", "that's right", "correct", "go ahead", "please do",
        "sounds good", "absolutely", "yep that's it", "that would be great", "alright"),
    "deny": (
        "no", "no thanks", "nope", "no thank you", "not really", "that's wrong", "that's not right",
        "no I don't", "not now", "I'd rather not", "no need"),
    "goodbye": (
        "that's all thank you", "bye", "goodbye", "that's everything", "nothing else thanks",
        "no that's all", "thanks for your help bye", "that's fine thank you", "all good thanks",
        "that covers it", "I'm done thanks", "have a nice day", "cheers bye", "thank you that's it",
        "thank you", "thanks", "thanks a lot", "thank you for your help", "that's great thanks",
        "I'm all set", "that's okay", "nothing more", "I appreciate it", "okay goodbye then", "see you",
        "I'll let you go now", "that's me done", "that's sorted then", "you've been very helpful", "take care",
        "that answers my question", "I'm good now thanks", "talk to you later", "have a good one",
        "that's all I needed", "brilliant, cheers", "lovely, thanks very much"),
    "opening": (
        "I need help", "can you help me", "I have a question", "hi I need some help with something",
        "I'm calling about something", "hello are you there", "I wonder if you can help me",
        "I've got a query", "I need to ask you something", "hello I'm hoping you can help"),
    "wrong_number": (
        "sorry I think I have the wrong number", "is this the garage", "oh sorry wrong number",
        "I was trying to call someone else", "is this the pizza place", "I must have dialled the wrong number",
        "isn't this the doctor's surgery", "I thought this was the bank", "sorry I meant to call my friend",
        "is this the taxi company"),
    "buying": (
        "I want to buy it", "I'd like to go ahead", "I want to sign up", "let's do it", "I'll take it",
        "I want to order the premium one", "I'm ready to purchase", "I'd like to subscribe",
        "I think I want to go ahead", "I'd like to order one", "can I order the large one", "sign me up for it",
        "I'd like to book it"),
}
# Scores below these are no reading at all: a clause that is none of the labels is a question for the knowledge.
TASK_MIN = 0.55
ACT_MIN = 0.45
QUESTION_MIN = 0.5
BUYING_MIN = 0.6

_CLAUSE = re.compile(r"(?<=[.!?;])\s+|,\s+(?=(?:but|and|so|just|i|i'd|i'm|can|could|please|what|when|where|how|"
                     r"do|does|is|are|will|would|also|then|send|tell|give)\b)|\s+but\s+", re.I)
# What adds nothing to a yes or no before it ("Yes, please"): alone it reads as anything at all.
_POLITE = re.compile(r"^(please|please do|go ahead|do)[\s,.!]*$", re.I)
_LEADING_ACT = re.compile(r"^\s*(yes|yeah|yep|sure|okay|ok|alright|right|no|nope|nah|great|perfect|brilliant)\b"
                          r"[,.!]?\s*", re.I)


def clauses(text: str) -> list[str]:
    """A turn cut where the caller starts a new thought: sentences, "but", a comma before a new clause,
    and a leading yes or no ("No thanks, I just want..." is two)."""
    out = []
    for part in _CLAUSE.split(text.strip()):
        part = part.strip(" ,")
        if out and _POLITE.match(part):  # "Yes, please" is one yes; "..., please" adds nothing to what it ends
            out[-1] += ", " + part
            continue
        while (lead := _LEADING_ACT.match(part)) and lead.end() < len(part) and not _POLITE.match(
                part[lead.end():]):  # "Okay, yes, I'd like..." is two; "Yes, please" is one yes
            out.append(part[:lead.end()].strip(" ,.!"))
            part = part[lead.end():].strip(" ,")
        if part:
            out.append(part)
    return [c for c in out if re.search(r"\w", c)]


# A clause that opens as a question does ("What number should she ring you on, so?"), whatever else it reads like
ASKS = re.compile(r"\s*(what|when|where|who|whom|whose|which|why|how|is|are|was|were|do|does|did|can|could|will|"
                  r"would|should|shall|may|have|has)\b", re.I)
_TOPIC = re.compile(r"\s+(?:about|regarding|concerning|to do with|with regard to|in connection with)\s+", re.I)


def head(clause: str) -> str:
    """What the caller asks for without what it is about: "put me through to someone | about my claim". The task is
    said in the head; a long topic would otherwise outweigh it."""
    found = _TOPIC.search(clause)
    return clause[:found.start()] if found and len(clause[:found.start()].split()) >= 3 else clause


@dataclass(frozen=True)
class Reading:
    """One turn as the classifier read it: each clause's best label and score, and what they add up to."""

    clauses: list[tuple[str, str, float]] = field(default_factory=list)  # (clause, label, score)
    buying: bool = False

    def best(self, labels, minimum: float) -> tuple[str, float] | None:
        """The highest-scoring clause label among `labels`, if it reaches `minimum`."""
        found = [(label, score) for _, label, score in self.clauses if label in labels and score >= minimum]
        return max(found, key=lambda item: item[1]) if found else None

    @property
    def task(self) -> str | None:
        """The task the surest clause asks for, if one is sure enough."""
        found = self.best(TASKS, TASK_MIN)
        return found[0] if found else None

    @property
    def question(self) -> bool:
        """Whether some clause asks something: it reads as a question, or it is no yes, no or goodbye and ends
        with a question mark."""
        clauses = self.clauses
        for number, (clause, label, score) in enumerate(clauses):
            tail = clauses[number + 1][0] if number + 1 < len(clauses) else ""
            if ASKS.match(clause) and len(tail.split()) <= 2 and "?" in tail:
                clause += tail  # "What number should she ring you on, so?" was cut before its "so?"
            if (label in QUESTIONS and score >= QUESTION_MIN) or ("?" in clause and (label not in ACTS
                                                                                     or ASKS.match(clause))):
                return True
        return False

    def act(self, name: str) -> bool:
        """Whether some clause is this yes, no or goodbye."""
        return self.best((name,), ACT_MIN) is not None


_VECTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class IntentClassifier:
    """Nearest examples by meaning, with the embedder the knowledge index already has loaded."""

    def __init__(self, embedder, examples: dict[str, tuple[str, ...]] = EXAMPLES):
        self.embedder = embedder
        self.labels = [label for label, texts in examples.items() for _ in texts]
        if examples is EXAMPLES and embedder in _VECTORS:
            self.vectors = _VECTORS[embedder]
        else:
            self.vectors = embedder.embed([text for texts in examples.values() for text in texts])
            if examples is EXAMPLES:
                _VECTORS[embedder] = self.vectors

    def read(self, text: str, mask=None) -> Reading:
        """Each clause's best label (buying is also a signal of its own). With `mask` (Catalog.mask), each label
        scores the better of the clause as said and with the company's names said as "it", so that "order the
        Gold plan" reads like "order it" and a name's own words do not decide what the caller wants."""
        parts = clauses(text) or [text]
        variants = [parts] + ([[mask(part) for part in parts]] if mask else [])
        similarity = np.max([self.embedder.embed(version) @ self.vectors.T for version in variants], axis=0)
        # A task may also be read from the clause's head alone; "can you tell me | about ..." stays a question.
        cut = [(row, said) for row, part in enumerate(parts) if (said := head(part)) != part]
        if cut:
            heads = self.embedder.embed([text for _, text in cut]) @ self.vectors.T
            tasks = np.array([label in TASKS for label in self.labels])
            for (row, _), scores in zip(cut, heads):
                similarity[row] = np.where(tasks, np.maximum(similarity[row], scores), similarity[row])
        found, buying = [], False
        for part, row in zip(parts, similarity):
            best: dict[str, float] = {}
            for label, score in zip(self.labels, row):
                best[label] = max(best.get(label, -1.0), float(score))
            buying = buying or best["buying"] >= BUYING_MIN
            label = max(best, key=best.get)
            found.append((part, label, best[label]))
        return Reading(found, buying)
