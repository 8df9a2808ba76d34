import random

import pytest

from appliance.tts.sentences import SentenceSplitter


def split_whole(text, **options):
    splitter = SentenceSplitter(**options)
    return splitter.push(text) + splitter.flush()


def split_pieces(text, sizes, **options):
    splitter = SentenceSplitter(**options)
    out, at = [], 0
    for size in sizes:
        out += splitter.push(text[at:at + size])
        at += size
    return out + splitter.push(text[at:]) + splitter.flush()


def split_by_char(text, **options):
    return split_pieces(text, [1] * len(text), **options)


CASES = [
    ("We offer a refund. It takes five days!", ["We offer a refund.", "It takes five days!"]),
    ("Is that all? Yes. Thanks!", ["Is that all?", "Yes.", "Thanks!"]),
    ("Ask Dr. Rao or Mr. Shah. Thanks.", ["Ask Dr. Rao or Mr. Shah.", "Thanks."]),
    ("Mrs. Iyer and Prof. Nair agree. Good.", ["Mrs. Iyer and Prof. Nair agree.", "Good."]),
    ("Bring proof, e.g. A receipt. Done.", ["Bring proof, e.g. A receipt.", "Done."]),
    ("Use a card, i.e. Visa. Or cash.", ["Use a card, i.e. Visa.", "Or cash."]),
    ("Plans start at 2.5 lakh. Call at 10.30 tomorrow.", ["Plans start at 2.5 lakh.", "Call at 10.30 tomorrow."]),
    ("Mail user@example.com now. Or write to help@tech.co.in. Bye.",
     ["Mail user@example.com now.", "Or write to help@tech.co.in.", "Bye."]),
    ("Visit https://www.techcorp.com/refunds?id=3. Or www.techcorp.com today.",
     ["Visit https://www.techcorp.com/refunds?id=3.", "Or www.techcorp.com today."]),
    ("J. R. Smith will call. Fine?", ["J. R. Smith will call.", "Fine?"]),
    ("No. Your order shipped. See No. 5 on the list.", ["No.", "Your order shipped.", "See No. 5 on the list."]),
    ("We open at 9 a.m. on Monday. Call after 5 p.m. Is that fine?",
     ["We open at 9 a.m. on Monday.", "Call after 5 p.m.", "Is that fine?"]),
    ("Offices in the U.S. and the U.K. are open. Bye.", ["Offices in the U.S. and the U.K. are open.", "Bye."]),
    ("Hmm... let me check. Wait… Found it.", ["Hmm... let me check.", "Wait…", "Found it."]),
    ("He said \"stop.\" Then he left (quietly.) Ok.", ["He said \"stop.\"", "Then he left (quietly.)", "Ok."]),
    ("Really?! Yes.", ["Really?!", "Yes."]),
    ("It is fine; thanks for asking. Bye.", ["It is fine; thanks for asking.", "Bye."]),
    ("Steps:\n1. Bring the receipt.\n2. Visit the store\n3. Done", ["Steps:", "1. Bring the receipt.",
                                                                  "2. Visit the store", "3. Done"]),
    ("Your total is 5. That is all.", ["Your total is 5.", "That is all."]),
    ("No punctuation at the end", ["No punctuation at the end"]),
    ("   Leading spaces.   Trailing spaces.   ", ["Leading spaces.", "Trailing spaces."]),
    ("Thank you for calling TechCorp, how can I help you today?",
     ["Thank you for calling TechCorp,", "how can I help you today?"]),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_sentences(text, expected):
    assert split_whole(text) == expected


@pytest.mark.parametrize("text, expected", CASES)
def test_char_by_char_is_the_same(text, expected):
    assert split_by_char(text) == expected


@pytest.mark.parametrize("seed", range(20))
def test_any_chunking_is_the_same(seed):
    text = " ".join(case for case, _ in CASES)
    rng = random.Random(seed)
    sizes = [rng.randint(1, 8) for _ in range(len(text))]
    assert split_pieces(text, sizes) == split_whole(text)


def test_sentences_keep_every_word_in_order():
    text = " ".join(case for case, _ in CASES)
    assert " ".join(split_by_char(text)).split() == text.split()


def test_a_full_stop_waits_for_the_next_word():
    splitter = SentenceSplitter()
    assert splitter.push("We offer a 30-day guarantee.") == []  # maybe "guarantee.com" is coming
    assert splitter.push(" ") == []  # maybe "guarantee. on weekdays" is coming
    assert splitter.push("And") == ["We offer a 30-day guarantee."]
    assert splitter.push(" that is all.\n") == ["And that is all."]


def test_question_and_exclamation_marks_need_only_the_space():
    splitter = SentenceSplitter()
    assert splitter.push("Can I help?") == []
    assert splitter.push(" ") == ["Can I help?"]


def test_first_sentence_is_cut_early_at_a_comma_but_later_ones_are_not():
    text = ("We offer a thirty day money back guarantee, and refunds take five to seven days. "
            "If you paid by card, the money goes back to that card, usually within a week.")
    assert split_by_char(text) == ["We offer a thirty day money back guarantee,",
                                   "and refunds take five to seven days.",
                                   "If you paid by card, the money goes back to that card, usually within a week."]


def test_a_short_first_clause_is_not_cut():
    assert split_whole("Sure, I can help. Yes, indeed.") == ["Sure, I can help.", "Yes, indeed."]


def test_long_clauses_are_cut_at_a_comma_or_semicolon_past_the_limit():
    text = "First. " + "Word " * 30 + "; more words, then some more. End."
    sentences = split_whole(text, max_chars=100)
    assert sentences == ["First.", ("Word " * 30).strip() + " ;", "more words, then some more.", "End."]


def test_first_clause_limit_is_configurable():
    text = "Thank you for calling TechCorp, how can I help?"
    assert split_whole(text, first_clause_chars=60) == [text]


def test_flush_returns_the_rest_once_and_starts_a_new_reply():
    splitter = SentenceSplitter()
    assert splitter.push("Hello there, this is the support line of TechCorp, ") == [
        "Hello there, this is the support line of TechCorp,"]
    assert splitter.push("half a sentence") == []
    assert splitter.flush() == ["half a sentence"]
    assert splitter.flush() == []
    assert splitter.push("A new reply starts right here and now, so its first comma cuts. ") == [
        "A new reply starts right here and now,"]


def test_text_without_words_is_kept_but_never_a_sentence_of_its_own():
    assert split_whole("... Sure. -") == ["... Sure.", "-"]
    assert split_whole("") == []


def test_list_bullets_and_markdown_are_not_read_aloud():
    from appliance.tts.sentences import speakable

    assert speakable("- Refunds are processed within 5-7 business days.") == "Refunds are processed within 5-7 business days."
    assert speakable("**Basic plan**: ₹999") == "Basic plan: ₹999"
    assert speakable(" - ") is None and speakable("-") is None
    assert speakable("2. Call us, 24-7.") == "2. Call us, 24-7."  # numbers and hyphens stay
