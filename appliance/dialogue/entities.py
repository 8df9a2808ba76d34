"""What code reads better than a model: phone numbers, spoken digits, spelled emails, order IDs, dates and times."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

DIGIT_WORDS = {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "to": "2", "too": "2", "three": "3",
               "four": "4", "for": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}
REPEATS = {"double": 2, "triple": 3}
AMBIGUOUS = {"to", "too", "for", "oh", "o"}
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
AMOUNT_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "ten": 10, "fifteen": 15,
                "twenty": 20, "thirty": 30, "forty five": 45}
IN_A_WHILE = re.compile(r"\bin (half an|an?|one|two|three|four|five|ten|fifteen|twenty|thirty|forty five|\d{1,3}) "
                        r"(minutes?|hours?)\b")
DAY_OF_MONTH = re.compile(r"\b(?:(" + "|".join(MONTHS) + r") (?:the )?(\d{1,2})(?:st|nd|rd|th)?|"
                          r"(?:the )?(\d{1,2})(?:st|nd|rd|th)(?: of (" + "|".join(MONTHS) + r"))?)\b")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
            "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
            "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
            "twentieth": 20, "thirtieth": 30}
_MONTH_NAME = "|".join(MONTHS)
# "the twenty-fourth", "December the first", "first of May": an ordinal in words with what makes it a date before
# it (group 1) or "of <month>" after it; a compound is said with a hyphen or a space ("twenty fourth").
ORDINAL_DAY = re.compile(rf"\b(the |(?:{_MONTH_NAME}) (?:the )?)?(?:(twenty|thirty)[\s-])?"
                         rf"({'|'.join(sorted(ORDINALS, key=len, reverse=True))})\b", re.I)
# What may follow a day said that way: the end of a clause, its month, or a word that starts a new phrase ("the
# first at ten", "the fourth or the fifth"); a noun after it makes it a rank instead ("the first time", "the second
# one", "the fourth Thursday").
AFTER_A_DAY = re.compile(rf"\s*(?:[^\w\s]|$)|\s+(?:of (?:the |this |next )?(?:{_MONTH_NAME}|month)|{_MONTH_NAME}|"
                         rf"at|in|on|or|and|around|about|by|after|before|then|instead|from|until|till|morning|"
                         rf"afternoon|evening|night)\b", re.I)
PARTS_OF_DAY = {"morning": time(10), "noon": time(12), "afternoon": time(14), "evening": time(18)}
HOUR_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
              "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
              "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20}
# Words before a bare hour that make it a time: "at 3", "around 3", and a correction, "no, make it 4".
TIME_CUES = r"(?:at|around|round|by|about|say|make it|no|sorry|actually|rather|instead|or)"
# ...and a word after it that makes it a quantity: "around six hundred pieces", "about 3 copies", "at 5 percent".
# A plural noun counts, but not the short words and verbs that end in s ("at 3 works", "at 4 this afternoon").
QUANTITY_AFTER = re.compile(r"\W+(?:\d|zero|oh|one|two|three|four|five|six|seven|eight|nine)\b|"  # a run of digits
                            r"\s+(?:hundred|thousand|million|grand|percent|per|dozen|"
                            r"(?!(?:this|is|was|works|suits|please|as|us|yes|thanks|plus)\b)[a-z]+s)\b")
MONTH_AFTER = re.compile(rf"\s+(?:of|{_MONTH_NAME})\b", re.I)  # "... of May", "... December"
# A weekday said beside a date, naming it: "Thursday the 24th", "the 24th, Thursday"
WEEKDAY_BEFORE = re.compile(rf"\b({'|'.join(WEEKDAYS)}),?\s+(?:the\s+)?$")
WEEKDAY_AFTER = re.compile(rf"\s*,?\s*(?:a\s+|on\s+a\s+)?({'|'.join(WEEKDAYS)})\b")


def _one_digit(token: str) -> bool:
    """Whether a token is one digit, said ("four") or written ("4"), and not a word that doubles as one ("to")."""
    token = token.lower()
    return (token in DIGIT_WORDS and token not in AMBIGUOUS) or (token.isdigit() and len(token) == 1)


def spoken_digits(text: str) -> str:
    """Runs of spoken digits ("nine eight double seven") written as digits ("9877"); other words kept.

    A run needs two digits or more; words that double as digits ("to", "for", "oh") never make one alone.
    """
    # "three double-zero": a recognizer writes "double" joined to its digit by a hyphen; the words are the same
    text = re.sub(rf"\b(double|triple)\s*-\s*(?=(?:{'|'.join(DIGIT_WORDS)}|\d)\b)", r"\1 ", text, flags=re.I)
    # "nine-oh-two, five-five-five": digits said in groups are written joined by hyphens
    digit = rf"(?:{'|'.join(DIGIT_WORDS)})"
    text = re.sub(rf"\b{digit}(?:-{digit})+\b", lambda found: found.group(0).replace("-", " "), text, flags=re.I)
    tokens = re.findall(r"[A-Za-z']+|\d+|[^\sA-Za-z\d]", text)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        digits, j = "", i
        while j < len(tokens):
            word = tokens[j].lower()
            following = tokens[j + 1].lower() if j + 1 < len(tokens) else ""
            if word in REPEATS and (following in DIGIT_WORDS or following.isdigit()) and len(following) == 1 or (
                    word in REPEATS and following in DIGIT_WORDS):
                digits += DIGIT_WORDS.get(following, following) * REPEATS[word]
                j += 2
            elif word in DIGIT_WORDS or word.isdigit():
                digits += DIGIT_WORDS.get(word, word)
                j += 1
            elif word == "," and j > i and _one_digit(tokens[j - 1]) and _one_digit(following) and (
                    j - 2 < i or tokens[j - 2] == ",") and not (j + 2 < len(tokens) and _one_digit(tokens[j + 2])):
                j += 1  # "four, eight, two, one, three": a number said digit by digit, a pause after each
            else:
                break
        run = [t.lower() for t in tokens[i:j]]
        if len(digits) >= 2 and not all(t in AMBIGUOUS for t in run) and any(not t.isdigit() for t in run):
            out.append(digits)
            i = j
        else:
            out.append(tokens[i])
            i += 1
    # "oh eight five, double two, three, four seven": a digit said alone between runs of digits is one of them
    words = [k for k, token in enumerate(out) if re.fullmatch(r"[\w']+", token)]
    for before, k, after in zip(words, words[1:], words[2:]):
        if out[k].lower() in DIGIT_WORDS and out[k].lower() not in AMBIGUOUS and out[before].isdigit() \
                and out[after].isdigit():
            out[k] = DIGIT_WORDS[out[k].lower()]
    return re.sub(r"\s+([^\w\s'])", r"\1", " ".join(out))


def to_e164(text: str, country_code: str = "+1") -> str | None:
    """The phone number in `text` as E.164, local numbers taking `country_code`; None if there is none."""
    spoken = re.sub(r"(\bplus\s+|\+\s+)", "+", spoken_digits(text), flags=re.I)
    # "two two seven... sorry... two two seven": a group said again after a correction replaces the one before it
    spoken = re.sub(r"\b(\d+)\W+(?:sorry|no|i mean|correction|rather|wait|oops)\b\W+(?=\d)", "", spoken, flags=re.I)
    # Whisper can write a spoken number as a quantity: "9 billion 876 543,210"
    spoken = re.sub(r"(?<=\d)\s+(billion|million|thousand|lakh|crore)\s+(?=\d)", " ", spoken, flags=re.I)
    found = re.search(r"(\+?\d[\d\s().,-]{5,}\d)", spoken)
    if not found:
        return None
    raw = found.group(1)
    digits = re.sub(r"\D", "", raw)
    code = country_code.lstrip("+")
    if raw.startswith("+"):
        number = digits
    elif digits.startswith("00"):
        number = digits[2:]
    elif digits.startswith(code) and len(digits) > 10:
        number = digits
    else:
        number = code + digits.lstrip("0")
    if not 8 <= len(number) <= 15:
        return None
    return "+" + number


_SPELLED_AS = re.compile(r"\b([a-z])(?:,)?\s+(?:as in|for|like)\s+[a-z']+\b,?", re.I)


def letters_said(text: str) -> str:
    """Letters spelled with a word to make them clear ("V as in Victor", "B for Bravo") as the letters alone."""
    return _SPELLED_AS.sub(lambda found: found.group(1), text)


def join_spelled(text: str) -> str:
    """Letters and digits spelled one by one ("j a n e 4") joined into one word ("jane4").

    The last one may end a sentence ("P J. I want..." → "PJ. I want..."): the stop ends the word, not the spelling.
    """
    out: list[str] = []
    previous_single = False
    for token in text.split():
        single = len(token) == 1 and token.isalnum()
        last = re.fullmatch(r"[^\W_][.,;:!?]+", token) is not None
        if (single or last) and previous_single:
            out[-1] += token
        else:
            out.append(token)
        previous_single = single
    return " ".join(out)


def _spelling_kept(words: str) -> str:
    """Words said and then spelled keep the spelling only: "josh josh" → "josh", "o sullivan osullivan" →
    "osullivan" (the spelling is what the caller meant the words to be)."""
    out: list[str] = []
    for word in words.split():
        for size in (1, 2, 3):
            if len(out) >= size and len(word) >= 3 and "".join(out[-size:]) == word:
                del out[-size:]
                break
        out.append(word)
    return " ".join(out)


# Words said for the symbols in an address, and digits said in one: the letter "o" and "to"/"for" stay words.
ADDRESS_SYMBOLS = {"at", "dot", "period", "point", "underscore", "dash", "hyphen"}
ADDRESS_DIGITS = {word: digit for word, digit in DIGIT_WORDS.items() if word not in {"o", "to", "too", "for"}}


def _address_digits(words: str) -> str:
    """Digits said as words in an address ("ain nine two at", "double oh seven") written as digits and joined to
    the word or spelled letters before them ("ain92 at"): callers spell the letters and say the digits as numbers.

    "oh" alone stays a word ("oh, it's..."); after a symbol word ("underscore nine two") the digits start a part.
    """
    tokens = words.split()
    out: list[str] = []
    i = 0
    while i < len(tokens):
        digits, j = "", i
        while j < len(tokens):
            following = tokens[j + 1] if j + 1 < len(tokens) else ""
            if tokens[j] in REPEATS and following in ADDRESS_DIGITS:
                digits += ADDRESS_DIGITS[following] * REPEATS[tokens[j]]
                j += 2
            elif tokens[j] in ADDRESS_DIGITS:
                digits += ADDRESS_DIGITS[tokens[j]]
                j += 1
            elif j == i and tokens[j].isdigit() and following == "at":  # "doucette 77 at": written as digits
                digits += tokens[j]
                j += 1
            else:
                break
        if not digits or all(token == "oh" for token in tokens[i:j]):
            out.append(tokens[i])
            i += 1
            continue
        if out and out[-1] not in ADDRESS_SYMBOLS and re.fullmatch(r"[a-z0-9]+", out[-1]):
            out[-1] += digits
        else:
            out.append(digits)
        i = j
    return " ".join(out)


# "r dot doucet, no wait, with two T's and an E, D O U C E T T E": a word of an address corrected by spelling it
_RESPELLED = re.compile(r"\b([a-z]{3,})[,.]?\s+(?:no,? wait|no,? sorry|sorry|i mean|wait|actually|no)\b[^@]{0,60}?"
                        r"((?:\b[a-z]\b[\s,-]+){2,}\b[a-z]\b)")


def _respelled(text: str) -> str:
    """A word said, then corrected by spelling it, as the spelled word: what comes between is explanation."""
    def respell(found: re.Match) -> str:
        letters = re.sub(r"[^a-z]", "", found.group(2))
        word = found.group(1)  # "an e" said before the spelling is no part of the word; a word misheard ("dasset")
        start = letters.find(word[:3]) if word[:3] in letters else letters.find(word[0])  # starts as it does
        if start < 0 or len(letters) - start < max(3, len(word) - 1):
            return found.group(0)  # "...dot com, no, actually, a b c at...": a new address, not a word respelled
        return letters[start:]
    return _RESPELLED.sub(respell, text)


def find_email(text: str) -> str | None:
    """An email address in `text`, spoken ("jane dot doe at example dot com") or spelled ("j a n e")."""
    spelled = _respelled(letters_said(text).lower())
    # "underscore-a-i-n": a symbol word written onto the letters spelled beside it is a word of its own
    spelled = re.sub(r"\b([a-z0-9])-(underscore|dash|hyphen|dot)\b", r"\1 \2", spelled)
    spelled = re.sub(r"\b(underscore|dash|hyphen|dot)-(?=[a-z0-9])", r"\1 ", spelled)  # "dot-doucette" too
    spelled = re.sub(r"\b[a-z0-9](?:-[a-z0-9]\b)+", lambda found: found.group(0).replace("-", ""),
                     spelled)  # "k-l-a-r-a", "n-9-2", as speech recognition writes letters and digits said apart
    spoken = re.sub(r"\b((?!at\b|dot\b)[a-z]+(?: (?!at\b|dot\b)[a-z]+){1,3}),? all one word\b", lambda found: found.group(1).replace(" ", ""),
                    spelled)  # "at derryclare house, all one word"
    spoken = re.sub(r"\b([a-z0-9])[.!?](?=\s|$)", r"\1", spoken)  # "... dot i e." ends with a letter, not a dot
    spoken = re.sub(r"\b(that's|that is|spelt|spelled)\b", " ", spoken.replace(",", " "))
    # "o s u double l i v a n": a letter said twice; "double u" is the letter w
    spoken = re.sub(r"\bdouble u\b", "w", spoken)
    spoken = re.sub(r"\b(double|triple) ([a-z])\b", lambda found: " ".join(found.group(2) * REPEATS[found.group(1)]),
                    spoken)
    spoken = _address_digits(join_spelled(spoken))
    spoken = " " + _spelling_kept(spoken) + " "
    spoken = re.sub(r"\s+(at|at the rate|at the rate of)\s+", "@", spoken)
    spoken = re.sub(r"\s+(dot|period|point)\s+", ".", spoken)
    spoken = re.sub(r"\s+(underscore)\s+", "_", spoken)
    spoken = re.sub(r"\s+(dash|hyphen)\s+", "-", spoken)
    spoken = re.sub(r"\s*@\s*", "@", spoken)
    spoken = re.sub(r"\s+\.\s*(?=[a-z])", ".", spoken)  # "example . com"; "za. Bongani is..." ends a sentence
    found = re.search(r"[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}", spoken)
    return found.group(0).strip(".") if found else None


def _squeezed(order_id: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", order_id.upper())


def _alike(order_id: str) -> str:
    """An ID as it may be said or heard either way: the letter O as the digit 0, the letter I as 1."""
    return order_id.replace("O", "0").replace("I", "1")


def _one_apart(a: str, b: str) -> bool:
    """Whether two digit strings differ by one digit changed, added or dropped."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


@dataclass(frozen=True)
class OrderMention:
    """An order reference heard in a turn: the ID as heard, the known order it is (or may be), and how sure."""

    heard: str
    order_id: str | None = None  # a known order's ID
    exact: bool = False  # the heard ID is that order's ID; otherwise it is one digit away and must be confirmed


def find_order_id(text: str, known_ids=(), bare_digits: bool = False, near_ids=None) -> OrderMention | None:
    """An order reference in `text`, typed, spoken ("G L two oh four three one") or spelled, checked against the
    known orders' IDs (their own formats: any letters, dashes and digits).

    Letters count as part of an ID only when they are a known ID's prefix or suffix ("40741, P J" for 40741-PJ)
    or are written onto the digits ("AB1234"). `bare_digits` takes a lone run of digits as an order number (when
    one was asked for).
    A heard ID one digit away from a known one is offered for confirmation only among `near_ids` (the
    caller's own orders; default: all known): "is your order number ...?" must not tell a guesser a real one.
    """
    known = {_squeezed(k): k for k in known_ids if k}
    prefixes = {re.match(r"[A-Z]*", key).group(0) for key in known} - {""}
    suffixes = {re.search(r"[A-Z]*$", key).group(0) for key in known} - {""}
    said = spoken_digits(letters_said(text))
    # Commas around a letter said on its own are pauses in spelling: "A B, 4471, Q".
    said = re.sub(r"\b([A-Za-z])\s*,\s*", r"\1 ", said)
    said = re.sub(r"(?<=\w),\s*(?=[A-Za-z]\b)", " ", said)
    spoken = re.sub(r"\s+(DASH|HYPHEN)\s+", "-", join_spelled(said.upper()))
    spoken = re.sub(r"\b(ORDER|NUMBER|ID|NO)\b\.?", " ", spoken) if bare_digits or known else spoken
    found, taken = [], []
    # Digits may come in spoken groups ("B W, eight eight three, two zero one").
    for match in re.finditer(r"\b([A-Z]{1,5})?([\s,.-]*)(\d(?:[\d\s-]|,\s?(?=\d))*\d)(?:[\s,.-]*([A-Z]{1,5}))?\b",
                             spoken):
        prefix, gap, number = match.group(1) or "", match.group(2), re.sub(r"\D", "", match.group(3))
        if prefix and gap and gap.strip() != "-" and prefix not in prefixes:
            prefix = ""  # "IS 12345": a word before the digits, not part of the ID
        if len(number) < 4 or (not prefix and not bare_digits and not known):
            continue
        suffix = match.group(4) or ""
        if suffix not in suffixes:
            suffix = ""  # "12345 IS": a word after the digits, not part of the ID
        if suffix:  # letters said after the digits: "A B, 4471, Q"
            found.append(prefix + number + suffix)
        found.append(prefix + number)
        if prefix or bare_digits:
            taken.append(prefix + number + suffix)  # an ID in its own right, even if no known order has it
    if not found:
        return None
    for heard in found:  # an exact match first, then one with the prefix left unsaid
        if heard in known:
            return OrderMention(heard, known[heard], True)
        alike = [k for k in known if _alike(k) == _alike(heard)]  # "J-047730" said for JO47730: O and 0 sound one
        if len(alike) == 1:
            return OrderMention(heard, known[alike[0]], True)
        same_digits = [k for k in known if re.sub(r"\D", "", k) == re.sub(r"\D", "", heard)]
        if len(same_digits) == 1:
            return OrderMention(heard, known[same_digits[0]], True)
    for heard in found:
        digits = re.sub(r"\D", "", heard)
        if any(re.sub(r"\D", "", k) == digits for k in known):
            continue  # the digits of more than one order, said right: which one is asked, no other offered
        near = [k for k in known if _one_apart(re.sub(r"\D", "", k), digits)
                and (near_ids is None or known[k] in near_ids)]
        if len(near) == 1:
            return OrderMention(heard, known[near[0]], False)
    return OrderMention(taken[0]) if taken else None


def id_shapes(order_ids, most: int = 2) -> list[str]:
    """What the known IDs look like, with made-up digits: ["GL-12345"] for GL-20431 and GL-20477."""
    shapes: dict[str, None] = {}
    for order_id in order_ids:
        count = iter(range(1, 100))
        shapes[re.sub(r"\d", lambda _: str(next(count) % 10), order_id.upper())] = None
    return list(shapes)[:most]


def spoken_id(order_id: str) -> str:
    """An ID read back one character at a time: "GL-2043" → "G L, 2 0 4 3"."""
    parts = re.findall(r"[A-Za-z]+|\d+", order_id)
    return ", ".join(" ".join(part.upper()) for part in parts)


@dataclass(frozen=True)
class When:
    """A date and a time of day read from speech; either may be missing until a later turn gives it."""

    day: date | None = None
    at: time | None = None

    def merged(self, earlier: "When") -> "When":
        """This reading, with what it leaves out taken from an earlier one."""
        return When(self.day or earlier.day, self.at or earlier.at)

    def resolve(self, now: datetime) -> datetime | None:
        """The moment meant, in `now`'s timezone; a time alone means its next occurrence."""
        if self.at is None:
            return None
        day = self.day or now.date()
        moment = datetime.combine(day, self.at, tzinfo=now.tzinfo)
        if self.day is None and moment <= now:
            moment += timedelta(days=1)
        return moment


def ordinal_days(words: str) -> str:
    """Days of the month said as ordinal words written in figures: "on the twenty-fourth" → "on the 24th",
    "December first" → "December 1st", "first of May" → "1st of May", "twenty-fourth December" → "24th December".

    Only where it is a date: "the" or a month before it, or its month after it, and no noun after it, so
    "the first time", "wait a second" and "the fourth Thursday" stay words.
    """
    def written(found: re.Match) -> str:
        tens = {"twenty": 20, "thirty": 30}.get((found.group(2) or "").lower(), 0)
        day = tens + ORDINALS[found.group(3).lower()]
        dated = found.group(1) or MONTH_AFTER.match(words, found.end())
        if not dated or day > 31 or (tens and ORDINALS[found.group(3).lower()] > 9) \
                or not AFTER_A_DAY.match(words, found.end()):
            return found.group(0)
        suffix = "th" if day in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
        return f"{found.group(1) or ''}{day}{suffix}"

    return ORDINAL_DAY.sub(written, words)


def day_of_month(words: str, today: date, weekday: int | None = None) -> date | None:
    """ "the 12th", "October 12", "12th of October": the next such date from today (this one if it is today).

    A day said without its month is the next month's that has it ("the 31st" in November is December's); a
    weekday said with it (`weekday`, "the 27th, Thursday") picks this month's or the next that falls on it, else
    the date still stands.
    """
    found = DAY_OF_MONTH.search(words)
    if not found:
        return None
    number = int(found.group(2) or found.group(3))
    month_name = found.group(1) or found.group(4)
    if month_name:
        months = [(year, MONTHS.index(month_name) + 1) for year in (today.year, today.year + 1)]
    else:
        months = [(today.year + (today.month + ahead - 1) // 12, (today.month + ahead - 1) % 12 + 1)
                  for ahead in range(3)]
    candidates = []
    for year, month in months:
        try:
            candidate = date(year, month, number)
        except ValueError:
            continue
        if candidate >= today:
            candidates.append(candidate)
    if not month_name and weekday is not None:
        on_the_day = [candidate for candidate in candidates[:2] if candidate.weekday() == weekday]
        candidates = on_the_day + candidates
    return candidates[0] if candidates else None


MINUTE_WORDS = {"oh five": 5, "ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "forty five": 45,
                "fifty": 50}
_HOUR = r"(\d{1,2}|" + "|".join(HOUR_WORDS) + r")"


def _clock_words(words: str) -> str:
    """Times said in words written as clock times: "four thirty" → "4:30", "half past two" → "2:30",
    "quarter to five" → "4:45"."""
    def hour(word: str) -> int:
        return int(HOUR_WORDS.get(word, word))

    words = re.sub(rf"\bhalf past {_HOUR}\b", lambda m: f"{hour(m.group(1))}:30", words)
    words = re.sub(rf"\bhalf {_HOUR}\b", lambda m: f"{hour(m.group(1))}:30", words)  # "half four": 4:30
    words = re.sub(rf"\b(?:a )?quarter past {_HOUR}\b", lambda m: f"{hour(m.group(1))}:15", words)
    words = re.sub(rf"\b(?:a )?quarter to {_HOUR}\b", lambda m: f"{(hour(m.group(1)) - 2) % 12 + 1}:45", words)
    # "twenty past four" → 4:20, "ten to five" → 4:50, "25 past 3" → 3:25
    past = r"(five|ten|twenty|twenty[- ]five|\d{1,2})(?: minutes)?"
    said = {"five": 5, "ten": 10, "twenty": 20, "twenty five": 25, "twenty-five": 25}
    words = re.sub(rf"\b{past} past {_HOUR}\b", lambda m: f"{hour(m.group(2))}:{int(said.get(m.group(1), m.group(1))):02d}"
                   if int(said.get(m.group(1), m.group(1))) < 30 else m.group(0), words)
    words = re.sub(rf"\b(five|ten|twenty|twenty[- ]five)(?: minutes)? to {_HOUR}\b(?! \w*(?:litres?|liters?|kilos?|"
                   rf"kg|metres?|days?|weeks?|hours?|people|of))",  # not "nine to five", "ten to twelve litres"
                   lambda m: f"{(hour(m.group(2)) - 2) % 12 + 1}:{60 - said[m.group(1)]:02d}", words)
    minutes = "|".join(sorted(MINUTE_WORDS, key=len, reverse=True))
    return re.sub(rf"\b{_HOUR} ({minutes})\b(?! (?:minutes?|hours?|days?))",
                  lambda m: f"{hour(m.group(1))}:{MINUTE_WORDS[m.group(2)]:02d}", words)


def _last_day(words: str, today: date) -> date | None:
    """The day said last: "Friday, no sorry, Saturday" is Saturday; but a weekday said beside a date ("the 24th,
    Thursday", "Thursday the 24th") is that date's own name, not another day said after it."""
    said, naming = [], set()
    for found in DAY_OF_MONTH.finditer(words):
        before = WEEKDAY_BEFORE.search(words[:found.start()])
        after = WEEKDAY_AFTER.match(words, found.end())
        beside = before or after
        if beside:
            naming.add(beside.start(1))
        weekday = WEEKDAYS.index(beside.group(1)) if beside else None
        said.append((found.start(), day_of_month(found.group(0), today, weekday)))
    for found in re.finditer(r"\b(day after tomorrow|the day after(?! tomorrow)|tomorrow|today|tonight)\b", words):
        if found.group(1) == "tomorrow" and words[:found.start()].endswith("day after "):
            continue
        if found.group(1) == "the day after" and "tomorrow" not in words[:found.start()]:
            continue  # "the day after" a day said before it: only tomorrow's is known here
        offset = {"day after tomorrow": 2, "the day after": 2, "tomorrow": 1}.get(found.group(1), 0)
        said.append((found.start(), today + timedelta(days=offset)))
    for index, name in enumerate(WEEKDAYS):
        for found in re.finditer(rf"\b{name}\b", words):
            if found.start() in naming:
                continue
            # "Monday" and "next Monday" both mean the coming one, never today
            said.append((found.start(), today + timedelta(days=(index - today.weekday()) % 7 or 7)))
    said = [(position, day) for position, day in said if day is not None]
    return max(said, key=lambda item: item[0])[1] if said else None


def parse_when(text: str, now: datetime) -> When:
    """The date and time of day in "tomorrow at 10 AM", "next Monday afternoon", "around 2 PM"."""
    words = re.sub(r"\bgood (morning|afternoon|evening|day)\b", "hello", text.lower())  # a greeting, not a time
    words = ordinal_days(words)
    later = IN_A_WHILE.search(words)
    if later:  # "in two hours": a moment, to the minute
        amount = 0.5 if later.group(1) == "half an" else float(AMOUNT_WORDS.get(later.group(1)) or later.group(1))
        moment = now + timedelta(**{"hours" if later.group(2).startswith("hour") else "minutes": amount})
        return When(moment.date(), moment.time().replace(second=0, microsecond=0))
    day = _last_day(words, now.date())
    at = None
    words = re.sub(r"\b(\d{1,2})\s?([ap])\b\.?", r"\1 \2m", _clock_words(words))  # "2P", "10a" as heard
    hours = "|".join(sorted(HOUR_WORDS, key=len, reverse=True))
    times = [found for found in re.finditer(
        rf"\b(\d{{1,2}}|{hours})(?:[:.](\d{{2}}))?\s*(a\.?\s?m\.?|p\.?\s?m\.?|o'?clock)?(?=\W|$)", words)
        if found.group(3) or found.group(2) or (re.search(rf"\b{TIME_CUES}\W+$", words[:found.start()])
                                                 and not QUANTITY_AFTER.match(words, found.end()))]
    if times:  # the last time said is the one meant: "at three, no, make it four"
        found = times[-1]
        hour = int(HOUR_WORDS.get(found.group(1), found.group(1)))
        minute = int(found.group(2) or 0)
        suffix = (found.group(3) or "").replace(".", "").replace(" ", "")
        if suffix == "pm" and hour < 12:
            hour += 12
        elif suffix == "am" and hour == 12:
            hour = 0
        elif not suffix.endswith("m"):
            if "evening" in words or "afternoon" in words or "tonight" in words:
                hour += 12 if hour < 12 else 0
            elif hour < 8:
                hour += 12  # "at 2" on a business line means the afternoon
        if hour < 24 and minute < 60:
            at = time(hour, minute)
    if at is None:
        said = [(found.start(), PARTS_OF_DAY[found.group(1)])
                for found in re.finditer(rf"\b({'|'.join(PARTS_OF_DAY)})\b", words)]
        at = max(said)[1] if said else None
    return When(day, at)
