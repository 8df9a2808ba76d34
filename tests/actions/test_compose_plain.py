"""Messages read as plain words: a text carries what was asked in a few sentences, never Markdown."""

from appliance.actions.compose import SMS_CHARS, details_text, document_email, plain
from appliance.knowledge.index import Passage

PRICES = ("Our plans, billed monthly.\n\n| Plan | Price | Visits |\n|:---|---:|---|\n| **Starter** | R 249 | 2 |\n"
          "| Family | R 399 | _unlimited_ |\n")
HOURS = "We are open **Monday to Friday**, 8:00 to 17:00, and [closed on Sundays](https://example.org/hours)."


def test_markdown_becomes_plain_sentences_with_the_table_columns_named():
    text = plain(PRICES)
    assert "Starter: Price R 249, Visits 2." in text and "Family: Price R 399, Visits unlimited." in text
    assert not any(mark in text for mark in ("|", "**", "---", "_unlimited_"))
    assert plain(HOURS) == ("We are open Monday to Friday, 8:00 to 17:00, and closed on Sundays "
                            "(https://example.org/hours).")


def test_a_text_puts_the_passage_asked_about_first_and_stays_short():
    passages = [Passage("care.md", "Care > Hours", HOURS, 1.0), Passage("care.md", "Care > Prices", PRICES, 1.0)]
    long = [Passage("care.md", f"Care > Part {n}", "A sentence about something else entirely. " * 5, 1.0)
            for n in range(6)]
    text = details_text("Bright Paws", "opening hours", passages + long)
    assert text.startswith("Bright Paws opening hours: Hours: We are open Monday to Friday")
    assert len(text) <= SMS_CHARS + len(" Ask us for the rest by email.") and text.endswith("by email.")
    assert "|" not in text and "**" not in text


def test_an_email_has_plain_text_and_html_without_markdown():
    letter = document_email("Bright Paws", "prices", [Passage("prices.md", "Prices > Plans", PRICES, 1.0)])
    for body in (letter.text, letter.html):
        assert "Starter: Price R 249, Visits 2." in body and "**" not in body and "|:---" not in body


def test_a_timetable_with_no_full_stops_still_reaches_the_text():
    joined = ("ACME PRINT Ltd. Unit 4, Mill Lane, Kilkenny R95 X2Y2 OPENING HOURS Monday to Friday 8:00 - 18:00 "
              "Saturday 9:00 - 13:00 Sunday CLOSED Public holidays CLOSED PHONE answered around the clock by our "
              "voice assistant, staff on the phone Monday to Friday 8:00 - 18:00 and glad to call you back at a time "
              "of your choosing, any day of the week, whatever the weather")
    text = details_text("Acme Print", "opening hours", [Passage("hours.txt", "hours", joined, 1.0)])
    assert "Mill Lane" in text and "Monday to Friday 8:00 - 18:00" in text and text.endswith("by email.")
    assert len(text) <= SMS_CHARS + len(" Ask us for the rest by email.")


def test_a_price_list_text_names_each_item_and_its_price():
    from appliance.actions.compose import price_text

    text = price_text("Bright Paws", "prices", [("Starter", "R 249"), ("Family", "R 399")])
    assert text == "Bright Paws prices: Starter: R 249. Family: R 399."
    many = price_text("Bright Paws", "prices", [(f"Plan {n}", f"R {n}99 a month") for n in range(40)])
    assert len(many) <= SMS_CHARS + len(" Ask us for the rest by email.") and many.endswith("by email.")
