import pytest

from appliance.tts.sentences import SentenceSplitter


def split_whole(text, **options):
    splitter = SentenceSplitter(**options)
    return splitter.push(text) + splitter.flush()


def split_by_char(text, **options):
    splitter = SentenceSplitter(**options)
    out = []
    for char in text:
        out += splitter.push(char)
    return out + splitter.flush()


CASES = [
    ("We offer a refund. It takes five days!", ["We offer a refund.", "It takes five days!"]),
    ("Ask Dr. Rao or Mr. Shah. Thanks.", ["Ask Dr. Rao or Mr. Shah.", "Thanks."]),
    ("Plans start at 2.5 lakh. Call 10.30 tomorrow.", ["Plans start at 2.5 lakh.", "Call 10.30 tomorrow."]),
    ("Mail user@example.com now. Or visit www.techcorp.com today.",
     ["Mail user@example.com now.", "Or visit www.techcorp.com today."]),
    ("J. R. Smith will call. Fine?", ["J. R. Smith will call.", "Fine?"]),
    ("Bring proof, e.g. a receipt. Done.", ["Bring proof, e.g. a receipt.", "Done."]),
    ("Really?! Yes.", ["Really?!", "Yes."]),
    ("No punctuation at the end", ["No punctuation at the end"]),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_sentences(text, expected):
    assert split_whole(text) == expected


@pytest.mark.parametrize("text, expected", CASES)
def test_char_by_char_is_the_same(text, expected):
    assert split_by_char(text) == expected


def test_a_sentence_is_held_until_the_space_after_its_stop():
    splitter = SentenceSplitter()
    assert splitter.push("We offer a 30-day guarantee.") == []  # maybe "guarantee.com" is coming
    assert splitter.push(" And") == ["We offer a 30-day guarantee."]


def test_first_sentence_is_cut_early_at_a_comma():
    text = "We offer a thirty day money back guarantee, and refunds take five to seven days. Thanks, bye."
    assert split_by_char(text) == ["We offer a thirty day money back guarantee,",
                                   "and refunds take five to seven days.", "Thanks, bye."]


def test_long_clauses_are_cut_at_a_comma_past_the_limit():
    text = "word " * 40 + ", more words follow here. End."
    sentences = split_whole(text, first_clause_chars=1000, max_chars=100)
    assert sentences[0].endswith(",") and len(sentences) == 3


def test_flush_returns_the_rest_once():
    splitter = SentenceSplitter()
    splitter.push("Half a sentence")
    assert splitter.flush() == ["Half a sentence"]
    assert splitter.flush() == []
