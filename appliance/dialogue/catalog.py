"""The names this company's knowledge base uses, read from its headings: topics (document titles) and offers
(section names such as "Gold membership" or "Oak bench"), matched loosely against what the caller said.

A caller says "the catalogue", "your refunds thing" or "the pro one"; speech recognition may spell a name
a little differently. A name matches when one of its distinctive words (a word no other name of its kind
has) is in the caller's words, allowing small spelling differences.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

# Words that never make a name distinctive.
COMMON = {"the", "a", "an", "and", "or", "of", "for", "to", "in", "on", "our", "your", "my", "with", "per", "by",
          "at", "is", "are", "&", "summary", "overview", "guide", "information", "info", "details", "full"}
LINKING = {"the", "a", "an", "and", "or", "of", "for", "to", "in", "on", "with", "per", "by", "at", "+", "&"}
VOCABULARY_WORDS = 30  # how many of the documents' own words speech recognition is told to expect
SIMILAR = 0.84  # difflib ratio at which a heard word counts as a name's word ("catalogue" and "catalog")


def _words(text: str) -> list[str]:
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
            for w in re.findall(r"[a-z0-9]+", text.lower())]


def words_of(text: str) -> list[str]:
    """The words of `text` as names are matched: lower case, a plural's "s" dropped ("e-bikes" → "e", "bike")."""
    return _words(text)


def _similar(heard: str, word: str) -> bool:
    if heard == word:
        return True
    return len(word) >= 4 and len(heard) >= 4 and SequenceMatcher(None, heard, word).ratio() >= SIMILAR


@dataclass(frozen=True)
class Name:
    """One name the box knows: what it is called, where it comes from, and the words that single it out."""

    text: str
    source: str
    words: tuple[str, ...]


# The words of a company's legal form: a heading that is the company's name and these says nothing of the document
LEGAL_FORM = set("""sdn bhd berhad pty ltd limited llc inc incorporated plc gmbh ag s r o spol pvt private co corp
    company sa bv oy ab as aps kft sp z oo llp lp pte the and""".split())


def _name_or_its_start(company: str) -> str:
    """A pattern for the company's name or its first two words or more ("Kilimani Paws" of "Kilimani Paws
    Veterinary Clinic"), as documents shorten it."""
    words = [re.escape(word) for word in company.split()]
    if len(words) <= 2:
        return re.escape(company)
    return "(?:" + "|".join(r"\s+".join(words[:count]) for count in range(len(words), 1, -1)) + ")"


def title_of(heading: str, company: str) -> str:
    """What a passage's document is about, from its top heading: "Acme returns policy (summary)" → "returns policy".
    A top heading that is only the company's name ("ACME TRADING SDN. BHD.") gives way to the one below it."""
    for top in heading.split(" > "):
        if re.fullmatch(r"[\w-]+", top) and ("-" in top or "_" in top):  # a file's name ("contact-hours"): as words
            top = top.replace("-", " ").replace("_", " ")
        top = re.sub(rf"\b{_name_or_its_start(company)}(?:'s)?(?!\w)", "", top, flags=re.I) if company else top  # "Co."
        top = re.sub(r"\s+[—–]\s[^—–]*\d[^—–]*$", "", top)  # "Price List — effective 1 December 2026"
        title = re.sub(r"\s+", " ", re.sub(r"\(.*?\)", "", top)).strip(" -:—–").lower()
        if set(re.findall(r"[a-z]+", title)) - LEGAL_FORM:
            return title
    return heading.lower()


_CODES = (r"EUR|USD|GBP|NZD|AUD|CAD|ZAR|INR|CHF|SEK|NOK|DKK|PLN|JPY|SGD|HKD|MXN|BRL|KES|NGN|AED|MYR|IDR|THB|VND|PHP|"
          r"TWD|KRW|CNY|RMB|SAR|QAR|EGP|GHS|TZS|UGX|ETB|MAD|PKR|LKR|BDT|NPR|ILS|TRY|RUB|UAH|HUF|RON|BGN|CZK|ARS|CLP|"
          r"COP|PEN|kr|zł|Kč|Ft")
# How each sign or short form written before an amount is said, wherever the box is sold ("RM 49" is 49 ringgit);
# the settings' `currency_words` say it instead where they are given. ISO codes are said as written.
CURRENCY_WORDS = {"₹": "rupees", "Rs.": "rupees", "Rs": "rupees", "$": "dollars", "£": "pounds", "€": "euros",
                  "¥": "yen", "R$": "reais", "₦": "naira", "₱": "pesos", "₩": "won", "₺": "lira", "zł": "zloty",
                  "R": "rand", "RM": "ringgit", "Rp": "rupiah", "฿": "baht", "₫": "dong", "₪": "shekels",
                  "₴": "hryvnias", "₽": "roubles", "৳": "taka", "Tk": "taka", "₵": "cedis", "GH₵": "cedis",
                  "KSh": "shillings", "Ksh": "shillings", "USh": "shillings", "TSh": "shillings"}
_LETTERS = "|".join(re.escape(sign) for sign in sorted(CURRENCY_WORDS, key=len, reverse=True) if sign[0].isalpha())
_SYMBOLS = "|".join(re.escape(sign) for sign in sorted(CURRENCY_WORDS, key=len, reverse=True) if not sign[0].isalpha())
# A sign before an amount: a symbol, or letters that are a sign only before a number ("RM 49", not "RM")
CURRENCY_SIGN = rf"(?:{_SYMBOLS}|\b(?:{_LETTERS})(?=\s?\d))"
_UNIT = r"(?:\s?(?:per|a|an|/|each)\s?(?:month|year|week|day|night|person|visit|hour|session|user|item|kg|km))?"
# An amount of money as documents write it: a symbol or code before the number, or a code or word after it.
_NUMBER = r"(?:\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?!\d)|\d[\d,.]*)"  # thousands grouped by spaces, commas or dots
PRICE = re.compile(rf"(?:(?:[A-Z]{{1,3}}\$|{CURRENCY_SIGN}|\b(?:{_CODES})\b)\s?{_NUMBER}"
                   rf"|\b{_NUMBER}\s?(?:{_CODES}|dollars?|euros?|pounds?|rand|rupees?|pesos?|francs?|ringgit|"
                   rf"rupiah|baht|shillings?|naira|cedis?)\b){_UNIT}")


# A question or request about what things cost.
PRICE_ASKED = re.compile(r"\b(how much|price|prices|pricing|price list|cost|costs|charge|fee|fees)\b", re.I)


def price_in(text: str) -> str | None:
    """The first amount of money in `text`, with its unit ("₹999 per month", "NZ$ 24.90 a month"), if any."""
    found = PRICE.search(text)
    return found.group(0).strip().rstrip(".,") if found else None


def _section_name(heading: str) -> str | None:
    """The name a section's own heading gives it, at any depth ("Business offer > Plans > PLUS — 49 zł" → "PLUS")."""
    if " > " not in heading:
        return None
    return re.split(r"[:(–—-]\s", heading.split(" > ")[-1], maxsplit=1)[0].strip() or None


def _section_price(heading: str, text: str) -> str | None:
    """The price a section names, in its own heading or its first lines ("Gold plan: £12 a month")."""
    return price_in(heading.split(" > ")[-1]) or price_in(text[:300])


def _priced_rows(text: str) -> list[tuple[str, str]]:
    """Table rows as a passage holds them ("Splash: Monthly fee CHF 39, Swims 8 a month."), price-list lines
    with dot leaders ("- Oil boiler service (kitchen or utility) ........ EUR 140") and list items that end in a price
    after a dash ("- Kitchen Party for 2 — 2 markets, 1 lb mussels — $119.00") that name a price."""
    rows = []
    found = [(row.group(1), row.group(2)) for row in re.finditer(
        r"(?:^|(?<=[.!?]\s)(?<!\b[A-Z]\.\s)|(?<=\n))((?:[^.:;!?\n]|(?<=\d)\.(?=\d)|(?<=\b[A-Z])\.){1,90}): "
        r"([^:\n]*?)(?=\.\s|\.$|$|\n)", text)]  # "B.C." in a row's name ends no sentence
    found += [(row.group(1), row.group(2)) for row in re.finditer(
        rf"(?:^|\n|(?<=\s)[-*•])\s*(?:[-*•]\s*)?([A-Za-z][^.:;!?\n]{{1,90}}?)\s*\.{{3,}}\s*({PRICE.pattern})", text)]
    for line in text.splitlines():  # "- Down Home Feast for 4 — 4 markets, 2 lb mussels — $219.00": the name, then
        item = re.match(r"\s*[-*•]\s+(.+)", line)  # what it holds, then its price, set apart by dashes
        parts = re.split(r"\s[—–-]\s", item.group(1)) if item else []
        if len(parts) >= 2 and PRICE.match(parts[-1].strip()) and not any(label == parts[0] for label, _ in found):
            found.append((parts[0], parts[-1]))
    for label, rest in found:
        label = re.split(r"\s[-*•]\s", label)[-1]  # a heading before the first item of a list run together
        if label.count(")") > label.count("("):
            continue  # "a year): add ₱800": the end of a line wrapped in the middle of a bracket, not a name
        label = re.split(r"\s*\(|\s+with\s+|\s+incl\w*\s+|,\s", label.strip(" -*•"), maxsplit=1)[0]  # "Hardcover binding (...) with..."
        if label and len(label.split()) <= 6 and not price_in(label) and price_in(rest):
            rows.append((label, price_in(rest)))
    return rows


def priced_items(passages) -> list[tuple[str, str]]:
    """What a document offers and what each costs, whatever its headings look like: sections whose heading or
    first lines name a price ("Gold membership: £12 a month"), and table rows with a price in a cell (the row's
    first cell names it). Once two sections are priced, a sibling headed "Name: terms" joins them with its terms
    ("Site survey: free of charge")."""
    items: dict[str, str] = {}
    named_terms: dict[str, str] = {}
    rows_of = [_priced_rows(passage.text) for passage in passages]
    listing = {passage.heading for passage, rows in zip(passages, rows_of) if rows}  # a section of priced rows
    for passage, rows in zip(passages, rows_of):
        for label, price in rows:
            items.setdefault(label, price)
        name = _section_name(passage.heading)
        if name and passage.heading not in listing:  # not its rows' section, by a price in its next passage's text
            price = _section_price(passage.heading, passage.text)
            section = passage.heading.split(" > ")[-1]
            if price:
                items.setdefault(name, price)
            elif ":" in section:
                named_terms.setdefault(name, section.split(":", 1)[1].strip())
    if len(items) >= 2:
        for name, terms in named_terms.items():
            items.setdefault(name, terms)
    return [(name, price) for name, price in items.items() if "?" not in name]  # "No plan? Workshop prices" is prose


NOT_NAMES = set("""the this that these those our your we you they it its a an and or but for with from to of in on
    at by if as all any each every please note our mon tue wed thu fri sat sun""".split())


# A word written as a name inside a sentence: capitalised after another word ("pay with BLIK", "in Gdańsk")
NAME_IN_TEXT = re.compile(r"(?<=[^\W_] )[^\W\d_a-z][\w'&-]+")


def own_words(passages, most: int = VOCABULARY_WORDS) -> list[str]:
    """The words a business uses that a speech recognizer may not expect: names written with a capital inside a
    sentence (places, brands, people: "Oughterard", "Rayburn") and short forms given in brackets ("kerosene
    (kero)"), the most used first."""
    counts: dict[str, int] = {}
    months = {m.title() for m in ("january", "february", "march", "april", "may", "june", "july", "august",
                                  "september", "october", "november", "december")}
    for passage in passages:
        text = passage.text
        for found in re.finditer(r"(?:(?<=[^\W_] )|(?<=[^\W_][,;] ))([^\W\d_][\w'&-]{3,})", text):
            word = found.group(1).strip("'")
            shouted = word.isupper()  # a heading's word
            if (word[0].isupper() and not shouted and word.lower() not in NOT_NAMES and word not in months
                    and not re.search(r"days?$", word)):
                counts[word] = counts.get(word, 0) + 1
        for found in re.finditer(r"\(([a-z][a-z-]{2,12})\)", text):
            counts[found.group(1)] = counts.get(found.group(1), 0) + 2
    return sorted(counts, key=lambda word: -counts[word])[:most]


def name_words(name: str) -> set[str]:
    """The words that make up an offer's name, less the common ones ("the", "per", "and")."""
    return set(_words(name)) - COMMON


def offer_of(heading: str, text: str = "") -> str | None:
    """The offer a section is about, when it names a price: "Pricing > Gold plan: £12 a month" → "Gold plan". A
    section with no price ("Returns > After you cancel") offers nothing."""
    name = _section_name(heading)
    return name if name is not None and _section_price(heading, text) else None


def _distinctive(names: list[tuple[str, str]]) -> list[Name]:
    counts: dict[str, int] = {}
    for text, _ in names:
        for word in set(_words(text)) - COMMON:
            counts[word] = counts.get(word, 0) + 1
    out = []
    for text, source in names:
        words = [w for w in dict.fromkeys(_words(text)) if w not in COMMON]
        own = tuple(w for w in words if counts[w] == 1 and not w.isdigit()) or tuple(words)
        if own:  # a name of only common words ("The", "Full") names nothing a caller could say
            out.append(Name(text, source, own))
    return out


@dataclass
class Catalog:
    """Topics and offers of one knowledge base."""

    topics: list[Name] = field(default_factory=list)
    offers: list[Name] = field(default_factory=list)
    prices: dict[str, str] = field(default_factory=dict)  # each offer's price as its document writes it
    vocabulary: list[str] = field(default_factory=list)  # the documents' own names: places, brands, short forms
    # Names priced differently in different sections ("Split type" to clean, and to install): no one price of theirs
    # answers "how much for a split type?" in code
    several_prices: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)  # every word the documents write as a name, lower case ("blik")

    @classmethod
    def from_passages(cls, passages, company: str) -> "Catalog":
        """The names in a knowledge base's passages (KnowledgeIndex.passages())."""
        topics, offers, prices, by_source = {}, {}, {}, {}
        for passage in passages:
            topics.setdefault(title_of(passage.heading, company), passage.source)
            by_source.setdefault(passage.source, []).append(passage)
        seen: dict[str, set] = {}  # each name's prices, section by section
        for source, own in by_source.items():
            for name, price in priced_items(own):
                offers.setdefault(name, source)
                prices.setdefault(name, price)
            for passage in own:  # every row: "Split type (wall-mounted), 1.0 HP" and "..., 2.0 HP" differ in price
                for name, price in _priced_rows(passage.text) + priced_items([passage]):
                    seen.setdefault(name, set()).add(price)
        return cls(_distinctive(list(topics.items())), _distinctive(list(offers.items())), prices,
                   own_words(passages), {name for name, said in seen.items() if len(said) > 1},
                   {word.lower() for passage in passages for word in re.findall(NAME_IN_TEXT, passage.text)})

    @staticmethod
    def _match(names: list[Name], heard: str) -> Name | None:
        said = _words(heard)
        best, best_hits = None, 0
        for name in names:
            hits = sum(any(_similar(word, own) for word in said) for own in name.words)
            if hits > best_hits:
                best, best_hits = name, hits
        return best

    def topic(self, heard: str) -> Name | None:
        """The document the caller names, if any."""
        return self._match(self.topics, heard)

    def offer(self, heard: str) -> Name | None:
        """The offer the caller names, if any."""
        return self._match(self.offers, heard)

    def sole_offer(self, heard: str) -> Name | None:
        """The offer the caller names, when no other is named as well: "the fit" names no one of "bike fit",
        "chain fit" and "tyre fit". Of names with as many words said, the one with more of its own words said as
        they are written wins ("hardcover" names "Hardcover binding" whole, "thesis" half of "Printing of the
        thesis"; "charge" is only like "recharge")."""
        said = _words(heard)
        hits = []
        for name in self.offers:
            count = sum(any(_similar(word, own) for word in said) for own in name.words)
            exact = sum(own in said for own in name.words)
            hits.append(((count, exact / len(name.words)), name))
        best = max((score for score, _ in hits), default=(0, 0.0))
        named = [name for score, name in hits if score == best]
        return named[0] if best[0] and len(named) == 1 and named[0].text not in self.several_prices else None

    def named_in(self, heard: str) -> list[tuple[str, str, set[str]]]:
        """The priced offers the caller names in full, every word of the name said ("full service" is not
        "standard service"), as (name, price, its words); a name inside a longer one named too is left out ("chain
        fit" where "chain and cassette fit" was said)."""
        said = _words(heard)
        named = []
        for offer in self.offers:
            words = {word for word in _words(offer.text) if word not in LINKING}
            price = self.prices.get(offer.text, "")
            if words and PRICE.search(price) and offer.text not in self.several_prices and \
                    all(any(_similar(heard, word) for heard in said) for word in words):
                named.append((offer.text, price, words))
        return [(text, price, words) for text, price, words in named if not any(words < other for *_, other in named)]

    def mask(self, heard: str) -> str:
        """The caller's words with the offers' names said as "it" ("I'd like to order the Gold plan" → "I'd like to
        order it"): what the caller wants to do, whatever it is about. Document titles are left alone: their
        words ("orders", "returns") are often the very words that say what the caller wants."""
        own = {word for name in self.offers for word in _words(name.text)} - COMMON
        out: list[str] = []
        for token in re.findall(r"\S+", heard):
            word = _words(token)
            if word and any(_similar(word[0], name) for name in own):
                if out and out[-1] in ("it", "the", "your", "our", "a", "an", "this", "that"):
                    out[-1] = "it"
                else:
                    out.append("it")
                if token[-1] in ".?!,":
                    out[-1] += token[-1]
            else:
                out.append(token)
        return " ".join(out)

    def hint(self) -> str:
        """The names, as a sentence for speech recognition to expect."""
        names = [n.text for n in self.topics] + [n.text for n in self.offers] + self.vocabulary
        return ", ".join(dict.fromkeys(names))
