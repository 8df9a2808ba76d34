"""What the reply model says about the company is checked against the passages it was given, clause by clause,
before the caller hears it.

A clause with a number (a price, a count of days, a time) or a weekday that is not in the passages stops the
model's answer there: the rest is the passages' own sentence that best answers the question, made speakable,
or the appliance's honest "I'll get a colleague to confirm that". Clauses in which the model talks about its
instructions or its input ("the passages", "the caller"), offers a specialist in its own words, or only
repeats the caller's question are dropped: escalations and apologies are the appliance's, said in code.
"""

from __future__ import annotations

import logging
import re
from typing import Callable

import numpy as np

from appliance.dialogue.catalog import PRICE, name_words, priced_items
from appliance.dialogue.entities import WEEKDAYS
from appliance.dialogue.prompt import SYSTEM
from appliance.knowledge.documents import plain, shouted
from appliance.tts.sentences import SentenceSplitter

log = logging.getLogger(__name__)

TENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
        "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
        "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
UNITS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
# The model speaking about its instructions or its input, never to the caller.
META = re.compile(r"\b(the caller|caller's|passages?|the context|as an ai|language model|provided (text|information|"
                  r"documents?|data)|documents? (provided|given)|(i|you) (do not|don't|cannot|can't) (have )?access|"
                  r"based on the (information|passages?|documents?))\b", re.I)
# The model declining, in its own words: the appliance says what happens next (a colleague), not the model.
REFUSES = re.compile(r"\b(i('m| am) (sorry,? )?(but )?(unable|not able) to|i (can't|cannot|can not) (assist|help) with "
                     r"(that|this|your)|i('m| am) not allowed to|i (don't|do not) have (any |enough )?(information|"
                     r"details)|(provide|give)( me| us)? (some |any )?more (details|context|information)|clarify your "
                     r"question)\b", re.I)
# An offer of a person in the model's words: the appliance makes its own when the model escalates.
HANDOVER = re.compile(r"\b(connect (you|the caller)|transfer (you|the caller)|put (you|the caller) through|human agent|"
                      r"(will|shall|can|could) (connect|transfer)|(speak|talk) (to|with) (a|one of our|our) "
                      r"(specialists?|colleagues?|agents?|representatives?|team)|(a|one of our|our) (specialists?|"
                      r"colleagues?|representatives?) (will|can|could|would))\b", re.I)
# The model promising to do something itself ("I can book a pick-up for you", "I'll email you the form"): an answer
# from the documents does nothing, so what it promises would never happen. The appliance's actions are taken in code
# when the caller asks for them, and said by the appliance.
PROMISES = re.compile(r"\b(?:i(?:'ll| will| can| could| shall|'d be happy to| would be happy to)|let me)(?: also| now| "
                      r"just| gladly)? (?:book|arrange|schedule|send|e-?mail|text|sms|cancel|refund|process|order|"
                      r"reserve|set up|organi[sz]e|place|sign you up|register|change|update|reschedule|collect|pick up|"
                      r"waive|credit|issue|call you|ring you|contact)\b", re.I)
CONFIRM = "I'd rather not guess at that. I'll get a colleague to confirm it for you: would you like me to connect you?"
# Where a line of run-together text breaks into sentences and list items: after a full stop, at a bullet, and at
# a dash that starts an item ("on request - Dedicated account manager", not "Monday - Friday 9am - 5pm"). A full
# stop ends no sentence before a small letter ("Sp. z o.o.", "e.g. the") or after the short forms an address, a
# name or a date is written with ("ul. Długa 14", "Jl. Sudirman", "St. Kilda Rd. 12", "Dr. Osei", "No. 5",
# "Thu., Dec. 25").
INLINE_ITEM = re.compile(r"(?<=[.!?])(?<!\b[A-Za-z]\.)(?<!\b(?:ul|al|pl|os|St|st|Rd|Dr|Mr|Ms|No|no|Nr|nr|Jl|Av|Sp|Co)\.)"
                         r"(?<!\b(?:Ave|Mrs|Str|str|Tel|tel|Jln|Blk|Apt|Ste)\.)"
                         r"(?<!\b(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Mon|Tue|Wed|Thu|Fri|Sat|Sun)\.)"
                         r"(?<!\b(?:Sept|Tues|Thur)\.)\s+(?![a-z])|"
                         r"\s+[*•]\s+|(?<=[a-z)])\s+-\s+(?=[A-Z][a-z]+ [a-z])")
# An FAQ's question written in the customer's words ("My boiler won't start after I ran out of oil"): no answer
CUSTOMERS_VOICE = re.compile(r"(I|I'm|I've|I'd|My|Can I|Do I|How do I|What if I|Should I)\b")
MAX_QUOTED_WORDS = 40  # longer is a run-together table or paragraph, not a sentence to say; a question answers nothing
MIN_EXTRACT_SCORE = 0.3  # a passage sentence closer than this to the question (cosine) may answer it


GROUPED = re.compile(r"(?<![\d.,])\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?![\d.,]\d)")  # thousands grouped by spaces
# "17:30", "8.30" (not "$19.50", a price)
TIME = re.compile(r"(?<![$€£¥₹\d,.])(?<![$€£¥₹] )\b([01]?\d|2[0-3])(?::|\.(?=\d\d\b))([0-5]\d)\b(?!\s*%)")


# "Yes, we do the gas bottles as well", "we sell and fit stoves": what the business is said to offer.
OFFERS = re.compile(r"\bwe (?:also )?(?:can (?:also )?|could |will )?(?:do|sell|offer|stock|have|carry|provide|supply|"
                    r"install|fit|service|repair|hire|rent|put|mount|build|deliver|fix|clean|cover|take)\b"
                    r"(?: and \w+)?\s+(?P<what>[a-z][a-z' -]{2,40})", re.I)
# "No refrigerated delivery is available", "we don't offer cold lockers", "there are no cooled lockers": what the
# business is said not to do, which the passages must say as well.
DENIES = re.compile(r"\b(?:we (?:do not|don't|cannot|can't|no longer) (?:do|sell|offer|stock|have|carry|provide|supply|"
                    r"deliver|ship|accept|take)|there (?:is|are) no|(?:^|\. |, )no)\s+(?!problem|worries|need|doubt|matter)(?P<what>[a-z][a-z' -]{2,40}?)"
                    r"(?= (?:is|are|available|offered|for|in|at|to|on)\b|[.,!]|$)", re.I)
FREE = re.compile(r"\b(no (extra )?(charges?|fees?|costs?)|free of charge|(is|it's|are|they're) free|doesn't cost|"
                  r"won't cost|nothing to pay)\b", re.I)
PLAIN_WORDS = set("""the a an some any all our your them that this those these it its as well too also yes no not and
    or for with from to of in on at by can will would could just only both every each more most other such here there
    very really sure course about around""".split())
# The words an answer may add without saying anything: who, and whether
SMALL_WORDS = set("""we us you i me my mine yours is are was do does did have has had there yes yeah yep of course
    certainly absolutely definitely indeed okay great good""".split())


def numbers(text: str) -> set[str]:
    """The numbers in `text`, as canonical strings ("1,299.00" → "1299", and its parts "1299", "00" → "0"), with
    spoken tens ("thirty days", "forty-five") as digits. A clock time is one number ("17:30" → "17:30", "5:30" and
    the hours "17" and "5"), so its minutes never vouch for "30 days"."""
    found = set()
    for hour, minute in TIME.findall(text):
        for h in {int(hour), int(hour) % 12 or 12}:
            found.update({f"{h}:{minute}", str(h)} if minute != "00" else {str(h), f"{h}:00"})
    text = TIME.sub(" ", text)
    for grouped in GROUPED.findall(text):  # "R164 500": one number, not 164 and 500
        found.add(str(int(re.sub(r"\D", "", grouped))))
    text = GROUPED.sub(" ", text)
    for token in re.findall(r"\d[\d,]*(?:\.\d+)?", text):
        token = token.replace(",", "").rstrip(".")
        found.add(str(float(token)).removesuffix(".0") if token else token)
        found.update(str(int(part)) for part in token.split(".") if part)
    words = text.lower()
    for found_tens in re.finditer(rf"\b({'|'.join(TENS)})(?:[\s-]({'|'.join(UNITS)}))?\b", words):
        found.add(str(TENS[found_tens.group(1)] + UNITS.get(found_tens.group(2) or "", 0)))
    return found


def _money(text: str) -> set[str]:
    """The amounts `text` writes as money, as canonical numbers."""
    return set().union(*(numbers(found.group(0)) for found in PRICE.finditer(text)))


def clock_times(text: str) -> set[str]:
    """The times of day in `text` on a 24-hour clock ("2 PM", "14:00", "2.30 pm" → "14:00", "14:30"); a time written
    without AM or PM ("9:00 to 5:30") counts both ways, as a reader would take it."""
    found = set()
    for hour, minute, half in re.findall(r"\b(\d{1,2})(?:[:.](\d{2}))?\s*([ap])\.?\s?m\b\.?", text, re.I):
        hour = int(hour) % 12 + (12 if half.lower() == "p" else 0)
        found.add(f"{hour:02d}:{minute or '00'}")
    for hour, minute in TIME.findall(text):
        found.update({f"{int(hour):02d}:{minute}", f"{(int(hour) + 12) % 24:02d}:{minute}"} if int(hour) < 12 else
                     {f"{int(hour):02d}:{minute}"})
    return found


def _instruction(clause: str) -> bool:
    """Whether `clause` is the model saying back its own instructions ("never make up facts, prices or order
    details"): four words or more of it in a row from the system prompt."""
    said = _words(clause)
    hits = sum(" ".join(said[i:i + 4]) in _PROMPT for i in range(len(said) - 3))
    return len(said) >= 4 and hits >= max(1, (len(said) - 3) // 2)


def says_nothing_new(answer: str, heard: str) -> bool:
    """Whether `answer` only gives the caller's question back ("Yes, there is an app for your phone."): no word of
    its own besides yes, no and the small words, so nothing of what the documents say."""
    asked = {_stem(word) for word in _words(heard)}
    own = {_stem(word) for word in _words(answer) if len(word) > 2} - asked - PLAIN_WORDS - SMALL_WORDS
    return not own


def _stem(word: str) -> str:
    """"bottles" → "bottle", as a word to look for; "gas" and "glass" stay whole."""
    return word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith("ss") else word


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


_PROMPT = " ".join(_words(SYSTEM))  # the system prompt's words, for _instruction


class Grounded:
    """Takes the model's spoken text as it streams (`push`), passes each clause that holds up to `forward`, and
    keeps what it held back. `finish` ends it; `text` is what was passed on."""

    def __init__(self, passages: list, heard: str, forward: Callable[[str], None]):
        source = " ".join(f"{p.heading} {plain(p.text)}" for p in passages)
        self.facts = numbers(source) | numbers(heard)  # what the caller said may be said back
        self.days = {day for day in WEEKDAYS if re.search(rf"\b{day}", source, re.I)}
        self.times = clock_times(source)
        # Each priced thing in the passages, by the words of its name: a price said of it must be its own.
        self.prices = [(name_words(name), numbers(price)) for name, price in priced_items(passages)
                       if name_words(name) and numbers(price)]
        # The amounts written as money ("€1,195", "450 KES"): "1350 euros" is no price where 1,350 is litres.
        self.money = _money(source) | _money(heard)
        self.source = source.lower()
        self.characters = set(source) | set(heard)
        self.heard = heard
        self.forward = forward
        self.said: list[str] = []
        self.dropped: list[tuple[str, str]] = []  # (clause, why)
        self.failed = False  # a fact that is not in the passages: the model's answer stopped there
        self._splitter = SentenceSplitter()

    @property
    def text(self) -> str:
        return " ".join(self.said)

    def push(self, delta: str) -> None:
        for clause in self._splitter.push(delta):
            self._take(clause)

    def finish(self) -> None:
        for clause in self._splitter.flush():
            self._take(clause)

    def problem(self, clause: str) -> tuple[str, bool] | None:
        """Why `clause` may not be said, and whether that makes the whole answer untrustworthy; None if it may."""
        if META.search(clause):
            return "speaks of its instructions or input", False
        if REFUSES.search(clause):  # "I'm sorry, but I can't assist with that.": no answer, and not ours to say
            return "refuses to answer", True
        foreign = set(re.findall(r"[^\x00-\u024f\u2000-\u206f\u20a0-\u20cf]", clause)) - self.characters
        if foreign:  # "If it locks出": a small model slipping into another script is past what it can be trusted with
            return f"writes {''.join(sorted(foreign))}, which neither the passages nor the caller use", True
        if _instruction(clause):  # its prompt said back: the rules are noise, the example's facts are made up
            facts = numbers(clause) or any(re.search(rf"\b{day}", clause, re.I) for day in WEEKDAYS)
            return "says back its own prompt", bool(facts)
        if HANDOVER.search(clause):
            return "offers a person in its own words", False
        if PROMISES.search(clause):
            return "promises to do something itself, which no answer from the documents does", False
        said, asked = _words(clause), set(_words(self.heard))
        if (len(said) >= 4 and sum(word in asked for word in said) / len(said) >= 0.8) or (
                len(said) >= 2 and all(word in asked for word in said)):  # "Okay noted. Terima kasih ya!" said back
            return "repeats the caller's words", False
        unknown = numbers(clause) - self.facts
        if unknown:
            return f"names {', '.join(sorted(unknown))}, which the passages do not", True
        priced = _money(clause) - self.money
        if priced and self.money:
            return f"names {', '.join(sorted(priced))} as money, which the passages do not", True
        charged = self._free_where_charged(clause)
        if charged:
            return charged, True
        offered = self._offer_not_in_passages(clause) or self._denial_not_in_passages(clause)
        if offered:
            return offered, True
        wrong = self._price_of_another(clause)
        if wrong:
            return wrong, True
        times = clock_times(clause) - self.times
        if times:  # "10 AM" must be a time the passages give, not just a 10 somewhere in them
            return f"names the time {', '.join(sorted(times))}, which the passages do not", True
        lowered = clause.lower()
        for day in WEEKDAYS:
            if re.search(rf"\b{day}", lowered):
                if day not in self.days:
                    return f"names {day.title()}, which the passages do not", True
                others = "|".join(other for other in WEEKDAYS if other != day)
                closed = re.search(rf"\bclosed\b[^.]{{0,60}}\b{day}|\b{day}s?\b(?:(?!{others}|\bopen).){{0,40}}?\bclosed\b",
                                   self.source)
                if closed and re.search(r"\bopen\b", lowered) and not re.search(r"\b(not|closed)\b", lowered):
                    return f"says open on {day.title()}, where the passages say closed", True
        return None

    def _free_where_charged(self, clause: str) -> str | None:
        """Why "no charge if you cancel" may not be said: the passages' sentences about the same thing name a fee."""
        if not FREE.search(clause):
            return None
        about = {_stem(word) for word in _words(FREE.sub(" ", clause)) if len(word) > 3 and word not in PLAIN_WORDS}
        for sentence in re.split(r"(?<=[.!?])\s+", self.source):
            if any(re.search(rf"\b{re.escape(word)}", sentence) for word in about) and PRICE.search(sentence) and \
                    re.search(r"\b(fee|charge|charged|cost|pay)\b", sentence):
                return "says there is no charge, where the passages name a fee for it"
        return None

    def _offer_not_in_passages(self, clause: str) -> str | None:
        """Why "yes, we do the gas bottles as well" may not be said: the business is said to offer something whose
        words the passages never use."""
        found = OFFERS.search(clause)
        if not found:
            return None
        words, missing = self._unmentioned(found.group("what"))
        if missing:
            return f"says we offer {', '.join(missing)}, which the passages never mention"
        denied = [word for word in words if re.search(rf"\b(don't|do not|doesn't|does not|cannot|can't|no longer|not|"
                                                      rf"never)\b[^.]{{0,40}}\b{re.escape(word)}", self.source)]
        return f"says we offer {', '.join(denied)}, where the passages say we do not" if denied else None

    def _unmentioned(self, what: str) -> tuple[list[str], list[str]]:
        """The words that say what is (or is not) offered, stemmed, and those of them the passages never use."""
        words = [_stem(word) for word in _words(what) if len(word) > 2 and word not in PLAIN_WORDS]
        return words, [word for word in words if not re.search(rf"\b{re.escape(word)}", self.source)]

    def _denial_not_in_passages(self, clause: str) -> str | None:
        """Why "no refrigerated delivery is available" may not be said: what the business is said not to do is
        named nowhere in the passages, so they say nothing either way (someone who knows is asked instead)."""
        found = DENIES.search(clause)
        if not found:
            return None
        _, missing = self._unmentioned(found.group("what"))
        return f"says we do not offer {', '.join(missing)}, which the passages never mention" if missing else None

    def _price_of_another(self, clause: str) -> str | None:
        """Why a clause that names a priced thing and an amount is wrong, when the amount is not that thing's price
        ("Hardcover binding costs 120 Kč" where the table gives hardcover 390 Kč and softcover 120 Kč)."""
        amounts = set().union(*(numbers(found.group(0)) for found in PRICE.finditer(clause)))
        if not amounts:
            return None
        said = set(_words(clause))
        said |= {word.rstrip("s") for word in said}
        for words, price in self.prices:
            if all(word in said or word.rstrip("s") in said for word in words) and not amounts & price:
                return f"gives {' '.join(sorted(words))} a price that is not its own"
        return None

    def _take(self, clause: str) -> None:
        if self.failed:
            self.dropped.append((clause, "after an unchecked fact"))
            return
        found = self.problem(clause)
        if found is not None:
            why, fatal = found
            log.warning("reply-unchecked: held back %r: it %s", clause, why)
            self.dropped.append((clause, why))
            self.failed = fatal
            return
        self.said.append(clause)
        self.forward(clause + " ")


def speakable(line: str) -> str:
    """A line of a document as a sentence said on the phone: no bullet, section number, shouted heading run into
    it, "Q:" / "A:" marks or dot leaders ("Boiler service ........ EUR 140" → "Boiler service: EUR 140")."""
    # "- ", "3.1 ", "2) ", but not the number that begins "4 hours: $55"
    line = re.sub(r"^\s*([-*•]|\(?\d+(\.\d+)*[.)](?=\s)|\d+(\.\d+)+(?=\s))\s+", "", line)
    line = re.sub(r"^(?:[A-Z][A-Z&'/-]+\s+){2,}(?=[A-Z]?[a-z0-9])", "", line)  # "RETURNS AND EXCHANGES Unopened ..."
    line = re.sub(r"^\s*([-*•]|\(?\d+(\.\d+)*[.)](?=\s)|\d+(\.\d+)+(?=\s))\s+", "", line)  # the number after it
    line = re.sub(r"^\s*Q:.*?\?\s*A:\s*", "", line)  # an FAQ's question and answer on one line: the answer
    line = re.sub(r"^\s*[QA]:\s*", "", line)
    line = re.sub(r"\s*(\.{3,}|…+|_{3,})\s*", ": ", line)
    return line.strip()


def _row(line: str) -> bool:
    """Whether `line` stands alone: a table row with dot leaders or a column gap ("Boiler service ...... €140"), or
    a heading in capitals ("OIL TANKS - SUPPLY AND FIT")."""
    return bool(re.search(r"\S(\s*\.{3,}|…|\s{3,})\s*\S", line)) or shouted(line)


def _unwrapped(text: str) -> list[str]:
    """The lines of a passage with the lines a paragraph or list item was wrapped onto joined back to it: also a
    line that ends in a colon, when what follows is no list ("...when the technician arrives:" over "RM 50.00
    call-out charge.")."""
    lines: list[str] = []
    for line in text.split("\n"):
        if re.fullmatch(r"\s*[-=_*~#]{3,}\s*", line):  # a rule under a heading
            line = ""
        starts = re.match(r"\s*([-*•]|\d+[.)]|[QA]:|\||\d{1,2}[./]\d{1,2}[./]\d{2,4}\b)", line) or _row(line)
        if lines and lines[-1].strip() and line.strip() and not starts and not _row(lines[-1]) and not \
                lines[-1].rstrip().endswith((".", "!", "?")):
            lines[-1] = f"{lines[-1].rstrip()} {line.strip()}"
        else:
            lines.append(line)
    return lines


def quoted_from(quoted: str, passages: list):
    """The passage a quote (from `extractive`) was taken from: the one whose words begin it; else the first."""
    start = " ".join(_words(quoted)[:6])
    return next((passage for passage in passages if start in " ".join(_words(speakable(plain(passage.text))))),
                passages[0])


def extractive(question: str, passages: list, embed, most: int = 2, max_chars: int = 220,
               min_score: float = MIN_EXTRACT_SCORE, priced: bool = False, sections: bool = True) -> str | None:
    """The passages' own sentences that best answer `question` (by meaning, in the passages' order), made
    speakable; None when none is `min_score` close to answering it. `priced`: the question asks what something
    costs, so only a sentence that names an amount of money answers it. `sections`: a question closest to a
    section's heading is answered with the section's opening sentences (off: only a sentence itself answers)."""
    sentences, asked = [], []  # what may be said; what each is scored by (an FAQ answer: with its question)
    leads = {}  # the index of each passage's heading among `asked`: its first sentences answer a general question
    for passage in passages:
        faq = ""  # an FAQ's question line, which its answer on the next line is matched with
        first = len(sentences)
        heading = passage.heading.split(" > ")[-1]
        # A section's heading says what its sentences are about ("What's a bike fit?" for "It costs $180"); a
        # document's title over its opening lines (an address, a phone number) says nothing about each of them.
        context = heading if " > " in passage.heading else ""
        for line in _unwrapped(plain(passage.text)):
            if re.fullmatch(r"\s*(Q:)?.*\?\s*", line):  # "Q: Can I return it?", or a question on a line of its own
                faq = re.sub(r"^\s*Q:\s*", "", line).strip()
                continue  # the question is no answer, however close to the caller's words
            for sentence in INLINE_ITEM.split(speakable(line)):
                sentence = speakable(sentence)
                if 3 <= len(_words(sentence)) <= MAX_QUOTED_WORDS and not sentence.endswith("?") and \
                        not CUSTOMERS_VOICE.match(sentence) and not shouted(sentence):
                    sentences.append(sentence)
                    asked.append(f"{faq or context}: {sentence}".strip(": "))
            faq = faq if not line.strip() else ""
        if len(sentences) > first and heading and sections:
            leads[len(asked)] = first
            sentences.append(sentences[first])
            asked.append(heading)
    if not sentences:
        return None
    vectors = embed([question] + asked)
    scores = vectors[1:] @ vectors[0]
    if priced:
        for index, sentence in enumerate(sentences):
            if not PRICE.search(sentence):
                scores[index] = -1.0
    top = int(np.argmax(scores))
    if scores[top] < min_score:
        return None
    if top in leads:  # "what is your returns policy?" is closest to the heading: the section's opening says it
        start = leads[top]
        best = [start] + ([start + 1] if start + 1 < top else [])  # its first two sentences
    elif priced:  # rows of one price list close to the question ("a new tank?": each size) are said together
        close = max(MIN_EXTRACT_SCORE, scores[top] - 0.05)
        best = [int(i) for i in np.argsort(-scores)[:most + 1] if scores[i] >= close and int(i) not in leads]
    else:
        best = [int(i) for i in np.argsort(-scores)[:most] if scores[i] >= MIN_EXTRACT_SCORE and int(i) not in leads]
    # A line that introduces a list ("If any lobsters arrive dead:") says nothing alone: it is said with its first
    # item ("Let us know within 24 hours of delivery"), or not at all.
    best = set(best) | {index + 1 for index in best if sentences[index].endswith(":") and index + 1 < len(sentences)
                        and index + 1 not in leads}
    chosen, length = [], 0
    for index in sorted(best):
        if chosen and length + len(sentences[index]) > max_chars:
            break
        chosen.append(sentences[index] if sentences[index][-1] in ".!?:" else sentences[index] + ".")
        length += len(sentences[index])
    while chosen and chosen[-1].endswith(":"):
        chosen.pop()
    return " ".join(chosen) or None
