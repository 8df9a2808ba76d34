"""Opening hours read from documents written in different layouts, and questions about them answered in code."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from appliance.dialogue.hours import Timetable, spoken_clock
from appliance.knowledge.index import Passage

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=ZoneInfo("Europe/Dublin"))  # a Monday


def table(text: str) -> Timetable:
    return Timetable.from_passages([Passage("hours.txt", "Hours", text, 1.0)])


DOTTED_TEXT = ("OPENING HOURS\n  Mon - Fri ........ 07:45 - 18:15\n  Saturday ......... 09:00 - 12:30\n"
               "  Sunday ........... CLOSED\n  Public holidays .. CLOSED\n\nTypical saving: 28 - 38%\n"
               "Deliveries run Monday to Friday 8:00 - 17:00.")
PROSE_TEXT = ("- Monday to Saturday, 9 AM to 6 PM.\n- Sunday, 11 AM to 3 PM.\n"
              "- Bank holidays, 11 AM to 3 PM. We are closed on Christmas Day, Boxing Day and New Year's Day.")
SEASON_TEXT = ("Tuesday to Friday: 10am to 5:30pm\nSaturday: 10am to 2pm\nSunday and Monday: closed\n"
               "Festive break: closed from 23 December to 3 January.\nWed 22 Dec   10:00 - 13:00\n")
DOTTED, PROSE, SEASON = table(DOTTED_TEXT), table(PROSE_TEXT), table(SEASON_TEXT)


def test_clock_times_are_said_the_way_people_say_them():
    assert [spoken_clock(t) for t in ("07:45", "18:15", "12:30", "9am", "5:30pm", "00:00")] == [
        "7:45 AM", "6:15 PM", "12:30 PM", "9 AM", "5:30 PM", "12 AM"]


def test_each_layout_gives_the_week():
    assert DOTTED.weekly == {**{d: "open from 7:45 AM to 6:15 PM" for d in range(5)},
                             5: "open from 9 AM to 12:30 PM", 6: "closed"}
    assert PROSE.weekly[6] == "open from 11 AM to 3 PM" and PROSE.weekly[2] == "open from 9 AM to 6 PM"
    assert SEASON.weekly[0] == SEASON.weekly[6] == "closed" and 0 not in {d for d, s in SEASON.weekly.items()
                                                                         if s != "closed"}


def test_lines_that_are_not_opening_hours_are_left_alone():
    assert set(DOTTED.named) == {"public holidays"}  # not "typical saving", not the deliveries
    assert DOTTED.weekly[0] == "open from 7:45 AM to 6:15 PM"  # the first timetable wins, not the deliveries'


@pytest.mark.parametrize("question, answer", [
    ("Are you open on Sundays?", "On Sundays we're closed."),
    ("What time do you shut on a Saturday?", "On Saturdays we're open from 9 AM to 12:30 PM."),
    ("Are you lot open at the weekend?", "On Saturdays we're open from 9 AM to 12:30 PM and on Sundays we're closed."),
    ("Are you open today?", "Today we're open from 7:45 AM to 6:15 PM."),
    ("Are you open on public holidays?", "Public holidays: we're closed."),
    ("Are you open on Christmas Day?", "On 25 December we're closed."),  # a public holiday, not its Friday
])
def test_questions_about_the_dotted_timetable(question, answer):
    assert DOTTED.answer(question, NOW) == answer


def test_named_days_and_date_ranges():
    assert PROSE.answer("are you open on boxing day?", NOW) == "Boxing day: we're closed."
    assert PROSE.answer("What are your hours on bank holidays?", NOW) == "Bank holidays: we're open from 11 AM to 3 PM."
    assert SEASON.answer("Are you open on the twenty-eighth of December?", NOW) == "On 28 December we're closed."
    assert SEASON.answer("are you open January 2nd?", NOW) == "On 2 January we're closed."
    assert SEASON.answer("and on the 22nd of December, are you open?", NOW) == (
        "On 22 December we're open from 10 AM to 1 PM.")
    assert SEASON.answer("What are your opening hours?", NOW) == (
        "Monday we are closed; Tuesday to Friday we are open from 10 AM to 5:30 PM; Saturday we are open from 10 AM "
        "to 2 PM; Sunday we are closed.")


@pytest.mark.parametrize("question", [
    "How much is the boiler service?", "What time do you deliver on Saturdays?",
    "Are your phone lines open on Sunday?", "Is the Gold plan open to new members?"])
def test_other_questions_are_not_answered_from_the_timetable(question):
    assert DOTTED.answer(question, NOW) is None


def test_no_timetable_answers_nothing():
    assert table("Our refund policy: 30 days.").answer("Are you open on Sunday?", NOW) is None


def test_lines_run_together_read_the_same():  # plain-text passages are stored with their lines joined
    for text in (DOTTED_TEXT, PROSE_TEXT, SEASON_TEXT):
        apart, joined = table(text), table(" ".join(text.split()))
        assert (joined.weekly, joined.dated, joined.named) == (apart.weekly, apart.dated, apart.named)


def test_other_words_in_other_sentences_do_not_hide_the_question():
    heard = "My sister had you install her boiler and loves it. Are you open on Sundays? I'd like to visit."
    assert DOTTED.answer(heard, NOW) == "On Sundays we're closed."


HOLIDAY_TEXT = ("Monday to Friday    8.00am - 6.00pm\nSaturday            9.00am - 1.00pm\nSunday              CLOSED\n"
                "JUNE BANK HOLIDAY - MONDAY 1 JUNE 2026\nThe office is closed for the day.\n"
                "Wednesday 24 December (Christmas Eve) ....... 8.00am - 1.00pm\n"
                "Friday 26 December (St Stephen's Day) ....... CLOSED\n")


def test_the_coming_weekday_is_checked_against_the_dated_exceptions():
    holidays = table(HOLIDAY_TEXT)
    thursday = datetime(2026, 5, 28, 10, 0, tzinfo=ZoneInfo("Europe/Dublin"))
    assert holidays.answer("Hi, are you open on Monday?", thursday) == "On Monday 1 June we're closed."
    assert holidays.answer("Are you open on Saturday?", thursday) == "On Saturdays we're open from 9 AM to 1 PM."
    assert holidays.answer("And Christmas Eve?  Are you open?", NOW) == "On 24 December we're open from 8 AM to 1 PM."


def test_a_holiday_is_known_as_speech_recognition_writes_it():
    holidays = table(HOLIDAY_TEXT)
    assert holidays.answer("What are your hours over the Christmas? Are you open on Stevens Day?", NOW) == (
        "On 26 December we're closed.")


def test_a_date_in_figures_is_an_exception_too():
    clinic = table("Mon - Fri ...... 8:00 - 19:00\nSat ...... 9:00 - 16:00\nFri 12/12/2025 (Republic Day) ...... "
                   "CLOSED. Emergency line open.\n")
    tuesday = datetime(2025, 12, 9, 8, 20, tzinfo=ZoneInfo("Africa/Nairobi"))
    assert clinic.answer("Are you people open this Friday?", tuesday) == "On Friday 12 December we're closed."


BREAK_TEXT = ("Tuesday to Friday: 8:00am - 5:30pm\nSaturday: 9:00am - 3:00pm\nMonday: CLOSED\n\n"
              "* Show Day, FRIDAY 11/12/2026: CLOSED ALL DAY.\n"
              "* Christmas: we close at 12 noon on Thursday 24/12/2026 and reopen on\n  Tuesday 05/01/2027 at 8:00am.")


def test_each_day_asked_gets_its_coming_dates_exception():
    said = table(BREAK_TEXT).answer("Are you open this Friday, and what time do you shut on Saturday?", NOW)
    assert said == "On Friday 11 December we're closed and on Saturdays we're open from 9 AM to 3 PM."


def test_a_date_no_rule_covers_is_answered_with_the_line_that_names_it():
    said = table(BREAK_TEXT).answer("When do you close up for Christmas?", NOW)
    assert said.startswith("Christmas: we close at 12 noon on Thursday 24/12/2026 and reopen on Tuesday 05/01/2027")
    assert "open from" not in said  # not the weekday's hours for the 25th


MONTH_FIRST_TEXT = ("Monday to Saturday ....... 8:00 AM to 6:00 PM\nSunday ................... CLOSED\n\n"
                    "HOLIDAY SCHEDULE\n  Dec 8  (Tue)  Immaculate Conception ........ OPEN, regular hours\n"
                    "  Dec 24 (Thu)  Christmas Eve ................ HALF DAY, 8:00 AM to 12:00 NN only\n"
                    "  Dec 30 (Wed)  Rizal Day .................... CLOSED\n")


@pytest.mark.parametrize("asked, said", [
    ("Are you open on December 30?", "On 30 December we're closed."),
    ("Are you open on the 24th of December?", "On 24 December we're open from 8 AM to 12 PM."),
    ("Are you open on the 8th of December?", "On 8 December we're open from 8 AM to 6 PM."),  # as any Tuesday
])
def test_holiday_lines_written_month_first_are_dated_rules(asked, said):
    assert table(MONTH_FIRST_TEXT).answer(asked, NOW) == said


NOTICE_HEAD = ("Monday - Thursday : 9.00am - 6.00pm\nFriday : 9.00am - 12.15pm, then 2.45pm - 6.00pm\n"
               "(closed 12.15pm - 2.45pm for prayers)\nSaturday : 9.00am - 1.00pm\nSunday : CLOSED\n"
               "HOLIDAY NOTICE\nFri 11/12/2026  Founder's Birthday\n        (state holiday) ............ CLOSED\n"
               "Thu 24/12/2026  Christmas Eve ........... normal hours (9.00am - 6.00pm)\n"
               "Thu 31/12/2026  New Year's Eve .......... HALF DAY, closes 1.00pm\n"
               "Sat 06/02/2027 - Mon 08/02/2027")
NOTICE_TAIL = ("        Lunar New Year (incl. replacement holiday) .... CLOSED\nWe reopen on Tuesday 09/02/2027.\n"
               "Installations that fall on a closed day are moved to the next working day.")


def test_a_notice_of_dates_in_figures_with_names_over_two_lines_and_passages():
    timetable = Timetable.from_passages([Passage("hours.txt", "Hours", NOTICE_HEAD, 1.0),
                                         Passage("hours.txt", "Hours", NOTICE_TAIL, 0.9)])  # one section, cut in two
    assert timetable.weekly[4] == "open from 9 AM to 12:15 PM and from 2:45 PM to 6 PM"  # open twice on Fridays
    assert timetable.answer("I want to come this Friday, you open what time?", NOW) == "On Friday 11 December we're closed."
    assert timetable.answer("Are you open on the 31st of December?", NOW) == "On 31 December we're open until 1 PM."
    assert timetable.answer("Are you open on the 24th?", NOW) == "On 24 December we're open from 9 AM to 6 PM."
    assert timetable.answer("Are you open on 8 February?", NOW) == "On 8 February we're closed."
    assert timetable.answer("Are you open on 9 February?", NOW) == "We reopen on Tuesday 09/02/2027."  # its own line


# Dates written with dots (much of Europe) or as ISO dates, spaces folded as passages hold them, a year in brackets
DOTTED_DATES = ("Monday - Friday: 8:00 - 20:00\nSaturday: 9:00 - 15:00\nSunday: closed\nHOLIDAY HOURS\n"
                "11.11.2026 (Wednesday) Independence Day\nhotline CLOSED, service points CLOSED.\n"
                "24.12.2026 (Thursday) Christmas Eve (a public holiday from 2025) - CLOSED\n"
                "25.12 and 26.12.2026 Christmas - CLOSED\n"
                "31.12.2026 (Thursday) shorter hours: 8:00 - 14:00\n2027-01-06 Epiphany - CLOSED\n\n"
                "Parcels posted on 11.11 leave on 12.11.2026.")


@pytest.mark.parametrize("asked, said", [
    ("Are you open on the 11th of November?", "On 11 November we're closed."),
    ("Are you open on Christmas Eve?", "On 24 December we're closed."),
    ("Are you open on the 26th of December?", "On 26 December we're closed."),
    ("What about the 31st of December?", None),  # no hours asked
    ("Are you open on the 31st of December?", "On 31 December we're open from 8 AM to 2 PM."),
    ("Are you open on 6 January?", "On 6 January we're closed."),
    ("Are you open on the 12th of November?", "On 12 November we're open from 8 AM to 8 PM."),  # a date in a sentence
])
def test_dates_written_with_dots_or_as_iso_dates_are_exceptions(asked, said):
    assert table(DOTTED_DATES).answer(asked, NOW.replace(month=11, day=2)) == said


def test_tables_with_columns_dotted_short_forms_and_days_listed_give_the_week_and_the_dates():
    from appliance.knowledge.documents import parse_document

    document = (
        "# Hours\n\n## Bakery counter\n\n| Day | Hours |\n|---|---|\n| Monday – Friday | 7 a.m. – 5 p.m. |\n"
        "| Saturday | 8 a.m. – 1 p.m. |\n| Sunday | Closed |\n\n**Advent Sundays:** Nov. 30 and Dec. 7, 2025 are "
        "normal; Dec. 14 and 21, 2025, open 9 a.m. – noon.\n\nCatering line: Monday – Friday, 6 a.m. – 2 p.m.\n\n"
        "## Holidays\n\n| Date | Counter | Catering |\n|---|---|---|\n| Thanksgiving — Mon., Oct. 13, 2025 | Closed | "
        "Closed |\n| Christmas Eve — Wed., Dec. 24 | 7 a.m. – 1 p.m. | Closed |\n| Boxing Day — Fri., Dec. 26 | "
        "Closed | Closed |\n")
    hours = Timetable.from_passages([Passage(c.source, c.heading, c.text, 1.0)
                                     for c in parse_document("hours.md", document.encode())])
    assert hours.weekly == {**{d: "open from 7 AM to 5 PM" for d in range(5)}, 5: "open from 8 AM to 1 PM",
                            6: "closed"}  # the first column; the catering line's "6 a.m." no rule of the week
    now = datetime(2025, 10, 10, 16, 0, tzinfo=ZoneInfo("America/Halifax"))  # a Friday
    assert hours.answer("Are you open Monday, with it being Thanksgiving?", now) == "On Monday 13 October we're closed."
    assert hours.answer("Are you open Boxing Day?", now) == "On 26 December we're closed."
    assert hours.answer("What time do you close on Christmas Eve?", now) == "On 24 December we're open from 7 AM to 1 PM."
    assert hours.answer("Are you open on Sunday the 14th of December?", now) == \
        "On 14 December we're open from 9 AM to 12 PM."


def test_a_rule_that_says_nothing_readable_is_no_rule():
    hours = table("Monday – Friday: by appointment.\nSaturday: 9 a.m. – 1 p.m.\n")
    assert 0 not in hours.weekly and hours.answer("Are you open on Monday?", NOW) != "On Mondays we're None."


def test_a_day_after_a_range_of_days_is_no_column_name():
    hours = table("Our second shop stays open all August, 09:00 - 19:00 Mon-Fri, Saturday closed.\n")
    assert hours.weekly == {5: "closed"}  # not Monday to Friday closed, with "Saturday" read as a column's name
