"""Opening hours read from the company's own documents, and questions about them answered in code.

Every business writes its hours somewhere, in its own layout: "Monday to Friday: 8:30am to 5:30pm",
"Sunday ............... CLOSED", "Mon - Fri   8:00 - 19:00", "24 - 26 Dec   CLOSED", "Bank holidays, 10 AM to
4 PM". A small model asked "are you open on Sunday?" answers from the shape of the question as often as from
the passage, so the timetable is read here, line by line, and the answer is said from it: what the document
says for that day, a date's exception before the weekday's rule.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from appliance.dialogue.entities import MONTHS, WEEKDAYS, day_of_month, ordinal_days
from appliance.dialogue.grounding import _unwrapped, speakable

SHORT_WEEKDAYS = {"mon": 0, "tue": 1, "tues": 1, "wed": 2, "thu": 3, "thur": 3, "thurs": 3, "fri": 4, "sat": 5,
                  "sun": 6}
_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|wed|thu(?:rs?)?|fri|sat|sun)\.?"
_MONTH = r"(?:" + "|".join(f"{m[:3]}(?:{m[3:]})?" for m in MONTHS) + r")\.?"
NAMED_CLOCKS = {"noon": "12pm", "midday": "12pm", "midnight": "12am"}  # "8 a.m. – noon"
_CLOCK = rf"(?:\d{{1,2}}(?:[:.]\d{{2}})?\s*(?:[ap]\.?\s?m\.?)?|{'|'.join(NAMED_CLOCKS)}\b)"
_SPAN = rf"({_CLOCK})\s*(?:-|–|—|to|until|till)\s*({_CLOCK})"
_GAP = r"[\s:,.…]*"  # "Sunday: ", "Sunday ....... ", "Sunday, "
# A table's row is read as "Monday – Friday: Hours 9 a.m. – 6 p.m." or "Boxing Day — Fri., Dec. 26: Wharf shop Closed,
# Orders desk Closed" (knowledge/documents.py): the first column's name, in capitals, stands between a day and its rule.
_COLUMN = rf"(?:(?!{_DAY}(?!\w))(?-i:[A-Z])[\w'’&]*(?: (?-i:[a-z])[\w'’&]*){{0,2}}\s+)?"  # not "Mon-Fri, Saturday closed"
# what a rule says: hours, or closed, or open as usual ("OPEN, regular hours"); "HALF DAY, 8 AM to 12 NN"
_SAYS = (rf"(?:(?:half[ -]day\W+)?{_CLOCK}\s*(?:-|–|—|to|until|till)\s*{_CLOCK}|closed\b|"
         rf"(?:open\W+)?(?:regular|normal|usual) hours\b|half[ -]day\W+(?:closes?|closing|until|till) (?:at )?{_CLOCK})")
# Rules as documents write them, found anywhere in a passage (plain-text passages have their lines run together).
DATED = re.compile(rf"\b(?:{_DAY}\s+)?(?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?:\s*(?:-|–|—|to)\s*(?P<to>\d{{1,2}})"
                   rf"(?:st|nd|rd|th)?)?\s+(?P<month>{_MONTH})(?:\s+\d{{4}})?"
                   rf"(?:\s*\([^)]{{1,40}}\))?{_GAP}{_COLUMN}"  # "24 December (Christmas Eve) ...."
                   rf"(?:the [a-z]+ (?:is|will be) )?(?P<says>{_SAYS})", re.I)  # "27 October 2025 The office is closed"
# "Dec 30 (Tue)  Rizal Day ......... CLOSED": the month first, a weekday and the day's name after the date
MONTH_FIRST = re.compile(rf"\b(?P<month>{_MONTH})\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?:\s*(?:-|–|—|to)\s*"
                         rf"(?P<to>\d{{1,2}})(?:st|nd|rd|th)?)?(?:,?\s+\d{{4}})?(?:\s*\([^)]{{1,40}}\))?"
                         rf"(?:\s+[A-Z][\w'’]*(?: [\w'’]+){{0,3}})?{_GAP}{_COLUMN}(?P<says>{_SAYS})", re.I)
# "Dec. 7, 14 and 21, 2025, open 11 a.m. – 4 p.m.": several days of one month with one rule
DAYS_OF_MONTH = re.compile(rf"\b(?P<month>{_MONTH})\s+(?P<days>\d{{1,2}}(?:\s*,\s*\d{{1,2}})*,?\s+(?:and|&)\s+\d{{1,2}})"
                           rf"(?!\d)(?:,?\s+\d{{4}})?{_GAP}(?:open\s+)?(?P<says>{_SAYS})", re.I)
# "Fri 12/12/2025 (Jamhuri Day) ...... CLOSED": a date in figures, the day first (the month first only where the
# second number is past 12); written with slashes, so "8.00 - 18.00" stays a time. A range of dates ("Sat 06/02/2027 -
# Mon 08/02/2027"), and the holiday's name between the date and what it says, on a line of its own below if need be
# ("Fri 11/12/2026  Hari Keputeraan Sultan Selangor\n   (Birthday of the Sultan) ...... CLOSED"), are read too.
_FIGURES = r"(\d{1,2})/(\d{1,2})(?:/\d{2,4})?"
_NAMING = r"(?:[^\d\n(]|\([^)\n]{0,40}\))"  # a holiday's name, figures only in brackets ("(public holiday from 2025)")
NUMERIC = re.compile(rf"\b(?:{_DAY}\s+)?{_FIGURES}(?:\s*(?:-|–|—|to|until)\s*(?:{_DAY}\s+)?{_FIGURES})?"
                     rf"(?P<name>{_NAMING}{{0,80}}?(?:\n[ \t]*{_NAMING}{{0,80}}?)?)"
                     rf"(?:the [a-z]+ (?:is|will be) )?(?P<says>{_SAYS})", re.I)
WEEKLY = re.compile(rf"\b({_DAY})(?:\s*(-|–|—|to|until|through|thru|and|&)\s*({_DAY}))?(?![\w-]){_GAP}{_COLUMN}({_SAYS})",
                    re.I)
NAMED = re.compile(rf"\b([A-Z][A-Za-z']*(?: [A-Za-z']+){{0,3}}?)(?::|,|\s\.{{2,}}|\s)\s*((?i:{_SAYS}))")
CLOSED = re.compile(r"\bclosed\b", re.I)
CLOSED_FROM = re.compile(rf"\bclosed (?:from )?(\d{{1,2}})(?:st|nd|rd|th)? ({_MONTH})(?: \d{{4}})?\s*(?:-|–|to|until|till)\s*"
                         rf"(\d{{1,2}})(?:st|nd|rd|th)? ({_MONTH})", re.I)
HOURS_ASKED = re.compile(r"\b(open|opening|close|closing|closed|shut|hours)\b", re.I)
# Hours of something other than the door: the model answers these from their own passages.
OTHER_HOURS = re.compile(r"\b(deliver\w*|phones?|lines?|support|drop-?off|collect\w*|pick-?up|install\w*|call ?backs?|"
                         r"workshop|service|helpline|emergenc\w*|account|portal|online|website|app|order\w*|"
                         r"last (?:day|date|time))\b", re.I)
HOLIDAYS = {"christmas eve": (12, 24), "christmas day": (12, 25), "christmas": (12, 25), "boxing day": (12, 26),
            "st stephen's day": (12, 26), "stephen's day": (12, 26), "new year's eve": (12, 31),
            "new year's day": (1, 1), "new year": (1, 1)}
COMMON_WORDS = {"the", "and", "our", "we", "are", "on", "of", "a", "from"}
# A named line is a named day ("Public holidays", "Christmas Day", "Festive season"), not any "label: 9 - 5".
DAY_NAME = re.compile(r"\b(holidays?|day|eve|christmas|easter|new year|festive|season|weekends?)\b", re.I)
PUBLIC_HOLIDAYS = {(12, 25), (12, 26), (1, 1)}  # public holidays nearly everywhere the box is sold


def weekday_number(word: str) -> int:
    """0 for "Monday", "mon" or "Mon." ... 6 for Sunday."""
    word = word.lower().rstrip(".")
    return WEEKDAYS.index(word) if word in WEEKDAYS else SHORT_WEEKDAYS[word]


def _month(word: str) -> int:
    return next(i for i, name in enumerate(MONTHS, 1) if name.startswith(word.lower().rstrip(".")[:3]))


def spoken_clock(text: str) -> str:
    """"08:00" → "8 AM", "17:30" → "5:30 PM", "8:30am" → "8:30 AM", "9am" → "9 AM", "noon" → "12 PM"."""
    text = NAMED_CLOCKS.get(text.strip().lower(), text)
    found = re.match(r"(\d{1,2})(?:[:.](\d{2}))?\s*(?:([ap])\.?\s?m\.?)?", text.strip(), re.I)
    hour, minute, half = int(found.group(1)), found.group(2) or "00", (found.group(3) or "").lower()
    if not half:
        half, hour = ("p", hour - 12) if hour > 12 else ("p" if hour == 12 else "a", hour)
    hour = hour or 12
    return f"{hour}{'' if minute == '00' else ':' + minute} {half.upper()}M"


def _clock_like(text: str) -> bool:
    found = re.match(r"(\d{1,2})(?:[:.](\d{2}))?", text.strip())
    if found is None:
        return text.strip().lower() in NAMED_CLOCKS
    return int(found.group(1)) <= 24 and int(found.group(2) or 0) < 60


REGULAR = "regular"  # a dated line that says the day keeps its weekday's hours ("Dec 8 ... OPEN, regular hours")


def _said(rest: str) -> str | None:
    """What a timetable line says of its day: "closed", or "open from 8 AM to 1 PM"; None if it says neither."""
    closed = CLOSED.search(rest)
    spans = [span for span in re.finditer(_SPAN, rest, re.I) if _clock_like(span.group(1)) and
             _clock_like(span.group(2)) and (not closed or span.start() < closed.start())]
    if spans:  # "9am - 12.15pm, then 2.45pm - 6pm": open twice that day
        return "open " + " and ".join(f"from {spoken_clock(span.group(1))} to {spoken_clock(span.group(2))}"
                                      for span in spans)
    until = re.search(rf"\b(?:closes?|closing|until|till) (?:at )?({_CLOCK})", rest, re.I)
    if until and re.search(r"\bhalf[ -]day\b", rest, re.I):  # "HALF DAY, closes 1.00pm"
        return f"open until {spoken_clock(until.group(1))}"
    if closed:
        return "closed"
    if re.search(r"\b(regular|normal|usual) hours\b", rest, re.I):
        return REGULAR
    return None


@dataclass
class Timetable:
    """The opening hours one knowledge base gives: by weekday, by date, and by named day ("public holidays")."""

    weekly: dict[int, str] = field(default_factory=dict)  # 0 Monday .. 6 Sunday → "closed" / "open from ..."
    dated: list[tuple[tuple[int, int], tuple[int, int], str]] = field(default_factory=list)  # (from, to, said)
    named: dict[str, str] = field(default_factory=dict)  # "public holidays" → "closed"
    lines: list[str] = field(default_factory=list)  # every line read, for a date the rules above do not cover

    @classmethod
    def from_passages(cls, passages) -> Timetable:
        """Read from the passages; the first rule for a day wins, and passages that speak of opening hours are read
        first (a shop's own hours come before its phone line's, its deliveries' or its workshop's)."""
        table = cls()
        sections: dict[tuple[str, str], list[str]] = {}  # a section cut into passages is read whole: a rule may
        for passage in passages:  # start at the end of one ("Sat 06/02 - Mon 08/02") and end in the next ("CLOSED")
            sections.setdefault((getattr(passage, "source", ""), passage.heading), []).append(passage.text)
        about_hours = sorted(sections.items(), key=lambda item: not re.search(r"\b(opening|hours)\b",
                                                                              f"{item[0][1]} {' '.join(item[1])}", re.I))
        for (_, heading), texts in about_hours:  # a heading may be the rule itself: "OCTOBER BANK HOLIDAY - MONDAY 27 OCTOBER"
            table._read(heading.split(" > ")[-1] + "\n" + "\n".join(texts))
        return table

    def _read(self, text: str) -> None:
        text = _slashed_dates(text)
        self.lines += [sentence.strip() for line in _unwrapped(text) for sentence in re.split(r"(?<=[.!?])\s+", line)
                       if sentence.strip()]
        for found in DAYS_OF_MONTH.finditer(text):
            month, said = _month(found["month"]), _said(found["says"])
            self.dated += [((month, int(day)), (month, int(day)), said) for day in re.findall(r"\d+", found["days"])]
        text = DAYS_OF_MONTH.sub(lambda found: " " * len(found.group(0)), text)
        for dated in (DATED, MONTH_FIRST):  # "Wed 23 Dec 8:00 - 15:00", "24 - 26 Dec CLOSED", "Dec 30 (Tue) ... CLOSED"
            for found in dated.finditer(text):
                month, first = _month(found["month"]), int(found["day"])
                self.dated.append(((month, first), (month, int(found["to"] or first)), _said(found["says"])))
            text = dated.sub(lambda found: " " * len(found.group(0)), text)
        for found in NUMERIC.finditer(text):
            name = found["name"]
            if re.search(r"(?<!\.)\.(?!\.)(?=\s*\n|\s+[A-Z])|\b(?:a|an|the)\s*$", name) or (
                    re.search(r"[^\W\d_]", name) and not re.search(r"\.{3}|[:(]|\n|\s{2}|\s[-–—]\s*$", name)):
                continue  # "09/02. Installations on a closed day...": a sentence between, no holiday's name
            dates = [(int(first), int(second)) for first, second in ((found.group(1), found.group(2)),
                                                                     (found.group(3), found.group(4))) if first]
            dates = [(second, first) if second > 12 else (first, second) for first, second in dates]  # (day, month)
            if all(1 <= month <= 12 and 1 <= day <= 31 for day, month in dates):
                (day, month), (last, last_month) = dates[0], dates[-1]
                self.dated.append(((month, day), (last_month, last), _said(found["says"])))
        text = NUMERIC.sub(lambda found: " " * len(found.group(0)), text)
        for found in CLOSED_FROM.finditer(text):  # "closed from 24 December to 2 January"
            self.dated.append(((_month(found.group(2)), int(found.group(1))),
                               (_month(found.group(4)), int(found.group(3))), "closed"))
        for found in WEEKLY.finditer(text):  # "Monday to Friday: 8:30am to 5:30pm", "Sunday ...... CLOSED"
            first = weekday_number(found.group(1))
            last = weekday_number(found.group(3)) if found.group(3) else first
            joined = found.group(2) in ("and", "&")  # "Sunday and Monday: closed"
            days = [first, last] if joined else [(first + i) % 7 for i in range((last - first) % 7 + 1)]
            # the rest of the line, up to another day's rule or the sentence's end: "9am - 12.15pm, then 2.45pm - 6pm"
            rest = re.split(rf"\b{_DAY}(?![\w-])|(?<!\d)(?<![ap]\.m)\.(?=\s)", text[found.start(4):].split("\n", 1)[0],
                            flags=re.I)[0]  # not at "9 a.m. – 6 p.m."
            said = _said(rest)
            for day in days if said else ():
                self.weekly.setdefault(day, said)
        text = WEEKLY.sub(lambda found: " " * len(found.group(0)), text)
        for found in NAMED.finditer(text):  # "Public holidays: closed", "Bank holidays, 10 AM to 4 PM"
            label = found.group(1).strip()
            if DAY_NAME.search(label) and not re.search(rf"\d|\b{_DAY}\b", label, re.I):
                self.named.setdefault(label.lower(), _said(found.group(2)))
        for closed_on in re.finditer(r"\bclosed on ([^.]+)", text, re.I):  # "closed on Christmas Day and Boxing Day"
            for holiday in re.split(r",\s*|\s+and\s+", closed_on.group(1)):
                if DAY_NAME.search(holiday) and len(holiday.split()) <= 4:
                    self.named.setdefault(holiday.strip().lower(), "closed")

    def __bool__(self) -> bool:
        return bool(self.weekly)

    def _dated(self, day: date) -> str | None:
        asked = (day.month, day.day)
        for first, last, said in self.dated:
            if first <= asked <= last or (last < first and (asked >= first or asked <= last)):  # over the new year
                return said
        return None

    def on_date(self, day: date) -> str | None:
        """What the timetable says for a date: its exception if one is written, else its weekday's hours."""
        said = self._dated(day)
        return self.weekly.get(day.weekday()) if said in (None, REGULAR) else said

    def answer(self, heard: str, now: datetime) -> str | None:
        """The answer to a question about opening hours, in code from the timetable; None when the question is not
        about hours, or names a day the timetable does not cover."""
        asked = [sentence for sentence in re.split(r"(?<=[.!?])\s+", heard) if HOURS_ASKED.search(sentence)]
        if not self or not asked or any(OTHER_HOURS.search(sentence) for sentence in asked):
            return None  # "my sister had you install hers... are you open on Sunday?" asks the door's hours
        words = heard.lower()
        for label, said in sorted(self.named.items(), key=lambda item: -len(item[0])):
            own = set(re.findall(r"[a-z']+", label)) - COMMON_WORDS
            if own and all(re.search(rf"\b{re.escape(word.rstrip('s'))}", words) for word in own):
                return f"{label[0].upper()}{label[1:]}: we're {said}."
        day_asked = _date_asked(words, now.date())
        if day_asked is not None and not self._dated(day_asked):
            line = self._line_naming(day_asked, _holiday(words))
            if line:  # "Christmas: we close at 12 noon on 24/12 and reopen on 06/01": no rule the table reads
                return line  # the document's own line, not the weekday's hours it would otherwise be given
        if day_asked is not None:
            said = self.on_date(day_asked)
            holidays = next((said for label, said in self.named.items() if re.search(r"\b(public|bank) holidays?\b",
                                                                                     label)), None)
            if holidays and (day_asked.month, day_asked.day) in PUBLIC_HOLIDAYS and not self._dated(day_asked):
                said = holidays
            return f"On {day_asked.day} {MONTHS[day_asked.month - 1].title()} we're {said}." if said else None
        days = [(found.start(), weekday_number(found.group(1))) for found in
                re.finditer(r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?\b", words)]
        if re.search(r"\bweekends?\b", words):
            days += [(len(words), 5), (len(words) + 1, 6)]
        for found in re.finditer(r"\b(today|tonight|tomorrow)\b", words):
            offset = 1 if found.group(1) == "tomorrow" else 0
            day = now.date() + timedelta(days=offset)
            said = self.on_date(day)
            if said:
                return f"{found.group(1).title() if found.group(1) != 'tonight' else 'Today'} we're {said}."
        wanted = sorted({day for _, day in days}, key=lambda d: [p for p, x in days if x == d][0])
        parts = []
        for day in wanted:  # "are you open on Friday?": the coming Friday may be an exception
            coming = now.date() + timedelta(days=(day - now.weekday()) % 7)
            exception = self._dated(coming) if len(wanted) <= 2 else None  # "Monday to Friday" asks the rule
            exception = None if exception == REGULAR else exception
            if exception:
                named = f"{WEEKDAYS[coming.weekday()].title()} {coming.day} {MONTHS[coming.month - 1].title()}"
                parts.append(f"on {named} we're {exception}")
            elif day in self.weekly:
                parts.append(f"on {WEEKDAYS[day].title()}s we're {self.weekly[day]}")
        if days:
            return (" and ".join(parts)[0].upper() + " and ".join(parts)[1:] + ".") if parts else None
        if re.search(r"\b(opening hours|your hours|hours are|when are you open|what time do you open|"
                     r"what time do you close|when do you (open|close))\b", words):
            return self.summary()
        return None

    def _line_naming(self, day: date, holiday: str | None) -> str | None:
        """The line that names `day` ("24/12/2025", "24 December", "Dec 24th") or the holiday asked for by name, one
        that speaks of opening or closing first."""
        month = MONTHS[day.month - 1]
        forms = [rf"\b0?{day.day}/0?{day.month}\b", rf"\b0?{day.month}/0?{day.day}/\d", rf"\b{day.day}(?:st|nd|rd|th)?"
                 rf"(?: of)? {month[:3]}", rf"\b{month[:3]}[a-z]*\.? {day.day}(?:st|nd|rd|th)?\b"]
        if holiday:
            forms.append(rf"\b{re.escape(holiday.split()[0].rstrip('s'))}")  # "Christmas" names the break
        naming = [line for line in self.lines if any(re.search(form, line, re.I) for form in forms)
                  and re.search(r"open|clos|shut|hours", line, re.I)]  # not "parcels posted on 11.11 leave on 12.11"
        naming.sort(key=lambda line: not HOURS_ASKED.search(line))
        return speakable(naming[0]) if naming else None

    def summary(self) -> str:
        """The week in one sentence: "Monday to Friday we're open from 8 AM to 7 PM, Saturday from 9 AM to 12 PM,
        Sunday closed."""
        runs: list[tuple[int, int, str]] = []
        for day in range(7):
            said = self.weekly.get(day)
            if said is None:
                continue
            if runs and runs[-1][2] == said and runs[-1][1] == day - 1:
                runs[-1] = (runs[-1][0], day, said)
            else:
                runs.append((day, day, said))
        parts = []
        for first, last, said in runs:
            days = WEEKDAYS[first].title() + (f" to {WEEKDAYS[last].title()}" if last != first else "")
            parts.append(f"{days} {'we are closed' if said == 'closed' else 'we are ' + said}")
        return "; ".join(parts) + "."


# Dates written with dots or ISO dashes, which no time is: "11.11.2025", "25.12 and 26.12.2025", "2025-12-24"
DOTTED = re.compile(r"\b(?:(\d{1,2})\.(\d{1,2})\.?\s*(?:-|–|—|and|&|to)\s*)?(\d{1,2})\.(\d{1,2})\.(\d{4})\b")
ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def _slashed_dates(text: str) -> str:
    """Dates in dots or ISO form written day/month/year, the one form of dates in figures the rules read; two days
    with the year written once ("25.12 and 26.12.2025") as a range."""
    text = ISO_DATE.sub(lambda found: f"{found[3]}/{found[2]}/{found[1]}", text)

    def slashed(found: re.Match) -> str:
        last = f"{found[3]}/{found[4]}/{found[5]}"
        return f"{found[1]}/{found[2]}/{found[5]} - {last}" if found[1] else last

    return DOTTED.sub(slashed, text)


def _date_asked(words: str, today: date) -> date | None:
    """A date the question names: "the 24th of December", "December 24", "the twenty-fourth", "Christmas Eve"."""
    words = ordinal_days(words)
    month_names = "|".join(MONTHS)
    found = re.search(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?(?: of)? ({month_names})\b|\b({month_names}) (?:the )?(\d{{1,2}})"
                      rf"(?:st|nd|rd|th)?\b", words)
    alone = re.search(r"\b(?:on )?the (\d{1,2})(?:st|nd|rd|th)\b", words)  # "on the 24th": the next month's with it
    if found:
        day = int(found.group(1) or found.group(4))
        month = MONTHS.index(found.group(2) or found.group(3)) + 1
    elif alone:
        return day_of_month(alone.group(0), today)
    else:
        holiday = _holiday(words)
        if holiday is None:
            return None
        month, day = HOLIDAYS[holiday]
    try:
        asked = date(today.year, month, day)
    except ValueError:
        return None
    return asked if asked >= today - timedelta(days=31) else date(today.year + 1, month, day)


def _holiday(words: str) -> str | None:
    """The holiday a question names, as speech recognition may write it ("Stevens Day" for St Stephen's Day): the
    longest name whose words are all there, each alike enough (difflib), so "Christmas" alone is the 25th but
    "the Christmas ... Stevens Day" is the 26th."""
    heard = re.findall(r"[a-z]+", words.replace("'", ""))
    for name in sorted(HOLIDAYS, key=len, reverse=True):
        own = re.findall(r"[a-z]+", name.replace("'", ""))
        if any(all(difflib.SequenceMatcher(None, a, b).ratio() >= 0.8 for a, b in zip(own, heard[i:i + len(own)]))
               for i in range(len(heard) - len(own) + 1)):
            return name
    return None
