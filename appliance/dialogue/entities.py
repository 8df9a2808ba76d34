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
DAY_OF_MONTH = re.compile(r"\b(?:(" + "|".join(MONTHS) + r") (\d{1,2})(?:st|nd|rd|th)?|(?:the )?(\d{1,2})(?:st|nd|rd|th)"
                          r"(?: of (" + "|".join(MONTHS) + r"))?)\b")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
PARTS_OF_DAY = {"morning": time(10), "noon": time(12), "afternoon": time(14), "evening": time(18)}
HOUR_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
              "ten": 10, "eleven": 11, "twelve": 12}


def spoken_digits(text: str) -> str:
    """Runs of spoken digits ("nine eight double seven") written as digits ("9877"); other words kept.

    A run needs two digits or more; words that double as digits ("to", "for", "oh") never make one alone.
    """
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
            else:
                break
        run = [t.lower() for t in tokens[i:j]]
        if len(digits) >= 2 and not all(t in AMBIGUOUS for t in run) and any(not t.isdigit() for t in run):
            out.append(digits)
            i = j
        else:
            out.append(tokens[i])
            i += 1
    return re.sub(r"\s+([^\w\s'])", r"\1", " ".join(out))


def to_e164(text: str, country_code: str = "+91") -> str | None:
    """The phone number in `text` as E.164, local numbers taking `country_code`; None if there is none."""
    spoken = re.sub(r"(\bplus\s+|\+\s+)", "+", spoken_digits(text), flags=re.I)
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


def join_spelled(text: str) -> str:
    """Letters and digits spelled one by one ("j a n e 4") joined into one word ("jane4")."""
    out: list[str] = []
    previous_single = False
    for token in text.split():
        single = len(token) == 1 and token.isalnum()
        if single and previous_single:
            out[-1] += token
        else:
            out.append(token)
        previous_single = single
    return " ".join(out)


def find_email(text: str) -> str | None:
    """An email address in `text`, spoken ("jane dot doe at example dot com") or spelled ("j a n e")."""
    spoken = f" {join_spelled(text.lower())} "
    spoken = re.sub(r"\s+(at|at the rate|at the rate of)\s+", "@", spoken)
    spoken = re.sub(r"\s+(dot|period|point)\s+", ".", spoken)
    spoken = re.sub(r"\s+(underscore)\s+", "_", spoken)
    spoken = re.sub(r"\s+(dash|hyphen)\s+", "-", spoken)
    spoken = re.sub(r"\s*@\s*", "@", spoken)
    spoken = re.sub(r"\s*\.\s*(?=[a-z])", ".", spoken)
    found = re.search(r"[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}", spoken)
    return found.group(0).strip(".") if found else None


def find_order_id(text: str) -> str | None:
    """An order ID such as ORD98765, typed, spoken ("order 98765") or spelled ("O R D 9 8 7 6 5")."""
    spoken = join_spelled(spoken_digits(text).upper())
    found = re.search(r"\bORD[\s-]*(\d{4,})\b", spoken) or re.search(r"\bORDER\s+(?:NUMBER\s+|ID\s+)?(\d{4,})\b", spoken)
    return f"ORD{found.group(1)}" if found else None


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


def _day_of_month(words: str, today: date) -> date | None:
    """ "the 12th", "October 12", "12th of October": the next such date from today (this one if it is today)."""
    found = DAY_OF_MONTH.search(words)
    if not found:
        return None
    number = int(found.group(2) or found.group(3))
    month_name = found.group(1) or found.group(4)
    months = [MONTHS.index(month_name) + 1] if month_name else [today.month, today.month % 12 + 1]
    for year in (today.year, today.year + 1):
        for month in months:
            try:
                candidate = date(year, month, number)
            except ValueError:
                continue
            if candidate >= today:
                return candidate
    return None


def parse_when(text: str, now: datetime) -> When:
    """The date and time of day in "tomorrow at 10 AM", "next Monday afternoon", "around 2 PM"."""
    words = text.lower()
    later = IN_A_WHILE.search(words)
    if later:  # "in two hours": a moment, to the minute
        amount = 0.5 if later.group(1) == "half an" else float(AMOUNT_WORDS.get(later.group(1)) or later.group(1))
        moment = now + timedelta(**{"hours" if later.group(2).startswith("hour") else "minutes": amount})
        return When(moment.date(), moment.time().replace(second=0, microsecond=0))
    day = _day_of_month(words, now.date())
    if day is not None:
        pass
    elif "day after tomorrow" in words:
        day = now.date() + timedelta(days=2)
    elif "tomorrow" in words:
        day = now.date() + timedelta(days=1)
    elif "today" in words or "tonight" in words:
        day = now.date()
    else:
        for index, name in enumerate(WEEKDAYS):
            if re.search(rf"\b{name}\b", words):
                # "Monday" and "next Monday" both mean the coming one, never today
                day = now.date() + timedelta(days=(index - now.weekday()) % 7 or 7)
                break
    at = None
    found = re.search(r"\b(\d{1,2}|" + "|".join(HOUR_WORDS) + r")(?:[:.](\d{2}))?\s*(a\.?\s?m\.?|p\.?\s?m\.?|o'?clock)?(?=\W|$)",
                      words)
    if found and (found.group(3) or found.group(2) or re.search(r"\b(at|around|by|about)\s+" + re.escape(found.group(1)), words)):
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
        for name, moment in PARTS_OF_DAY.items():
            if re.search(rf"\b{name}\b", words):
                at = moment
                break
    return When(day, at)
