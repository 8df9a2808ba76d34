"""The reply model's words are checked against the passages before a caller hears them."""

import pytest

from appliance.dialogue.grounding import CONFIRM, Grounded, extractive, numbers, says_nothing_new, speakable
from appliance.knowledge.index import Passage

RETURNS = Passage("returns.txt", "Returns", "You can return a bike within 21 days of delivery. A restocking fee of 15% "
                  "applies to opened boxes. Refunds reach your card in 5 to 7 working days.", 1.0)
HOURS = Passage("hours.txt", "Store hours", "Monday to Friday 8:30 to 17:30, Saturday 9:00 to 16:00. "
                "We are closed on Sundays and public holidays.", 1.0)
PRICES = Passage("prices.md", "Prices > Plans", "| Plan | Price |\n|---|---|\n| **Basic** | $1,299.00 |\n", 1.0)


def check(answer: str, passages=(RETURNS, HOURS), heard: str = "What is your returns policy?") -> Grounded:
    heard_out = []
    grounded = Grounded(list(passages), heard, heard_out.append)
    for piece in answer.split(" "):  # streamed a word at a time, as the model does
        grounded.push(piece + " ")
    grounded.finish()
    assert "".join(heard_out).strip() == grounded.text
    return grounded


def test_numbers_are_read_in_every_form():
    assert {"1299", "21", "15", "30", "45"} <= numbers("$1,299.00 within 21 days, 15%, thirty or forty-five")


def test_an_answer_from_the_passages_is_said_whole():
    grounded = check("You can return a bike within 21 days of delivery. Refunds take 5 to 7 working days.")
    assert not grounded.failed and grounded.text.endswith("5 to 7 working days.") and not grounded.dropped


def test_a_number_the_passages_do_not_hold_stops_the_answer_there():
    grounded = check("Sure. You can return it within 30 days for a full refund. There is no fee.")
    assert grounded.failed and grounded.text == "Sure."
    assert "30" in grounded.dropped[0][1]


def test_a_price_said_as_written_in_the_table_holds():
    grounded = check("The Basic plan costs $1,299.", passages=(PRICES,), heard="How much is Basic?")
    assert not grounded.failed and "1,299" in grounded.text


def test_open_on_a_day_the_passages_say_closed_is_caught():
    assert check("Yes, we are open on Sundays from 10.", heard="Are you open on Sunday?").failed
    assert not check("No, we are closed on Sundays.", heard="Are you open on Sunday?").failed
    assert check("We are open on Wednesdays.", passages=(RETURNS,), heard="When are you open?").failed


def test_instructions_input_and_echoes_are_dropped_not_said():
    grounded = check("You will connect the caller with a specialist. Please provide the passage. "
                     "What is your returns policy? Returns are accepted within 21 days.")
    assert grounded.text == "Returns are accepted within 21 days." and not grounded.failed
    assert len(grounded.dropped) == 3


def test_the_fallback_is_the_passages_own_sentence(embedder):
    quoted = extractive("How long do I have to return a bike?", [RETURNS, HOURS], embedder.embed)
    assert quoted is not None and "21 days" in quoted
    assert extractive("Do you sell garden gnomes?", [PRICES], embedder.embed) in (None, "Basic: Price $1,299.00.")
    assert CONFIRM.endswith("?")


def test_thousands_grouped_by_spaces_are_one_number():
    assert numbers("Home Hybrid 8: R164 500, or R3 490 a month") == {"164500", "3490", "8"}
    rent = Passage("rent.md", "Rent to own", "The Rent-to-own package costs R3 490 per month over 60 months.", 1.0)
    assert check("It costs 3 dollars per month.", passages=(rent,), heard="What does rent to own cost?").failed
    assert not check("It costs R3 490 per month.", passages=(rent,), heard="What does rent to own cost?").failed


def test_hours_written_as_a_timetable_are_read_as_one():
    table = Passage("hours.txt", "Showroom hours", "Monday - Friday ..... 08:00 - 17:00 Saturday ............. "
                    "08:00 - 13:00 Sunday ............... CLOSED. 10-year warranty on 2 inverters.", 1.0)
    assert check("Yes, on Sunday we are open.", passages=(table,), heard="Are you open on Sunday?").failed
    late = check("On Saturday we are open from 10 AM to 2 PM.", passages=(table,), heard="When are you open Saturday?")
    assert late.failed  # 10 and 2 are in the passage, but not as times (and the prompt's example has them)
    later = check("Saturday hours run 2 PM till 5 PM.", passages=(table,), heard="When are you open Saturday?")
    assert later.failed and "time" in later.dropped[0][1]  # a 2 and a 5 (17:00) are in the passage, 2 PM is not
    assert not check("On Saturday we are open from 8 AM to 1 PM.", passages=(table,), heard="Saturday hours?").failed


def test_a_fact_about_specialists_is_no_offer_of_one():
    fitters = Passage("install.md", "Installation", "Our specialists install every system within 7 days.", 1.0)
    kept = check("Our specialists install every system within 7 days.", passages=(fitters,), heard="How soon?")
    assert kept.text == "Our specialists install every system within 7 days."
    dropped = check("I will connect you with one of our specialists.", passages=(fitters,), heard="How soon?")
    assert dropped.text == "" and not dropped.failed


def test_the_models_own_instructions_said_back_are_dropped():
    grounded = check("Never make up facts, prices or order details. Returns are accepted within 21 days.")
    assert grounded.text == "Returns are accepted within 21 days." and not grounded.failed


def test_a_price_said_of_the_wrong_thing_is_held_back():
    binding = Passage("prices.txt", "Price list > Binding", "Soft binding: 95 Kč per copy. Hard binding: 420 Kč per "
                      "copy. Spiral binding: 60 Kč per copy.", 1.0)
    grounded = check("Hard binding costs 95 Kč per copy.", (binding,), "How much is hard binding?")
    assert grounded.failed and not grounded.text
    grounded = check("Hard binding costs 420 Kč per copy, and spiral binding is 60 Kč.", (binding,),
                     "How much is hard binding?")
    assert not grounded.failed and "420" in grounded.text


def test_an_offer_the_passages_never_mention_is_held_back():
    grounded = check("Yes, we do the gas bottles as well.", (RETURNS, HOURS), "Do you do gas bottles too?")
    assert grounded.failed and not grounded.text
    grounded = check("Yes, we offer refunds to your card.", (RETURNS, HOURS), "Do you offer refunds?")
    assert not grounded.failed and grounded.text


def test_an_offer_the_passages_deny_is_held_back():
    shop = Passage("about.txt", "About", "We deliver heating oil and service boilers. We do not sell bottled gas.", 1.0)
    grounded = check("Yes, we do sell gas bottles as well.", (shop,), "Do you do the gas bottles?")
    assert grounded.failed and not grounded.text
    assert not check("Yes, we service boilers.", (shop,), "Do you service boilers?").failed


def test_no_charge_where_the_passages_name_a_fee_is_held_back():
    terms = Passage("terms.txt", "Terms", "Cancel free of charge until 5pm the day before delivery. After that a "
                    "cancellation fee of €45 applies.", 1.0)
    grounded = check("No charge if you cancel.", (terms,), "Is there a charge if I cancel?")
    assert grounded.failed and not grounded.text
    assert not check("Tyres are fitted at no extra charge.", (RETURNS,), "Do you fit tyres?").failed


@pytest.mark.parametrize("line, said", [
    ("- Free parking behind the building.", "Free parking behind the building."),
    ("3.1 Unopened food can be returned within 7 days.", "Unopened food can be returned within 7 days."),
    ("RETURNS AND EXCHANGES 3.1 Unopened food can be returned within 7 days.",
     "Unopened food can be returned within 7 days."),
    ("Oil boiler service ............ EUR 140", "Oil boiler service: EUR 140"),
    ("Q: Do you deliver? A: Yes, within 20 km.", "Yes, within 20 km."),
    ("A: Yes, within 20 km.", "Yes, within 20 km."),
    ("We are open 7 days a week.", "We are open 7 days a week."),
])
def test_a_document_line_is_made_speakable(line, said):
    assert speakable(line) == said


TANKS = Passage("tanks.txt", "Tanks", "OIL TANKS - SUPPLY AND FIT\n1,350 litre bunded tank ...... €1,195\n"
                "2,500 litre bunded tank ...... €1,690\nWe take the old tank away, and the oil in it moves\n"
                "to the new one for free.\nA site survey takes about an hour.", 1.0)


def test_a_number_the_passages_hold_but_not_as_money_is_no_price():
    grounded = check("A new tank costs 1350 euros.", [TANKS], "How much is a new tank?")
    assert grounded.failed and grounded.text == ""
    assert not check("The 1,350 litre tank costs €1,195.", [TANKS], "How much is a new tank?").failed


def test_a_price_question_is_answered_with_the_rows_that_name_prices(embedder):
    quoted = extractive("Roughly how much is a new tank for a house?", [TANKS], embedder.embed, priced=True)
    assert "€1,195" in quoted and "€1,690" in quoted and "survey" not in quoted


def test_a_clause_in_a_script_nobody_used_stops_the_answer():
    grounded = check("You can return a bike within 21 days. If it locks出 again, call us.")
    assert grounded.text == "You can return a bike within 21 days." and grounded.failed


FAQ = Passage("faq.md", "Questions > Boilers", "My boiler won't start after I ran out of oil. What do I do?\n"
              "After your delivery, wait 30 minutes and then press the red reset button once.\n"
              "Who services boilers?\nOur OFTEC-registered technicians, Monday to Friday.", 1.0)


def test_a_question_on_a_line_of_its_own_is_never_the_answer(embedder):
    quoted = extractive("The boiler cut out and a red light is flashing", [FAQ], embedder.embed, sections=False)
    assert quoted.startswith("After your delivery, wait 30 minutes") and "won't start" not in quoted


def test_a_refusal_in_the_models_words_is_no_answer():
    grounded = check("I'm sorry, but I can't assist with that.")
    assert grounded.text == "" and grounded.failed


@pytest.mark.parametrize("answer, heard, nothing", [
    ("Yes, there is an app for your phone.", "Is there an app for my phone?", True),
    ("Yes, we do.", "Do you deliver on Saturdays?", True),
    ("Yes, on iOS and Android.", "Is there an app for my phone?", False),
    ("We deliver on Saturdays until noon.", "Do you deliver on Saturdays?", False),
])
def test_an_answer_with_no_words_of_its_own_says_nothing_new(answer, heard, nothing):
    assert says_nothing_new(answer, heard) is nothing


def test_the_callers_short_words_said_back_and_asking_for_context_are_no_answer():
    grounded = check("Okay noted. Terima kasih ya!", heard="Okay noted. Terima kasih ya!")
    assert grounded.text == "" and len(grounded.dropped) == 2
    grounded = check("I'm sorry, but I don't have enough information to answer. Could you provide more context?")
    assert grounded.text == "" and grounded.failed


def test_a_line_ending_in_a_colon_joins_what_follows_unless_a_list_follows():
    from appliance.dialogue.grounding import _unwrapped

    assert _unwrapped("- Less than 24 hours' notice, or nobody at home:\n  RM 50.00 call-out charge.") == [
        "- Less than 24 hours' notice, or nobody at home: RM 50.00 call-out charge."]
    assert _unwrapped("Every plan includes:\n- Free delivery\n- A visit every 4 months") == [
        "Every plan includes:", "- Free delivery", "- A visit every 4 months"]


POINTS = Passage("faq.md", "FAQ > Where are your service points?",
                 "Warszawa: ul. Marszałkowska 84/92, open until 18:00. Kraków: ul. Długa 14, open until 17:00. "
                 "Our registered office is Skrytka Sp. z o.o., al. Jana Pawła II 12, 00-001 Warszawa.", 1.0)


def test_an_address_written_with_short_forms_is_one_sentence(embedder):
    quoted = extractive("Where is your service point in Kraków?", [POINTS], embedder.embed, most=1)
    assert quoted == "Kraków: ul. Długa 14, open until 17:00."
    office = extractive("What is your registered office address?", [POINTS], embedder.embed, most=1)
    assert office == "Our registered office is Skrytka Sp. z o.o., al. Jana Pawła II 12, 00-001 Warszawa."


@pytest.mark.parametrize("answer, said", [
    ("No refrigerated delivery or cold lockers are available in Gdansk.", False),  # the passages say nothing of it
    ("We don't offer gift wrapping.", False),
    ("There is no restocking fee on unopened boxes.", True),  # the passages do speak of a restocking fee
    ("No, we are closed on Sundays.", True),
    ("No problem. You can return a bike within 21 days of delivery.", True),
])
def test_a_denial_of_something_the_passages_never_mention_is_not_said(answer, said):
    grounded = check(answer, heard="Do you have that?")
    assert (not grounded.failed) == said, grounded.dropped


@pytest.mark.parametrize("promise", [
    "I can book a courier pick-up for you tomorrow.",
    "I'll email you the returns form right away.",
    "Let me arrange a refund to your card.",
])
def test_the_model_promising_to_act_itself_is_held_back_and_the_facts_are_said(promise):
    grounded = check(f"You can return a bike within 21 days of delivery. {promise}")
    assert grounded.text == "You can return a bike within 21 days of delivery."
    assert grounded.dropped and "promises" in grounded.dropped[0][1] and not grounded.failed


def test_what_the_company_does_in_the_passages_is_no_promise():
    grounded = check("Refunds reach your card in 5 to 7 working days. I can tell you the fee is 15%.")
    assert not grounded.dropped


CLAIMS = Passage("guarantee.md", "Live arrival guarantee", "A live lobster curls its tail.\n\n"
                 "**If any lobsters arrive dead:**\n\n1. Let us know **within 24 hours of delivery** by phone or email.\n"
                 "2. Give us your order number and send a photo of the open box.\n"
                 "3. Don't cook or throw out the dead lobsters until we've seen the photos.\n", 1.0)


def test_a_line_that_introduces_a_list_is_said_with_its_first_item(embedder):
    quoted = extractive("What happens if the lobsters show up dead? Is there a guarantee?", [CLAIMS], embedder.embed)
    assert "If any lobsters arrive dead: Let us know within 24 hours of delivery by phone or email." in quoted
    assert ":." not in quoted and not quoted.endswith(":")


def test_a_quote_is_known_by_the_passage_it_came_from(embedder):
    gifts = Passage("corporate.md", "Corporate gifts", "Ask our sales team for a quote for your office.", 0.6)  # found first
    guide = Passage("cooking.md", "Cooking guide", "How long?\nBoil a **1½ lb** lobster for 15 to 16 minutes.", 0.5)
    from appliance.dialogue.grounding import quoted_from

    quoted = extractive("How long do I boil a pound and a half lobster?", [gifts, guide], embedder.embed)
    assert "15 to 16 minutes" in quoted and quoted_from(quoted, [gifts, guide]) is guide
    assert quoted_from("Nothing like any of them.", [gifts, guide]) is gifts
