from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from appliance.dialogue.entities import When, find_email, find_order_id, parse_when, spoken_digits, spoken_id, to_e164

KOLKATA = ZoneInfo("Asia/Kolkata")
NOW = datetime(2025, 10, 5, 9, 0, tzinfo=KOLKATA)  # a Sunday morning


@pytest.mark.parametrize("text, expected", [
    ("nine eight seven six five four three two one zero", "9876543210"),
    ("double five six oh seven", "55607"),
    ("I want to go for it", "I want to go for it"),
    ("send it to my phone", "send it to my phone"),
    ("I have two laptops", "I have two laptops"),
    ("room 42, floor three", "room 42, floor three"),
    ("oh eight five, double two, three, four seven, double nine", "085, 22, 3, 47, 99"),  # one digit in groups
    ("I want 2 of them, three at most", "I want 2 of them, three at most"),
    ("it's nine-oh-two, five-five-five, oh-one-nine-one", "it's 902, 555, 0191"),  # groups written with hyphens
])
def test_spoken_digits(text, expected):
    assert spoken_digits(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("It's 9876543210", "+919876543210"),
    ("my number is 98765 43210", "+919876543210"),
    ("nine eight seven six five four three two one zero", "+919876543210"),
    ("zero nine eight seven six five four three two one zero", "+919876543210"),
    ("plus nine one nine eight seven six five four three two one zero", "+919876543210"),
    ("919876543210", "+919876543210"),
    ("It's 9 billion 876 543,210.", "+919876543210"),
    ("+44 20 7946 0958", "+442079460958"),
    ("0044 20 7946 0958", "+442079460958"),
    ("call me at five", None),
    ("no number here", None),
])
def test_phone_numbers_to_e164(text, expected):
    assert to_e164(text, "+91") == expected


@pytest.mark.parametrize("text, expected", [
    ("my email is user at example dot com", "user@example.com"),
    ("it's j a n e dot d o e at gmail dot com", "jane.doe@gmail.com"),
    ("Send to Jane.Doe@Example.com please", "jane.doe@example.com"),
    ("priya underscore k at tech corp dot co dot in", None),
    ("priya underscore k at techcorp dot co dot in", "priya_k@techcorp.co.in"),
    ("no address", None),
])
def test_emails(text, expected):
    assert find_email(text) == expected


KNOWN = ["ORD98765", "GL-20431", "GL-20433", "7731-55"]


@pytest.mark.parametrize("text, bare, expected", [
    ("It's ORD98765", False, ("ORD98765", "ORD98765", True)),
    ("it's O R D nine eight seven six five", False, ("ORD98765", "ORD98765", True)),
    ("order number 98765", False, ("98765", "ORD98765", True)),  # the letters left unsaid
    ("ord-98765", False, ("ORD98765", "ORD98765", True)),
    ("It's G L 20431", False, ("GL20431", "GL-20431", True)),  # another company's format, with a dash
    ("g l dash two oh four three one", False, ("GL20431", "GL-20431", True)),
    ("seven seven three one five five", True, ("773155", "7731-55", True)),  # digits only, asked for
    ("GL 20432", False, ("GL20432", None, False)),  # one digit from two known orders: not guessed
    ("GL 20471", False, ("GL20471", "GL-20431", False)),
    ("ORD98766", False, ("ORD98766", "ORD98765", False)),  # one digit from one known order: to be confirmed
    ("ZX-55555", False, ("ZX55555", None, False)),  # no such order: as heard, to be asked again
    ("I ordered it 5 days ago", False, None),
    ("My number is 98765 43210", False, None),  # a phone number is no order
])
def test_order_ids_are_read_against_the_known_orders(text, bare, expected):
    found = find_order_id(text, KNOWN, bare_digits=bare)
    assert (found and (found.heard, found.order_id, found.exact)) == expected


def test_an_order_id_is_read_back_a_character_at_a_time():
    assert spoken_id("GL-20431") == "G L, 2 0 4 3 1"


@pytest.mark.parametrize("text, expected", [
    ("Tomorrow at 10 AM", datetime(2025, 10, 6, 10, 0, tzinfo=KOLKATA)),
    ("tomorrow at ten", datetime(2025, 10, 6, 10, 0, tzinfo=KOLKATA)),
    ("next Monday afternoon", datetime(2025, 10, 6, 14, 0, tzinfo=KOLKATA)),
    ("Friday morning", datetime(2025, 10, 10, 10, 0, tzinfo=KOLKATA)),
    ("today at 5:30 pm", datetime(2025, 10, 5, 17, 30, tzinfo=KOLKATA)),
    ("day after tomorrow at 11 a.m.", datetime(2025, 10, 7, 11, 0, tzinfo=KOLKATA)),
    ("at 8 am", datetime(2025, 10, 6, 8, 0, tzinfo=KOLKATA)),  # 8 AM today has passed: tomorrow
    ("around 2", datetime(2025, 10, 5, 14, 0, tzinfo=KOLKATA)),  # "at 2" on a business line
    ("in two hours", datetime(2025, 10, 5, 11, 0, tzinfo=KOLKATA)),
    ("in half an hour", datetime(2025, 10, 5, 9, 30, tzinfo=KOLKATA)),
    ("call me in 45 minutes", datetime(2025, 10, 5, 9, 45, tzinfo=KOLKATA)),
    ("on the 12th at noon", datetime(2025, 10, 12, 12, 0, tzinfo=KOLKATA)),
    ("the 3rd at 4 pm", datetime(2025, 11, 3, 16, 0, tzinfo=KOLKATA)),  # the 3rd has passed this month
    ("October 20 in the morning", datetime(2025, 10, 20, 10, 0, tzinfo=KOLKATA)),
    ("5th of January at 11 am", datetime(2026, 1, 5, 11, 0, tzinfo=KOLKATA)),
    ("maybe around four thirty this afternoon", datetime(2025, 10, 5, 16, 30, tzinfo=KOLKATA)),
    ("tomorrow at half past two", datetime(2025, 10, 6, 14, 30, tzinfo=KOLKATA)),
    ("quarter to eleven tomorrow", datetime(2025, 10, 6, 10, 45, tzinfo=KOLKATA)),
    ("at ten fifteen", datetime(2025, 10, 5, 10, 15, tzinfo=KOLKATA)),
    ("Run 2P them.", datetime(2025, 10, 5, 14, 0, tzinfo=KOLKATA)),  # "Around 2 PM", as Whisper heard it once
    ("this afternoon, about twenty past four", datetime(2025, 10, 5, 16, 20, tzinfo=KOLKATA)),
    ("ten to five tomorrow", datetime(2025, 10, 6, 16, 50, tzinfo=KOLKATA)),
    ("5 past 3 tomorrow", datetime(2025, 10, 6, 15, 5, tzinfo=KOLKATA)),
    ("Tuesday, no, Wednesday, round 3 in the afternoon", datetime(2025, 10, 8, 15, 0, tzinfo=KOLKATA)),
])
def test_when(text, expected):
    assert parse_when(text, NOW).resolve(NOW) == expected


def test_a_day_and_a_time_from_different_turns_make_one_moment():
    day = parse_when("Can someone call me tomorrow to discuss setup?", NOW)
    assert day == When(date(2025, 10, 6), None) and day.resolve(NOW) is None
    at = parse_when("Around 2 PM", NOW)
    assert at == When(None, time(14, 0))
    assert at.merged(day).resolve(NOW) == datetime(2025, 10, 6, 14, 0, tzinfo=KOLKATA)


def test_numbers_that_are_not_times_are_not_times():
    assert parse_when("I ordered a laptop 5 days ago", NOW) == When()
    assert parse_when("I have 2 laptops", NOW) == When()
    assert parse_when("I need ten to twelve litres", NOW) == When()
    assert parse_when("you're open 9 to 5 today", NOW).at is None


def test_an_order_id_said_one_character_at_a_time():
    found = find_order_id("The JO number is J, O, four, eight, two, one, three.", ["JO48213", "JO47730"])
    assert found.order_id == "JO48213" and found.exact


def test_the_letter_o_heard_as_a_zero_is_the_same_order():
    found = find_order_id("It's J-047730, I paid you last Thursday.", ["JO47730", "JO48190"])
    assert found.order_id == "JO47730" and found.exact


def test_an_order_id_spoken_in_groups():
    found = find_order_id("It's B W, eight eight three, two zero one.", ["BW-883201", "BW-883457"])
    assert (found.order_id, found.exact) == ("BW-883201", True)


def test_what_the_known_ids_look_like_is_told_to_speech_recognition():
    from appliance.dialogue.entities import id_shapes
    from appliance.engines import speech_hint

    assert id_shapes(["GL-20431", "GL-20477", "7731-55"]) == ["GL-12345", "1234-56"]
    assert "Order numbers look like GL-12345." in speech_hint("Greenleaf", "care plan", "", ["GL-20431"])


@pytest.mark.parametrize("text, expected", [
    ("Friday, no sorry, Saturday at ten", datetime(2025, 10, 11, 10, 0, tzinfo=KOLKATA)),
    ("Thursday, no, Friday at half past three", datetime(2025, 10, 10, 15, 30, tzinfo=KOLKATA)),
    ("tomorrow at three, no, make it four", datetime(2025, 10, 6, 16, 0, tzinfo=KOLKATA)),
    ("tomorrow, actually the day after, at 11 am", datetime(2025, 10, 7, 11, 0, tzinfo=KOLKATA)),
    ("tomorrow morning, no, afternoon", datetime(2025, 10, 6, 14, 0, tzinfo=KOLKATA)),
])
def test_the_last_thing_said_is_what_counts(text, expected):
    assert parse_when(text, NOW).resolve(NOW) == expected


@pytest.mark.parametrize("text, expected", [
    ("half past four in the afternoon", time(16, 30)),
    ("half four tomorrow", time(16, 30)),  # how it is said in Britain and Ireland
    ("sixteen thirty", time(16, 30)),
    ("at 16:30", time(16, 30)),
])
def test_times_in_words(text, expected):
    assert parse_when(text, NOW).at == expected


def test_a_time_booked_across_a_daylight_saving_change_takes_its_own_days_offset():
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime.fromisoformat("2025-10-24T09:00:00+02:00").astimezone(berlin)  # as simulate reads "now"
    moment = parse_when("next Monday at 10 am", now).resolve(now)
    assert moment.isoformat() == "2025-10-27T10:00:00+01:00"  # summer time ended on the 26th


def test_the_day_after_tomorrow_with_or_without_the():
    for text in ("the day after tomorrow at 11 am", "day after tomorrow at 11 am"):
        assert parse_when(text, NOW).resolve(NOW) == datetime(2025, 10, 7, 11, 0, tzinfo=KOLKATA)


@pytest.mark.parametrize("text", ["A B, four four seven one, Q", "it's AB-4471-Q", "A as in apple, B as in Bravo, 4471, Q",
                                  "a b four four seven one q"])
def test_an_id_with_letters_after_its_digits_said_apart(text):
    mention = find_order_id(text, ["AB-4471-Q", "ZX-4471-K", "AB-4472-Q"])
    assert mention is not None and (mention.order_id, mention.exact) == ("AB-4471-Q", True)


@pytest.mark.parametrize("text, expected", [
    ("V as in Victor, I, K, at example dot org", "vik@example.org"),
    ("it's b for bravo, o, b at mail dot com", "bob@mail.com"),
])
def test_letters_spelled_with_a_word_for_each(text, expected):
    assert find_email(text) == expected


def test_letters_written_with_hyphens_are_one_word():
    assert find_email("It's k-l-a-r-a dot n-o-v-a-k at example dot com") == "klara.novak@example.com"
    assert find_email("anne-marie@example.com") == "anne-marie@example.com"  # a real hyphen stays


def test_an_email_said_before_another_sentence_ends_with_it():
    assert find_email("It's thandi dot mokoena at example dot co dot za. Thandi is T, H, A, N, D, I.") == (
        "thandi.mokoena@example.co.za")


@pytest.mark.parametrize("text", ["around six hundred pieces, how much is one?", "about 3 copies please",
                                  "at 5 percent interest"])
def test_a_quantity_is_not_a_time(text):
    assert parse_when(text, NOW).at is None


def test_a_group_of_digits_said_again_after_a_correction_counts_once():
    said = "my cell number is zero eight four, two two six... sorry... two two seven, three three one nine"
    assert to_e164(said, "+27") == "+27842273319"
    assert parse_when(said, NOW).at is None  # "sorry... two" is no time of day


@pytest.mark.parametrize("said, email", [
    ("It's c dot o sullivan, that's o, s, u, l, l, i, v, a, n, at eircom dot net.", "c.osullivan@eircom.net"),
    ("It's niamh, n i a m h, dot walsh at ballyglass house, all one word, dot i e.", "niamh.walsh@ballyglasshouse.ie"),
])
def test_an_email_spelled_after_its_words_keeps_the_spelling(said, email):
    assert find_email(said) == email


@pytest.mark.parametrize("said, email", [
    ("It's K, I, M, underscore, L, E, E, seven seven, at mail dot com dot S G.", "kim_lee77@mail.com.sg"),
    ("It's k-i-m, underscore-l-e-e-7-7 at mail.com.sg", "kim_lee77@mail.com.sg"),  # as the recognizer writes it
    ("r a j dash one two three at example dot in", "raj-123@example.in"),
    ("j o double oh seven at example dot com", "jo007@example.com"),
    ("o s u double l i v a n at example dot ie", "osullivan@example.ie"),  # a letter said twice
    ("double u e i at example dot com", "wei@example.com"),  # "double u" is the letter w
    ("it's jane at example dot com, I have two kids", "jane@example.com"),  # a number said after it is no part of it
    ("oh, it's jane at example dot com", "jane@example.com"),  # "oh" alone is a word
    ("the polka-dot one, send it to kim at example dot com", "kim@example.com"),
    # a word said, then corrected by spelling it: the spelling wins, whatever is said between
    ("It's r dot doucet, no wait, with two T's and an E, D O U C E T T E, seven seven, at example dot com.",
     "r.doucette77@example.com"),
    ("It's r dot-dasset. No wait, with two T's and an E, D-O-U-C-E-T-T-E, 7-7 at example.com.",  # as Whisper wrote it
     "r.doucette77@example.com"),
])
def test_an_email_spelled_letter_by_letter_with_its_digits_and_symbols_said_as_words(said, email):
    assert find_email(said) == email


@pytest.mark.parametrize("text, known, bare, expected", [
    ("order number four zero seven four one, P J", ["40741-PJ", "40742-PJ"], False, ("40741PJ", "40741-PJ", True)),
    ("It's 4 0 7 4 1, P J. When is it coming?", ["40741-PJ", "40741-KL", "40742-PJ"], False,
     ("40741PJ", "40741-PJ", True)),  # the last letter ends the sentence
    ("It's 4 0 7 4 1, K L.", ["40741-PJ", "40741-KL"], False, ("40741KL", "40741-KL", True)),
    ("It's 4 0 7 4 1.", ["40741-PJ", "40741-KL", "40742-PJ"], False, None),  # two orders have those digits: not
    # guessed, and no third one offered
    ("five five one two, Q", ["5512-Q", "5513-Q"], True, ("5512Q", "5512-Q", True)),
    ("five five nine nine, Q", ["5512-Q", "5513-Q"], True, ("5599Q", None, False)),  # its letters kept when unknown
    ("five five nine nine, I think", ["5512-Q", "5513-Q"], True, ("5599", None, False)),  # a word, not letters
])
def test_an_id_with_letters_after_its_digits_said_apart_from_them(text, known, bare, expected):
    found = find_order_id(text, known, bare_digits=bare)
    assert (found and (found.heard, found.order_id, found.exact)) == expected


@pytest.mark.parametrize("text, expected", [
    ("His handphone is zero one seven, three double-zero, one nine four two.", "+60173001942"),
    ("zero one two, triple-five, double oh, one two", "+60125550012"),
    ("zero one two, double oh one, triple five two", "+60120015552"),
])
def test_double_and_triple_said_in_a_phone_number(text, expected):
    assert to_e164(text, "+60") == expected


@pytest.mark.parametrize("text, expected", [
    ("three double-zero", "300"),
    ("double-oh seven", "007"),
    ("Triple-5 two", "5552"),
    ("a double-decker bus", "a double- decker bus"),  # a hyphen before a word that is no digit stays
])
def test_double_written_onto_its_digit(text, expected):
    assert spoken_digits(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("I might come on the twenty-fourth, Thursday.", date(2025, 10, 24)),  # a weekday beside a date names it
    ("on the twenty fourth", date(2025, 10, 24)),
    ("the 24th", date(2025, 10, 24)),
    ("the first", date(2025, 11, 1)),
    ("the thirty-first", date(2025, 10, 31)),
    ("the eleventh or the twelfth", date(2025, 10, 12)),
    ("the first of December", date(2025, 12, 1)),
    ("December the twenty-first", date(2025, 12, 21)),
    ("the 27th, Thursday", date(2025, 11, 27)),  # October's 27th is a Monday, November's a Thursday
    ("Thursday the 27th", date(2025, 11, 27)),
    ("the 24th, no, Thursday", date(2025, 10, 9)),  # a correction, not the date's name
    ("the first time I called", None),
    ("wait a second", None),
    ("the second one please", None),
    ("first of all", None),
    ("the twenty-first century", None),
])
def test_a_day_of_the_month_said_as_an_ordinal(text, expected):
    assert parse_when(text, NOW).day == expected


def test_the_fourth_thursday_is_a_thursday_not_the_fourth():
    assert parse_when("on the fourth Thursday", NOW).day == date(2025, 10, 9)


@pytest.mark.parametrize("today, said, expected", [
    (date(2025, 12, 7), "the 3rd", date(2026, 1, 3)),  # next month, in the new year
    (date(2025, 11, 5), "the 31st", date(2025, 12, 31)),  # November has none
    (date(2026, 1, 31), "the 30th", date(2026, 3, 30)),  # nor February
])
def test_a_day_without_its_month_is_the_next_month_that_has_it(today, said, expected):
    now = datetime(today.year, today.month, today.day, 9, 0, tzinfo=KOLKATA)
    assert parse_when(said, now).day == expected


def test_an_ordinal_day_with_its_month_after_it_and_no_the():
    from appliance.dialogue.entities import ordinal_days

    assert ordinal_days("are you open twenty-fourth december?") == "are you open 24th december?"
