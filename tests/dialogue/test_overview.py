"""Questions about a whole list ("what are your plans?") are answered from the document's headings, in code."""

from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from appliance.dialogue.conversation import Conversation, spoken_dates, spoken_money, spoken_short_forms
from appliance.knowledge.index import KnowledgeIndex


def knowledge_folder(tmp_path, documents: dict):
    """A knowledge folder holding `documents` (file name: text)."""
    folder = tmp_path / "knowledge"
    folder.mkdir()
    for name, text in documents.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@contextmanager
def answering(embedder, tmp_path, name: str, text: str, timezone: str):
    """A conversation over a knowledge base of one document, `name` holding `text`, with no reply model."""
    folder = knowledge_folder(tmp_path, {name: text})
    with KnowledgeIndex(tmp_path / "index.db", embedder) as index:
        index.ingest(folder)
        yield Conversation("Acme", index, None, lambda: datetime(2026, 12, 7, tzinfo=ZoneInfo(timezone)))


def test_the_plans_are_listed_with_their_prices(index):
    conversation = Conversation("TechCorp", index, None, lambda: datetime(2025, 10, 5, tzinfo=ZoneInfo("Asia/Kolkata")))
    spoken = []
    turn = conversation.reply("What are your pricing plans?", on_text=spoken.append)
    text = turn.reply.immediate_response
    assert turn.reply.used_knowledge and turn.reply.intent == "product_query"
    for words in ("three plans", "Basic plan: 999 rupees", "Professional plan: 2999 rupees", "Enterprise plan"):
        assert words in text
    assert "".join(spoken).strip() == text and conversation.state.topic == "pricing plans"


@pytest.mark.parametrize("written, words, spoken", [
    ("Basic: ₹999, Pro: ₹ 2,999.50", "", "Basic: 999 rupees, Pro: 2999 rupees 50"),
    ("The TechBook is ₹1,09,990.", "", "The TechBook is 109990 rupees."),  # Indian digit grouping
    ("Oak bench: £349, seat pad £39.99", "", "Oak bench: 349 pounds, seat pad 39 pounds 99"),
    ("Only $12 a month", "Australian dollars", "Only 12 Australian dollars a month"),
    ("Room 42 costs nothing", "", "Room 42 costs nothing"),
    ("Office: 1 190 Kč, Studio: 2 890 CZK", "", "Office: 1190 crowns, Studio: 2890 crowns"),  # grouped by spaces
    ("Biznes PLUS: 49 zł net per month", "", "Biznes PLUS: 49 zloty net per month"),  # not "49 z l"
    ("Plan Jimat: RM 49 / month, set: RM 1,880.00", "", "Plan Jimat: 49 ringgit / month, set: 1880 ringgit"),
    ("KSh 1,500 or GH₵ 40 or Rp 150000", "", "1500 shillings or 40 cedis or 150000 rupiah"),
    ("FORM 3 and RMB", "", "FORM 3 and RMB"),  # letters that are no sign before a number
])
def test_amounts_are_said_in_the_companys_currency(written, words, spoken):
    assert spoken_money(written, words) == spoken


@pytest.mark.parametrize("heard, topic", [
    ("Please email me the refund policy", "refund policy"),
    ("Can you send me the details on SMS?", None),  # nothing fits clearly better: the caller is asked
])
def test_what_to_send_is_the_clearly_best_document_or_nothing(index, heard, topic):
    conversation = Conversation("TechCorp", index, None, lambda: datetime(2025, 10, 5, tzinfo=ZoneInfo("Asia/Kolkata")))
    conversation._find_topic(heard)
    assert conversation.state.topic == topic


def test_an_offer_named_in_the_question_finds_its_passage(index):
    from appliance.llm import ReplyResult
    from appliance.llm.reply import Answer

    class Recording:
        def respond(self, messages, on_text=None):
            self.messages = messages
            return ReplyResult(Answer("It has 500 GB of storage.", True, False), "", 1.0, 1.0, 1.0, 10)

    model = Recording()
    conversation = Conversation("TechCorp", index, model, lambda: datetime(2025, 10, 5, tzinfo=ZoneInfo("Asia/Kolkata")))
    turn = conversation.reply("And what comes with the Professional option?")
    assert turn.reply.used_knowledge and turn.passages[0].heading.endswith("Professional plan: ₹2,999 per month")


@pytest.mark.parametrize("heard", ["How much do your plans cost?", "Can you tell me about your pricing options?",
                                   "Which plans do you offer, and what do they cost?"])
def test_the_list_is_said_however_it_is_asked_for(index, heard):
    conversation = Conversation("TechCorp", index, None, lambda: datetime(2025, 10, 5, tzinfo=ZoneInfo("Asia/Kolkata")))
    text = conversation.reply(heard).reply.immediate_response
    assert "999" in text and "2999" in text and "Enterprise plan" in text


def test_a_document_named_in_the_question_is_still_found_by_the_question_alone(index):
    from appliance.llm import ReplyResult
    from appliance.llm.reply import Answer

    class Model:
        def respond(self, messages, on_text=None):
            return ReplyResult(Answer("Yes, on Android and iOS.", True, False), "", 1.0, 1.0, 1.0, 10)

    conversation = Conversation("TechCorp", index, Model(), lambda: datetime(2025, 10, 5, tzinfo=ZoneInfo("Asia/Kolkata")))
    turn = conversation.reply("Also, do you have a mobile app?")
    assert turn.passages and turn.passages[0].source == "mobile-app.md"


def test_the_list_is_read_from_a_table_and_headings_without_prices_are_no_offers(embedder, tmp_path):
    from appliance.dialogue.catalog import Catalog, priced_items
    from appliance.knowledge.index import KnowledgeIndex

    folder = tmp_path / "knowledge"
    folder.mkdir()
    (folder / "memberships.md").write_text(
        "# Memberships at Kettle Hill Pool\n\nChoose the membership that suits you.\n\n"
        "## How to join\n\nSign up at the front desk with photo ID.\n\n"
        "## Prices\n\n| Membership | Monthly fee | Swims |\n|---|---|---|\n| **Splash** | CHF 39 | 8 a month |\n"
        "| Lane Plus | CHF 69 | unlimited |\n| Family | CHF 119 | unlimited, 4 people |\n\n"
        "## After you cancel\n\nYour card works until the end of the month.\n")
    with KnowledgeIndex(tmp_path / "index.db", embedder) as index:
        index.ingest(folder)
        passages = index.document("memberships.md")
        assert priced_items(passages) == [("Splash", "CHF 39"), ("Lane Plus", "CHF 69"), ("Family", "CHF 119")]
        catalog = Catalog.from_passages(index.passages(), "Kettle Hill Pool")
        assert {name.text for name in catalog.offers} == {"Splash", "Lane Plus", "Family"}  # not "After you cancel"
        conversation = Conversation("Kettle Hill Pool", index, None,
                                    lambda: datetime(2025, 10, 5, tzinfo=ZoneInfo("Europe/Zurich")))
        text = conversation.reply("What memberships do you have and what do they cost?").reply.immediate_response
        assert "Splash: CHF 39." in text and "Family: CHF 119." in text and "How to join" not in text


def test_the_list_comes_from_the_document_named_for_it(embedder, tmp_path):
    from appliance.knowledge.index import KnowledgeIndex

    folder = tmp_path / "knowledge"
    folder.mkdir()
    (folder / "delivery.md").write_text("# Delivery\n\n## Zones\n\nCity: $0. Suburbs: $15. Rural: $40.\n\n"
                                        "## Tracking\n\nEvery parcel has a tracking number.\n")
    (folder / "service-plans.md").write_text("# Service plans\n\nThree plans keep your bike running.\n\n"
                                             "## Basic: $12.90 a month\n\nOne check a year.\n\n"
                                             "## Plus: $24.90 a month\n\nTwo checks a year.\n\n"
                                             "## Total: $44.90 a month\n\nUnlimited checks.\n")
    with KnowledgeIndex(tmp_path / "index.db", embedder) as index:
        index.ingest(folder)
        conversation = Conversation("Spoke & Co", index, None,
                                    lambda: datetime(2025, 10, 5, tzinfo=ZoneInfo("Pacific/Auckland")))
        text = conversation.reply("So what plans have you got, and how much are they?").reply.immediate_response
        assert "Basic: 12 dollars 90 a month" in text and "Total: 44 dollars 90 a month" in text
        assert "Plus" in text and "Total" in text and "Zones" not in text and "Tracking" not in text


@pytest.mark.parametrize("heard, said", [
    ("How much is the Professional plan?", "Professional plan costs 2999 rupees per month."),
    ("Hi, what does the basic one cost?", "Basic plan costs 999 rupees per month."),
    ("How much are the Basic plan and the Professional plan?",
     "Basic plan: 999 rupees per month. Professional plan: 2999 rupees per month."),
])
def test_the_price_of_one_thing_named_is_read_in_code(index, heard, said):
    conversation = Conversation("TechCorp", index, None, lambda: datetime(2025, 10, 5, tzinfo=ZoneInfo("Asia/Kolkata")))
    turn = conversation.reply(heard)  # no reply model here: the answer cannot come from one
    assert turn.reply.immediate_response == said and turn.reply.used_knowledge


def test_a_price_question_about_something_else_too_is_left_to_the_model(index):
    conversation = Conversation("TechCorp", index, None, lambda: datetime(2025, 10, 5, tzinfo=ZoneInfo("Asia/Kolkata")))
    assert conversation._price_of("How much is installation for the Professional plan in a remote area?") is None


def test_the_middle_one_of_a_list_just_said_is_the_one_asked_about(index):
    conversation = Conversation("TechCorp", index, None, lambda: datetime(2025, 10, 5, tzinfo=ZoneInfo("Asia/Kolkata")))
    conversation.reply("What are your pricing plans?")
    assert conversation._listed_item("What do you get with the middle one?").text == "Professional plan"
    assert conversation._listed_item("And the last option?").text == "Enterprise plan"
    assert conversation._listed_item("Is the first month free?") is None


def test_a_check_of_who_answered_is_answered_and_the_question_too(index):
    conversation = Conversation("TechCorp", index, None, lambda: datetime(2025, 10, 5, tzinfo=ZoneInfo("Asia/Kolkata")))
    turn = conversation.reply("Hello, is that TechCorp? How much is the Professional plan?")
    assert turn.reply.immediate_response == "Yes, this is TechCorp. Professional plan costs 2999 rupees per month."


@pytest.mark.parametrize("written, month_first, spoken", [
    ("we close on Wednesday 24/12/2025 and reopen on 06/01", False, "we close on Wednesday 24 December and reopen on 6 January"),
    ("closed 12/24/2025", False, "closed 24 December"),  # only the second number can be the day
    ("closed on 07/04", True, "closed on 4 July"),
    ("a 50/50 split, 3/4 full, open 9/5", False, "a 50/50 split, 3/4 full, open 9/5"),  # no date
])
def test_dates_in_figures_are_said_as_dates(written, month_first, spoken):
    assert spoken_dates(written, month_first) == spoken


def test_a_follow_up_about_another_day_is_a_question_about_hours_too(embedder, tmp_path):
    from appliance.knowledge.index import KnowledgeIndex

    folder = tmp_path / "knowledge"
    folder.mkdir()
    (folder / "hours.txt").write_text("OPENING HOURS\nMonday to Saturday ....... 8:00 AM to 6:00 PM\n"
                                      "Sunday ................... CLOSED\n")
    with KnowledgeIndex(tmp_path / "index.db", embedder) as index:
        index.ingest(folder)
        conversation = Conversation("Lamig", index, None, lambda: datetime(2025, 10, 6, 9, tzinfo=ZoneInfo("Asia/Manila")))
        first = conversation.reply("Are you open on Sunday?").reply.immediate_response
        follow = conversation.reply("And how about Saturday?").reply.immediate_response
    assert first.startswith("On Sunday") and follow == "On Saturdays we're open from 8 AM to 6 PM.", (first, follow)


@pytest.mark.parametrize("heard", ["What do I get with the Professional plan?", "What's included in the professional one?",
                                   "Tell me more about what the Professional plan includes."])
def test_what_one_offer_includes_is_its_whole_section(index, heard):
    conversation = Conversation("TechCorp", index, None, lambda: datetime(2025, 10, 5, tzinfo=ZoneInfo("Asia/Kolkata")))
    text = conversation.reply(heard).reply.immediate_response  # no model: a model call would fail
    assert text.startswith("Professional plan: 2999 rupees per month.")
    for item in ("up to 50 users", "500 GB storage", "priority support", "full API access", "custom integrations"):
        assert item in text
    assert "Basic" not in text and "Enterprise" not in text


def test_an_answer_that_only_says_the_question_back_gets_the_documents_sentence(index):
    from appliance.llm import ReplyResult
    from appliance.llm.reply import Answer

    class Model:
        def respond(self, messages, on_text=None):
            on_text and on_text("Yes, there is an app for your phone.")
            return ReplyResult(Answer("Yes, there is an app for your phone.", True, False), "", 1.0, 1.0, 1.0, 10)

    conversation = Conversation("TechCorp", index, Model(), lambda: datetime(2025, 10, 5, tzinfo=ZoneInfo("Asia/Kolkata")))
    text = conversation.reply("Oh, and is there an app for my phone?").reply.immediate_response
    assert text.startswith("Yes, there is an app for your phone.") and "Android" in text


@pytest.mark.parametrize("written, spoken", [
    ("It should reach you Sat 12 December, 9am-12pm slot.", "It should reach you Saturday 12 December, 9 AM to 12 PM slot."),
    ("missed the sat 5 December slot", "missed the Saturday 5 December slot"),
    ("Plan Jimat: 49 ringgit / month.", "Plan Jimat: 49 ringgit a month."),
    ("Jumbos: Price 19 dollars 95/lb, mussels 3 euros / kg", "Jumbos: Price 19 dollars 95 a pound, mussels 3 euros a kilo"),
    ("sun 5 hours, 3/4 full, 15 / metre", "sun 5 hours, 3/4 full, 15 / metre"),  # no date after it, no time unit
])
def test_short_forms_are_said_in_full(written, spoken):
    assert spoken_short_forms(written) == spoken


def test_a_list_asked_for_by_a_sections_name_is_that_sections(embedder, tmp_path):
    document = (
        "# Price list\n\n## A. Outright purchase\n\n| Model | Price |\n|---|---|\n| Filter U4 | RM 1,150.00 |\n"
        "| Dispenser HC-9 | RM 2,390.00 |\n\n## C. Rental plans\n\n| Plan | Monthly rental |\n|---|---|\n"
        "| Plan Jimat | RM 49 / month |\n| Plan Keluarga | RM 89 / month |\n")
    with answering(embedder, tmp_path, "prices.md", document, "Asia/Kuala_Lumpur") as conversation:
        text = conversation.reply("Your water filter rental, what plans you all got and how much per month?"
                                  ).reply.immediate_response
    assert "Plan Jimat: 49 ringgit a month" in text and "Plan Keluarga: 89 ringgit a month" in text
    assert "1150" not in text and "2390" not in text


def test_a_price_list_section_named_in_the_question_is_said_whole(embedder, tmp_path):
    document = (
        "# Price list\n\n## A. Units\n\n| Model | Price |\n|---|---|\n| Filter U4 | RM 1,150.00 |\n"
        "| Dispenser HC-9 | RM 2,390.00 |\n\n## B. Replacement cartridges (katrij ganti)\n\n| Item | Price |\n"
        "|---|---|\n| U4 cartridge set | RM 160.00 |\n| HC-9 cartridge set | RM 180.00 |\n")
    with answering(embedder, tmp_path, "prices.md", document, "Asia/Kuala_Lumpur") as conversation:
        text = conversation.reply("Hi, can tell me the price for the replacement cartridges?").reply.immediate_response
        assert "U4 cartridge set: 160 ringgit" in text and "HC-9 cartridge set: 180 ringgit" in text
        assert "1150" not in text
        text = conversation.reply("How much is the U4 cartridge set?").reply.immediate_response
        assert "160" in text and "180" not in text  # one thing named in full: its own price


def test_a_fault_gets_the_advice_of_the_section_headed_by_its_word(embedder, tmp_path):
    document = (
        "WARRANTY AND RETURNS\n\n1. WARRANTY PERIODS\n   Filter U4 .......... 2 years\n\n4. LEAKS\n"
        "   - Close the inlet valve first (the angle valve under the\n     sink), then call us.\n"
        "   - Water damage to cabinets is assessed case by case.\n")
    with answering(embedder, tmp_path, "warranty.txt", document, "Asia/Kuala_Lumpur") as conversation:
        text = conversation.reply("Your filter is leaking! Water all over my kitchen cabinet, what kind of quality "
                                  "is this?").reply.immediate_response
    assert "Close the inlet valve first (the angle valve under the sink), then call us." in text


def test_a_document_about_plans_is_listed_whole_whatever_its_sections_say(embedder, tmp_path):
    document = (
        "# Acme Care Plans\n\nKeep your bike running.\n\n## Spin: $12.90 a month\n\nOne service a year.\n\n"
        "## Cruise: $24.90 a month\n\nTwo services a year.\n\n## No plan? Workshop prices\n\n"
        "- Full service: $189\n- Puncture repair: $35\n")
    with answering(embedder, tmp_path, "care.md", document, "Pacific/Auckland") as conversation:
        text = conversation.reply("What service plans do you have, and what do they cost?").reply.immediate_response
    assert "Spin: 12 dollars 90 a month" in text and "Cruise: 24 dollars 90 a month" in text


@pytest.mark.parametrize("heard, fits", [
    ("Okay, can you send me the full policy on email?", True),
    ("Great, please send the complete details to my email.", True),  # names nothing but the details
    ("Sure, the number is 98765 43210.", True),
    ("Kindly send me those laptop prices on my email.", False),  # another document's things
])
def test_a_request_to_send_keeps_the_document_talked_about_unless_it_names_another(index, heard, fits):
    conversation = Conversation("TechCorp", index, None, lambda: datetime(2025, 10, 5, tzinfo=ZoneInfo("Asia/Kolkata")))
    conversation.state.topic = "refund policy"
    assert conversation._fits_topic(heard) is fits


def test_a_subject_the_documents_never_mention_is_offered_to_someone_who_knows(index):
    from appliance.dialogue.grounding import CONFIRM
    from appliance.llm import ReplyResult
    from appliance.llm.reply import Answer

    class Model:  # the small model's denial of something nobody wrote about, as it said one in a blind set
        def respond(self, messages, on_text=None):
            on_text("No refrigerated shipping is available for laptops.")
            return ReplyResult(Answer("No refrigerated shipping is available for laptops.", True, False), "", 1.0,
                               1.0, 1.0, 10)

    conversation = Conversation("TechCorp", index, Model(), lambda: datetime(2025, 10, 5, tzinfo=ZoneInfo("Asia/Kolkata")))
    reply = conversation.reply("Can my laptop be shipped in a refrigerated van?").reply
    assert reply.immediate_response == CONFIRM and reply.escalate_to_human and not reply.used_knowledge


def test_a_question_after_what_the_caller_says_of_themselves_is_searched_on_its_own(embedder, tmp_path):
    folder = knowledge_folder(tmp_path, {
        "plans.md": "# Firemní účty – monthly print plans for companies\n\nOffices and studios print with us on a "
                    "monthly plan instead of paying per job.\n\n| Plan | Monthly fee |\n|---|---|\n| Start | 390 Kč |\n"
                    "| Office | 1190 Kč |\n| Studio | 2890 Kč |\n",
        "hours.md": "# Otevírací doba\n\nMonday to Friday 8:00 - 18:00. Sunday closed.\n"})
    heard = "Hi, we are a small real estate office, eight people. What plans do you have for companies and what do they cost?"
    with KnowledgeIndex(tmp_path / "index.db", embedder) as index:
        index.ingest(folder)
        whole = index.search(heard, k=3)[0].score
        alone = index.search(heard.split(". ", 1)[1], k=3)[0].score
        assert whole < alone  # what makes this worth having: the preamble blurs the question
        conversation = Conversation("Lipka", index, None, lambda: datetime(2026, 3, 2, tzinfo=ZoneInfo("Europe/Prague")),
                                    min_score=(whole + alone) / 2)
        text = conversation.reply(heard).reply.immediate_response
    assert "390" in text and "1190" in text and "2890" in text


@pytest.mark.parametrize("written, said", [
    ("S costs 19,99 zł.", "S costs 19 zloty 99."),
    ("€1.234,50 in total", "1234 euros 50 in total"),
    ("1.234,50 € in total", "1234 euros 50 in total"),
    ("Pick-up: 6,00 zł", "Pick-up: 6 zloty"),
    ("It is 1,5 km away.", "It is 1,5 km away."),  # no money
    ("£39.99", "39 pounds 99"),
    ("₹1,09,990 only", "109990 rupees only"),  # lakhs, not cents
])
def test_amounts_written_the_continental_way_are_said_as_one_amount(written, said):
    assert spoken_money(written) == said


def test_a_list_whose_headings_are_in_the_companys_language_is_found_below_the_usual_score(embedder, tmp_path):
    documents = {
        "cennik.md": "# Cennik / Price list\n\n## Paczka\n\n| Rozmiar | Cena |\n|---|---|\n| Mała | 13,99 zł |\n"
                     "| Duża | 18,99 zł |\n",
        "biznes.md": "# Skrzynka Biznes — oferta dla firm\n\n## Pakiety\n\n### Biznes START — 0 zł miesięcznie\n"
                     "Do 100 paczek.\n\n### Biznes PLUS — 49 zł netto miesięcznie\nDo 500 paczek.\n\n"
                     "### Biznes PRO — 149 zł netto miesięcznie\nPonad 500 paczek.\n",
        "faq.md": "# FAQ\n\nHow can I pay? BLIK or a card.\n\nWhere are your lockers? In Warsaw and Kraków.\n",
    }
    folder = knowledge_folder(tmp_path, documents)
    with KnowledgeIndex(tmp_path / "index.db", embedder) as index:
        index.ingest(folder)
        heard = "What offers do you have for companies?"
        assert not index.search(heard, k=3, min_score=0.35)  # what makes this case: nothing reaches min_score
        conversation = Conversation("Skrzynka", index, None, lambda: datetime(2026, 12, 7, tzinfo=ZoneInfo("Europe/Warsaw")))
        turn = conversation.reply(heard)
        text = turn.reply.immediate_response
        assert turn.reply.used_knowledge and not turn.reply.escalate_to_human
        assert "START" in text and "PLUS" in text and "49 zloty" in text and "PRO" in text and "13" not in text
        turn = conversation.reply("Is there somewhere to park near you?")  # about no list: the usual score stands
        assert turn.reply.escalate_to_human and not turn.reply.used_knowledge


def test_a_question_asked_with_one_about_hours_is_answered_too(embedder, tmp_path):
    document = ("# Visiting us\n\nOur shop is at 12 Harbour Road, Portsmouth, next to the ferry terminal.\n\n"
                "## Opening hours\n\nMonday to Saturday: 9am to 5pm\nSunday: closed\n")
    with answering(embedder, tmp_path, "visit.md", document, "Europe/London") as conversation:
        text = conversation.reply("Hi, I'm coming over later. Where is your shop, exactly? And what time do you close "
                                  "today?").reply.immediate_response
    assert "12 Harbour Road" in text and "Today we're open from 9 AM to 5 PM." in text


def test_what_kinds_of_a_thing_are_there_lists_that_things_section(embedder, tmp_path):
    document = ("# Price list\n\n## Cakes\n\n| Cake | Price |\n|---|---|\n| Lemon drizzle | $24.00 |\n"
                "| Carrot cake | $28.00 |\n\n## Gift hampers (delivered anywhere in town)\n\n| Hamper | Price |\n"
                "|---|---|\n| Tea for Two | $45.00 |\n| Family Feast | $95.00 |\n")
    with answering(embedder, tmp_path, "prices.md", document, "America/Toronto") as conversation:
        text = conversation.reply("Hi, what kind of gift hampers do you have?").reply.immediate_response
    assert "Tea for Two: 45 dollars" in text and "Family Feast: 95 dollars" in text and "Lemon" not in text


def test_a_list_asked_for_by_a_sections_name_is_found_in_whichever_document_holds_it(embedder, tmp_path):
    documents = {
        "corporate.txt": "CORPORATE GIFTS\n\nWhat kind of gift boxes do companies send? Any kind: we have gift boxes "
                         "for clients and staff, and add a card with your message to every gift box we ship.\n",
        "prices.md": "# Price list\n\n## Live lobster\n\n- Markets — $17.95/lb\n- Jumbos — $19.95/lb\n\n"
                     "## Gift boxes (shipped or picked up)\n\n- Kitchen Party for 2 — 2 markets, mussels — $119.00\n"
                     "- Down Home Feast for 4 — 4 markets, mussels, clams — $219.00\n",
    }
    folder = knowledge_folder(tmp_path, documents)
    with KnowledgeIndex(tmp_path / "index.db", embedder) as index:
        index.ingest(folder)
        conversation = Conversation("Acme", index, None, lambda: datetime(2026, 12, 7, tzinfo=ZoneInfo("America/Halifax")))
        text = conversation.reply("Hi, what kind of gift boxes do you have?").reply.immediate_response
        found = [p for p in index.search("gift boxes", k=3) if p.source == "corporate.txt"]
        assert conversation._listed_source("What kind of gift boxes do you have?", found) == "prices.md"
    assert "Kitchen Party for 2: 119 dollars" in text and "Down Home Feast for 4: 219 dollars" in text
    assert "Jumbos" not in text


def test_a_yes_to_a_read_back_said_with_a_question_answers_the_question_too(embedder, tmp_path):
    document = ("# Cooking your lobster\n\nBring a big pot of water to a rolling boil. Add 2 tablespoons of salt for "
                "every litre of water, so it tastes like the sea.\n\nBoil a 1½ lb lobster for 12 minutes.\n")
    with answering(embedder, tmp_path, "cooking.md", document, "America/Halifax") as conversation:
        conversation.reply("How long do I boil a lobster?")
        reply = conversation.reply("Can you email me those instructions? It's kim at example dot com.").reply
        assert reply.needs_clarification and "kim at example dot com" in reply.immediate_response
        reply = conversation.reply("Yep, that's it. Oh, and do I put salt in the water or no?").reply
    assert reply.actions == ("send_email",) and "2 tablespoons of salt" in reply.immediate_response


@pytest.mark.parametrize("heard", ["Yeah, hello, is this the lobster place?", "Hi, is that Harbour Lobster?"])
def test_a_caller_who_only_asks_whether_it_is_us_hears_yes_and_how_we_can_help(embedder, tmp_path, heard):
    document = "# Lobster season\n\nOur local season opens on the last Monday of November and closes May 31.\n"
    folder = knowledge_folder(tmp_path, {"season.md": document})
    with KnowledgeIndex(tmp_path / "index.db", embedder) as index:
        index.ingest(folder)
        conversation = Conversation("Harbour Lobster Co.", index, None,
                                    lambda: datetime(2026, 12, 7, tzinfo=ZoneInfo("America/Halifax")))
        reply = conversation.reply(heard).reply
    assert reply.immediate_response == "Yes, this is Harbour Lobster Co. How can I help you today?"  # one stop
    assert reply.intent == "greeting" and not reply.used_knowledge
