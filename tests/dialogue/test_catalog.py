"""The names a knowledge base uses come from its own headings, and are matched loosely against what is heard."""

import pytest

from appliance.dialogue.catalog import Catalog, offer_of, priced_items, title_of
from appliance.knowledge.index import Passage


def passage(source, heading):
    return Passage(source, heading, "text", 1.0)


GARDEN = Catalog.from_passages([
    passage("returns.md", "Greenleaf returns and refunds"),
    passage("range.md", "Greenleaf garden furniture range > Oak Bench: £349"),
    passage("range.md", "Greenleaf garden furniture range > Rattan Sofa Set: £1,249"),
    passage("care.md", "Greenleaf Care Plan > Gold membership: £12 a month"),
    passage("care.md", "Greenleaf Care Plan > Silver membership: £6 a month"),
    passage("delivery.md", "Delivery and installation (summary)"),
], "Greenleaf")


def test_titles_and_offers_come_from_the_headings():
    assert title_of("Greenleaf returns and refunds > Faulty items", "Greenleaf") == "returns and refunds"
    assert title_of("Delivery and installation (summary)", "Greenleaf") == "delivery and installation"
    assert offer_of("Care > Gold membership: £12 a month") == "Gold membership"
    assert offer_of("Care") is None
    assert [n.text for n in GARDEN.topics] == ["returns and refunds", "garden furniture range", "care plan",
                                               "delivery and installation"]


@pytest.mark.parametrize("heard, topic", [
    ("can you send me the refund rules", "returns and refunds"),
    ("email me your furniture catalogue", "garden furniture range"),
    ("text me the bit about installation", "delivery and installation"),
    ("what time is it", None),
])
def test_a_topic_is_found_by_its_distinctive_words(heard, topic):
    found = GARDEN.topic(heard)
    assert (found.text if found else None) == topic


@pytest.mark.parametrize("heard, offer", [
    ("what do I get with the gold one", "Gold membership"),
    ("I'd like the rattan sofa", "Rattan Sofa Set"),
    ("tell me about the silvr membership", "Silver membership"),  # a small misspelling still matches
    ("how much is a membership", None),  # a word every membership shares names none of them
])
def test_an_offer_is_found_by_its_own_words(heard, offer):
    found = GARDEN.offer(heard)
    assert (found.text if found else None) == offer


def test_the_speech_hint_names_what_the_knowledge_base_names():
    hint = GARDEN.hint()
    assert "Oak Bench" in hint and "care plan" in hint


def test_price_list_lines_with_dot_leaders_are_priced_rows():
    text = ("SERVICING\n  - Gas boiler service (combi or system boiler) .......... GBP 95\n"
            "  - Landlord safety certificate ....................... GBP 70\n  Most visits take an hour.")
    for written in (text, " ".join(text.split())):  # as a plain-text passage holds it, lines run together
        assert priced_items([Passage("s.txt", "servicing", written, 1.0)]) == [
            ("Gas boiler service", "GBP 95"), ("Landlord safety certificate", "GBP 70")]


def test_the_speech_hint_has_the_documents_own_names():
    text = ("DELIVERY ZONES\nWe deliver heating oil (kero) to Oughterard, Moycullen and Spiddal every week. "
            "Moycullen orders before noon go out the same day. Ask for Siobhán in the Oughterard yard.")
    hint = Catalog.from_passages([Passage("zones.txt", "zones", text, 1.0)], "Corrib").hint()
    assert {"Oughterard", "Moycullen", "Spiddal", "Siobhán", "kero"} <= set(hint.split(", "))
    assert "DELIVERY" not in hint and "Ask" not in hint


def test_an_offer_named_by_words_several_share_is_no_one_offer():
    fits = Catalog.from_passages([Passage("prices.txt", "Prices", "Tyre fit ...... $20\nChain fit ...... $20\n"
                                          "Bike fit ...... $180\nWheel true ...... $35", 1.0)], "Spoke")
    assert fits.sole_offer("How much is the fit, roughly?") is None
    assert fits.sole_offer("What's a wheel true cost?").text == "Wheel true"
    assert [name for name, *_ in fits.named_in("How much for a bike fit and a tyre fit?")] == ["Tyre fit", "Bike fit"]


def test_a_name_priced_differently_in_two_rows_is_no_one_price():
    rows = "Split type, 1.0 HP: Rate ₱1,200.\nSplit type, 2.0 HP: Rate ₱1,500."  # a table, as passages hold it
    rates = Catalog.from_passages([Passage("rates.md", "Rates", rows, 1.0)], "Lamig")
    assert "Split type" in rates.several_prices
    assert rates.named_in("How much to clean a split type?") == [] and rates.sole_offer("a split type?") is None


def test_the_first_row_of_a_passage_with_a_bullet_is_an_item_too():
    rows = priced_items([Passage("service.txt", "service > ANNUAL SERVICING",
                                 "- Oil boiler service (kitchen or utility) ...... EUR 140\n"
                                 "- Boiler + tank health check ............. EUR 175", 1.0)])
    assert rows == [("Oil boiler service", "EUR 140"), ("Boiler + tank health check", "EUR 175")]


def test_of_offers_named_by_as_many_words_the_one_said_more_wholly_is_meant():
    binding = Catalog.from_passages([Passage("thesis.txt", "thesis", "- Hardcover binding: 390 Kč per copy.\n"
                                             "- Soft binding: 120 Kč per copy.\n- Printing of the thesis: 2 Kč per page.", 1.0)],
                                    "Lipka")
    assert binding.sole_offer("I need to bind my thesis, hardcover. How much is it?").text == "Hardcover binding"
    rates = Catalog.from_passages([Passage("rates.md", "rates", "- Check-up / diagnostic fee: ₱500.\n"
                                           "- Freon recharge: ₱2,200.", 1.0)], "Lamig")
    assert rates.sole_offer("How much do you charge just to check it?").text == "Check-up / diagnostic fee"


@pytest.mark.parametrize("heading, company, title", [
    ("Kilimani Paws — Price List > Vaccines", "Kilimani Paws Veterinary Clinic", "price list"),  # the name shortened
    ("ACME TRADING SDN. BHD. > Price List — effective 1 December 2026 > C. Plans", "Acme Trading", "price list"),
    ("ACME TRADING LTD > Returns", "Acme Trading", "returns"),  # only the name and its legal form: the next one
    ("Tern Rock Lobster Co. — Contact & Ordering", "Tern Rock Lobster Co.", "contact & ordering"),  # not "co. — ..."
])
def test_a_documents_title_is_what_it_is_about_not_who_wrote_it(heading, company, title):
    assert title_of(heading, company) == title


def test_a_rows_name_with_initials_is_its_whole_name_and_a_name_of_common_words_is_none():
    rows = "Quebec: Shipping $45.00.\nAlberta, B.C. (major cities only): Shipping $69.00.\nThe: Shipping $5.00."  # a table
    catalog = Catalog.from_passages([Passage("prices.md", "Prices > Shipping", rows, 1.0)], "Tern")
    assert [(name.text, catalog.prices[name.text]) for name in catalog.offers] == [("Quebec", "$45.00"),
                                                                                ("Alberta", "$69.00")]
    assert catalog.sole_offer("How much is shipping to Quebec?").text == "Quebec"
    assert catalog.sole_offer("How much is the lobster?") is None  # before: "B.C." left a name of no words


def test_list_items_that_end_in_a_price_after_a_dash_are_priced_rows():
    text = ("Every box comes in a cooler.\n- Kitchen Party for 2 — 2 markets (1¼ lb), 1 lb mussels — $119.00\n"
            "- Whole cooked lobster, frozen in brine, approx. 1 lb — $24.95 each\n- Bibs - pack of 10 - $6.99\n"
            "- Delivery — next day, no charge\n")
    assert priced_items([Passage("prices.md", "Prices > Gift boxes", text, 1.0)]) == [
        ("Kitchen Party for 2", "$119.00"), ("Whole cooked lobster", "$24.95"), ("Bibs", "$6.99")]


def test_a_section_of_priced_rows_cut_in_two_is_no_item_of_its_own():
    heading = "Price list > Products > C. Rental plans (Pelan Sewa)"
    first = Passage("prices.md", heading, "Plan Jimat: Monthly RM 49 / month.\nPlan Keluarga: Monthly RM 89 / month.", 1.0)
    rest = Passage("prices.md", heading, "After 60 months the unit is yours; service visits are RM 40 per visit.", 1.0)
    assert [name for name, _ in priced_items([first, rest])] == ["Plan Jimat", "Plan Keluarga"]
