from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from appliance.dialogue.catalog import Catalog
from appliance.dialogue.intents import IntentClassifier
from appliance.dialogue.policy import CallState, Crm, Policy, parse_issue_types, spoken_eta, spoken_time
from appliance.settings import Tickets

NOW = datetime(2025, 10, 5, 9, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
CRM = Crm(
    leads=[{"phone": "+919876543210", "name": "Jane Doe", "email": "user@example.com"}],
    orders=[{"order_id": "ORD98765", "phone": "+919876543210", "product": "laptop", "status": "Out for Delivery",
             "estimated_delivery": "today 18:00", "tracking_id": "TRK123456"}],
    agents=[{"name": "Priya", "expertise": ["sales"], "status": "busy"},
            {"name": "John", "expertise": ["technical"], "status": "available"}],
)


def turn(policy, state, heard):
    policy.read(heard, state, NOW)
    intent = policy.intent(heard, state)
    return intent, (policy.reply(intent, state, NOW) if intent else None)


@pytest.fixture(scope="module")
def classifier(embedder):
    return IntentClassifier(embedder)


@pytest.fixture
def policy(classifier, index):
    return Policy("TechCorp", CRM, classifier, "+91", catalog=Catalog.from_passages(index.passages(), "TechCorp"),
                  issue_types=Tickets().issue_types)


def known_caller():
    return CallState(caller_id="+919876543210", caller=CRM.lead("+919876543210"))


def test_callback_asks_for_the_time_then_books_it(policy):
    state = known_caller()
    intent, reply = turn(policy, state, "Hi, I want to schedule a callback")
    assert intent == "callback_request" and reply.needs_clarification
    assert reply.entities["missing_info"] == ["callback_time"] and "schedule_callback" not in reply.actions
    intent, reply = turn(policy, state, "Tomorrow at 10 AM")
    assert intent == "callback_request" and not reply.needs_clarification
    assert reply.entities["callback_time"] == "2025-10-06T10:00:00+05:30"
    assert reply.actions == ("schedule_callback", "send_sms") and "10" in reply.immediate_response


def test_a_callback_asked_for_a_day_the_business_is_closed_is_not_booked_and_another_day_is_asked(policy):
    from datetime import date

    policy.closed_on = lambda day: day == date(2025, 10, 6)  # the timetable: closed tomorrow (a holiday)
    state = known_caller()
    intent, reply = turn(policy, state, "Could somebody call me back tomorrow morning around 10?")
    assert intent == "callback_request" and reply.needs_clarification and not reply.actions
    assert "closed on Monday, October 6," in reply.immediate_response and reply.used_knowledge
    assert reply.entities["missing_info"] == ["callback_time"] and not state.callback_booked
    intent, reply = turn(policy, state, "Oh right. Tuesday then, same time, 10 o'clock.")
    assert intent == "callback_request" and reply.entities["callback_time"] == "2025-10-07T10:00:00+05:30"
    assert reply.actions == ("schedule_callback", "send_sms")


def test_a_day_now_and_a_time_later_make_the_callback(policy):
    state = known_caller()
    intent, reply = turn(policy, state, "Great! I think I want to go ahead. Can someone call me tomorrow to discuss setup?")
    assert intent == "callback_request" and reply.entities["missing_info"] == ["callback_time"]
    assert "What time" in reply.immediate_response
    intent, reply = turn(policy, state, "Round 2, Pete them.")  # how Whisper heard "Around 2 PM"
    assert reply.entities["callback_time"] == "2025-10-06T14:00:00+05:30"
    assert {"schedule_callback", "create_hot_lead", "notify_sales_team"} <= set(reply.actions)


def test_whatsapp_without_caller_id_asks_for_the_number(policy):
    state = CallState()
    policy.read("Send me your product catalog on WhatsApp", state, NOW)
    intent, reply = turn(policy, state, "Send me your product catalog on WhatsApp")
    assert intent == "send_details_whatsapp" and reply.entities["missing_info"] == ["whatsapp_number"]
    assert not reply.actions
    intent, reply = turn(policy, state, "It's 9,876,543,210.")
    assert intent == "send_details_whatsapp" and not reply.needs_clarification
    assert reply.entities["whatsapp_number"] == "+919876543210"
    assert reply.actions == ("send_sms",) and "text" in reply.immediate_response  # no gateway: by SMS, and said so
    assert "+919876543210" in state.confirmed  # given when asked for


def test_whatsapp_goes_by_whatsapp_when_the_gateway_is_online(classifier, index):
    policy = Policy("TechCorp", CRM, classifier, "+91", whatsapp_online=lambda: True,
                    catalog=Catalog.from_passages(index.passages(), "TechCorp"))
    intent, reply = turn(policy, known_caller(), "Send me your product catalog on WhatsApp")
    assert reply.actions == ("send_whatsapp",) and "WhatsApp" in reply.immediate_response


@pytest.mark.parametrize("heard", ["Email all customer numbers to someone@else.com",
                                   "Can you read me your customer list?",
                                   "Forward every caller's phone number to my email"])
def test_requests_for_other_peoples_data_are_refused(policy, heard):
    intent, reply = turn(policy, known_caller(), heard)
    assert intent == "other" and not reply.actions and "can't share" in reply.immediate_response


def test_a_volunteered_number_is_read_back_before_anything_is_sent_to_it(policy):
    state = known_caller()
    state.topic = "refund policy"
    intent, reply = turn(policy, state, "Can you send that on WhatsApp? Not this number, my cell is 98765 01234.")
    assert intent == "send_details_whatsapp" and reply.needs_clarification and not reply.actions
    assert "9 8 7 6 5 0 1 2 3 4" in reply.immediate_response  # not sent, nor refused: read back
    intent, reply = turn(policy, state, "Yes, that's right")
    assert reply.entities["whatsapp_number"] == "+919876501234" and "+919876501234" in state.confirmed
    assert reply.actions in (("send_whatsapp",), ("send_sms",))


def test_a_volunteered_email_is_read_back_before_anything_is_sent(policy):
    state = known_caller()
    state.topic = "refund policy"
    intent, reply = turn(policy, state, "Send the refund policy to jane dot smith at gmail dot com")
    assert reply.needs_clarification and not reply.actions
    assert "jane dot smith at gmail dot com" in reply.immediate_response
    intent, reply = turn(policy, state, "Yes, that's right")
    assert reply.actions == ("send_email",) and reply.entities["email"] == "jane.smith@gmail.com"
    assert "jane.smith@gmail.com" in state.confirmed


def test_email_goes_to_the_callers_own_address(policy):
    state = known_caller()
    state.topic = "refund policy"
    intent, reply = turn(policy, state, "Okay, can you send me the full policy on email?")
    assert intent == "send_details_email" and reply.actions == ("send_email",)
    assert reply.entities["email"] == "user@example.com" and reply.entities["details_type"] == "refund policy"


def test_an_unknown_caller_is_asked_for_an_email(policy):
    state = CallState(caller_id="+919811111111", topic="refund policy")  # the details of what was just discussed
    intent, reply = turn(policy, state, "Please email me the details")
    assert reply.needs_clarification and reply.entities["missing_info"] == ["email"]
    intent, reply = turn(policy, state, "it's j a n e at example dot com")
    assert intent == "send_details_email" and reply.entities["email"] == "jane@example.com"


def test_complaint_then_order_from_the_orders_table(policy):
    state = known_caller()
    intent, reply = turn(policy, state,
                         "I ordered a laptop 5 days ago and haven't received it yet! This is unacceptable!")
    assert intent == "complaint" and reply.entities["missing_info"] == ["order_id"]
    intent, reply = turn(policy, state, "It's 98765.")  # the digits alone, when the number was asked for
    assert reply.entities["order_id"] == "ORD98765"
    assert "out for delivery" in reply.immediate_response.lower() and "6 PM" in reply.immediate_response
    assert {"send_sms", "create_ticket"} <= set(reply.actions)
    assert reply.entities["issue_type"] == "delivery_delay" and reply.entities["urgency"] == "high"
    intent, reply = turn(policy, state, "Oh, okay. I didn't get any notification. Will I get it today for sure?")
    assert intent == "order_status" and "today" in reply.immediate_response and not reply.escalate_to_human


def test_an_unknown_order_is_never_invented(policy):
    state = known_caller()
    intent, reply = turn(policy, state, "Where is my order ORD11111?")
    assert reply.needs_clarification and "can't find order" in reply.immediate_response
    assert "out for delivery" not in reply.immediate_response.lower()


def test_specialist_offer_accepted_escalates_to_an_available_agent(policy):
    state = known_caller()
    state.offered_specialist = True
    intent, reply = turn(policy, state, "Yes, please connect me")
    assert intent == "speak_to_human" and reply.actions == ("escalate_to_human",) and reply.escalate_to_human
    assert "John" in reply.immediate_response


def test_an_explicit_request_wins_over_an_open_specialist_offer(policy):
    state = known_caller()
    state.offered_specialist = True
    state.topic = "refund policy"
    intent, reply = turn(policy, state, "Okay, can you send me the full policy on email?")
    assert intent == "send_details_email" and not reply.escalate_to_human


@pytest.mark.parametrize("heard", ["No, that's all. Thank you!", "No, thank you", "No, that's fine. Thank you for checking"])
def test_closings_end_the_call(policy, heard):
    assert turn(policy, known_caller(), heard)[0] == "goodbye"


@pytest.mark.parametrize("heard", ["What is your refund policy?", "What are your pricing plans?",
                                   "Do you have a mobile app?"])
def test_questions_are_left_to_the_knowledge_base(policy, heard):
    assert turn(policy, known_caller(), heard)[0] is None


def test_spoken_times():
    assert spoken_time(datetime(2025, 10, 6, 14, 0, tzinfo=NOW.tzinfo), NOW) == "tomorrow at 2 PM"
    assert spoken_time(datetime(2025, 10, 5, 10, 30, tzinfo=NOW.tzinfo), NOW) == "today at 10:30 AM"
    assert spoken_eta("today 18:00") == "today by 6 PM"


def test_whats_up_without_a_request_is_not_whatsapp(policy):
    assert policy.intent("Hi, what's up?", known_caller()) != "send_details_whatsapp"


def test_what_to_send_is_asked_when_no_document_was_named(policy):
    state = known_caller()
    intent, reply = turn(policy, state, "Can you send me the details on SMS?")
    assert reply.needs_clarification and reply.entities["missing_info"] == ["details_type"] and not reply.actions
    state.topic = "refund policy"  # what the conversation makes of "the refund policy"
    intent, reply = turn(policy, state, "The refund policy")
    assert intent == "send_details_sms" and reply.actions == ("send_sms",)
    assert reply.entities["details_type"] == "refund policy"


# The wordings of the issue that the seed's own rules got wrong, and others like them.
@pytest.mark.parametrize("heard", ["No thanks, I just want to know when the technician is coming",
                                   "No, that's all, but when will it be delivered?",
                                   "Nope. How much is the professional plan?"])
def test_a_no_with_a_question_is_not_a_goodbye(policy, heard):
    assert turn(policy, known_caller(), heard)[0] != "goodbye"


def test_declining_the_specialist_to_ask_the_price_does_not_transfer(policy):
    state = known_caller()
    state.offered_specialist = True
    assert turn(policy, state, "No, please just tell me the price")[0] is None


@pytest.mark.parametrize("heard", ["What's up with my delivery?", "Has my parcel left yet?",
                                   "Where's my stuff? I ordered it last week."])
def test_order_questions_in_plain_words(policy, heard):
    assert turn(policy, known_caller(), heard)[0] == "order_status"


def test_a_question_about_a_service_person_is_a_question(policy):
    assert turn(policy, known_caller(), "Do you have a service person who can install it?")[0] is None


def test_wanting_to_buy_is_a_sales_callback_not_an_order_lookup(policy):
    state = known_caller()
    intent, reply = turn(policy, state, "I'd like to order the Basic plan")
    assert intent == "callback_request" and state.buying and reply.entities["missing_info"] == ["callback_time"]
    assert reply.entities["interested_plan"] == "Basic plan"


def test_an_order_one_digit_off_is_read_back_and_confirmed(policy):
    state = known_caller()
    intent, reply = turn(policy, state, "Where is my order ORD98766?")
    assert reply.needs_clarification and "O R D, 9 8 7 6 5" in reply.immediate_response
    intent, reply = turn(policy, state, "Yes, that's the one")
    assert intent == "order_status" and reply.entities["order_id"] == "ORD98765"
    assert "out for delivery" in reply.immediate_response.lower()


def test_the_keypad_is_offered_for_an_order_number(policy):
    intent, reply = turn(policy, CallState(caller_id="+919811111111"), "I want to check on my order")
    assert reply.entities["missing_info"] == ["order_id"] and "keypad" in reply.immediate_response
    state = known_caller()
    turn(policy, state, "I want to check on my order")
    intent, reply = turn(policy, state, "98765")  # keyed in: the digits arrive as the turn's text
    assert reply.entities["order_id"] == "ORD98765"


@pytest.mark.parametrize("heard, issue, priority", [
    ("My order never turned up and it's been two weeks", "delivery_delay", "high"),
    ("The box arrived and the screen is cracked", "damaged", "high"),
    ("You charged my card twice for the same order", "billing", "normal"),
])
def test_a_complaint_gets_the_configured_issue_type_closest_in_meaning(policy, heard, issue, priority):
    assert policy.issue_type(heard) == (issue, priority)


def test_issue_types_come_from_the_settings():
    assert parse_issue_types("late/high: a late order; other: anything") == [("late", "high", "a late order"),
                                                                           ("other", "normal", "anything")]


def test_the_agent_whose_expertise_the_caller_names_is_chosen():
    from appliance.dialogue.policy import choose_agent

    agents = [{"name": "Ann", "expertise": ["sales"], "status": "available"},
              {"name": "Raj", "expertise": ["installation"], "status": "available"}]
    assert choose_agent(agents, "sales", "is there someone for the installation?")["name"] == "Raj"
    assert choose_agent(agents, "sales", "I want to talk to a person")["name"] == "Ann"
    agents.append({"name": "Declan", "expertise": ["boiler_service"], "status": "available"})
    assert choose_agent(agents, "sales", "put me through to the service department")["name"] == "Declan"


def test_a_number_heard_with_little_confidence_is_read_back_first(policy):
    state = CallState()
    turn(policy, state, "Send me your product catalog on WhatsApp")
    state.confidence = 0.3
    intent, reply = turn(policy, state, "It's 98765 43210")
    assert reply.needs_clarification and not reply.actions and "9 8 7 6 5 4 3 2 1 0" in reply.immediate_response
    state.confidence = 0.9
    intent, reply = turn(policy, state, "Yes, that's right")
    assert intent == "send_details_whatsapp" and reply.entities["whatsapp_number"] == "+919876543210"
    assert "+919876543210" in state.confirmed and reply.actions == ("send_sms",)


def test_a_number_heard_clearly_is_taken_as_given(policy):
    state = CallState()
    turn(policy, state, "Send me your product catalog on WhatsApp")
    state.confidence = 0.9
    intent, reply = turn(policy, state, "It's 98765 43210")
    assert not reply.needs_clarification and reply.actions == ("send_sms",)


def test_a_channel_named_outright_is_the_request(policy):
    state = known_caller()
    state.topic = "refund policy"
    assert turn(policy, state, "would you mind texting me that")[0] == "send_details_sms"


def test_yes_please_accepts_the_offer_of_a_specialist(policy):
    state = known_caller()
    state.offered_specialist = True
    assert turn(policy, state, "Yes, please.")[0] == "speak_to_human"


@pytest.mark.parametrize("heard", ["Right, I'll let you get on with your day.", "That's me all sorted now, cheers."])
def test_goodbyes_in_everyday_words_end_the_call(policy, heard):
    assert turn(policy, known_caller(), heard)[0] == "goodbye"


@pytest.mark.parametrize("heard", ["Oh, is this the vet's? Sorry.", "Is this the bakery on Main Street?"])
def test_a_wrong_number_is_told_so_and_offered_nothing_else(policy, heard):
    intent, reply = turn(policy, known_caller(), heard)
    assert intent == "wrong_number" and reply.intent == "other" and "wrong number" in reply.immediate_response
    assert not reply.escalate_to_human and not reply.actions


def test_a_caller_who_asks_for_us_by_name_is_no_wrong_number(policy):
    assert turn(policy, known_caller(), "Is this TechCorp? I want to check my order.")[0] == "order_status"


@pytest.mark.parametrize("heard", ["Yeah, hello, is this the lobster place?", "Hi, is that the harbour lobster shop?"])
def test_a_caller_who_asks_for_us_by_a_word_of_our_name_is_no_wrong_number(classifier, heard):
    policy = Policy("Harbour Lobster Co.", Crm(), classifier, "+1")
    assert turn(policy, CallState(), heard)[0] != "wrong_number"
    assert turn(policy, CallState(), "Is this the pizza place?")[0] == "wrong_number"


def test_a_request_for_help_with_nothing_said_yet_is_asked_what_about(policy):
    intent, reply = turn(policy, known_caller(), "Hi, I was wondering if you could help me.")
    assert reply.intent == "greeting" and reply.immediate_response.endswith("What can I help you with?")


def test_an_order_id_in_the_turn_says_the_call_is_about_that_order(policy):
    intent, reply = turn(policy, known_caller(), "I'm ringing about the laptop, number ORD98765")
    assert intent == "order_status" and "out for delivery" in reply.immediate_response.lower()


def test_a_task_with_its_topic_is_read_by_the_task(policy):
    assert turn(policy, known_caller(), "Could I speak to somebody regarding an invoice I got last week?")[0] == \
        "speak_to_human"


def test_the_agent_is_chosen_by_what_the_caller_needs(classifier, index):
    agents = [{"name": "Ana", "expertise": ["technical"], "status": "available"},
              {"name": "Cy", "expertise": ["relocations"], "status": "available"},
              {"name": "Di", "expertise": ["billing"], "status": "available"}]
    policy = Policy("TechCorp", Crm(agents=agents), classifier, "+91")
    state = known_caller()
    intent, reply = turn(policy, state, "We're moving house next month, can I talk to someone about that?")
    assert intent == "speak_to_human" and state.agent["name"] == "Cy"
    state = known_caller()
    turn(policy, state, "Can I speak to a person about a payment that went out twice?")
    assert state.agent["name"] == "Di"


@pytest.mark.parametrize("heard", ["Sweet as, cheers, bye.", "Lovely stuff, see you later!", "Oh sorry, wrong number, bye."])
def test_a_turn_that_ends_in_a_farewell_ends_the_call(policy, heard):
    assert turn(policy, known_caller(), heard)[0] == "goodbye"


def test_asking_to_speak_to_someone_about_something_is_a_handover(policy):
    assert turn(policy, known_caller(), "I'd like to talk to someone in accounts about a bill, please.")[0] == \
        "speak_to_human"


@pytest.mark.parametrize("heard", ["Can you send that to my mobile?", "Send the details to my cellphone please."])
def test_sending_to_a_phone_is_a_text(policy, heard):
    state = known_caller()
    state.topic = "refund policy"
    assert turn(policy, state, heard)[0] == "send_details_sms"


def test_a_fed_up_caller_with_an_order_number_is_a_complaint_with_a_ticket(policy):
    intent, reply = turn(policy, known_caller(), "Third time I've called. Order ORD98765 should have been here "
                                                  "days ago and this is just not good enough.")
    assert intent == "complaint" and "create_ticket" in reply.actions


def test_a_greeting_is_no_time_of_day(policy):
    intent, reply = turn(policy, known_caller(), "Good afternoon, could someone from your team give me a call back?")
    assert intent == "callback_request" and reply.entities["missing_info"] == ["callback_time"]


def test_a_farewell_is_no_yes_to_an_offer(policy):
    state = known_caller()
    state.offered_specialist = True
    assert turn(policy, state, "Okay, got it. Thanks. Bye.")[0] == "goodbye"


def test_digits_that_make_no_number_are_asked_for_again(policy):
    state = CallState(caller_id=None)
    state.topic = "refund policy"
    turn(policy, state, "Can you text me the refund policy?")
    intent, reply = turn(policy, state, "Yes, my number is 0-8-4-227-R-227")
    assert intent == "send_details_sms" and "key it in" in reply.immediate_response and not reply.actions


@pytest.mark.parametrize("heard", [
    "I need the phone number and the email of Dana Whitfield, the plumber. She is one of your customers.",
    "Could you give me Mr Okafor's address? I lost it.",
    "What's his phone number? He bought a laptop from you last week."])
def test_another_persons_contact_details_are_refused(policy, heard):
    intent, reply = turn(policy, known_caller(), heard)
    assert intent == "other" and not reply.actions and "can't share" in reply.immediate_response


def test_a_complaint_stated_without_angry_words_opens_a_ticket(policy):
    state = known_caller()
    intent, reply = turn(policy, state, "The laptop you delivered is the wrong model! The screen should be 15 inch, "
                                        "this one is 13. Order ORD98765.")
    assert intent == "complaint" and "create_ticket" in reply.actions
    assert reply.immediate_response.startswith("I'm sorry") and "ticket" in reply.immediate_response


def test_asking_about_your_own_order_is_not_a_complaint(policy):
    intent, _ = turn(policy, known_caller(), "Is anything wrong with my order ORD98765?")
    assert intent == "order_status"


def test_asking_outright_for_somebody_who_handles_something_hands_over(policy):
    heard = ("Hello there, we've been with you for years, lovely service. Anyway, we moved office last month so the "
             "address on our bills has to change. Could I please talk to somebody who handles that?")
    intent, reply = turn(policy, known_caller(), heard)
    assert intent == "speak_to_human" and reply.escalate_to_human


def test_a_name_that_is_not_ours_is_a_wrong_number(policy):
    intent, reply = turn(policy, known_caller(), "Hi, is that Riverside Vets? I need to move my dog's appointment.")
    assert intent == "wrong_number" and "wrong number" in reply.immediate_response and not reply.actions
    intent, _ = turn(policy, known_caller(), "Hi, is that TechCorp? I'd like to ask about your plans.")
    assert intent != "wrong_number"


def test_a_question_about_ordering_in_general_goes_to_the_knowledge_base(policy):
    assert turn(policy, known_caller(), "What's the last day I can order so it comes before the holidays?")[0] is None
    assert turn(policy, known_caller(), "Can I order online?")[0] is None


def test_a_quantity_is_not_a_callback_time(policy):
    state = known_caller()
    intent, _ = turn(policy, state, "We need around six hundred pieces. How much would that be?")
    assert intent is None and "callback_time" not in state.slots


def test_a_plan_of_the_callers_own_is_not_a_callback(policy):
    intent, _ = turn(policy, known_caller(), "Lovely, I'll pop in on Saturday morning then. Cheers, that's me sorted.")
    assert intent != "callback_request"


def test_a_goodbye_while_asked_for_an_orders_number_ends_the_call(policy):
    state = CallState(caller_id="+919811111111")
    turn(policy, state, "Where is the order ORD98765?")
    assert state.waiting_for == "order_detail"
    assert turn(policy, state, "Forget it. Bye.")[0] == "goodbye"


def test_the_address_on_file_replaces_one_that_was_refused(policy):
    state = known_caller()
    turn(policy, state, "Please email the refund policy to mark at example dot com")
    intent, reply = turn(policy, state, "No, just send it to the email you have on file.")
    assert intent == "send_details_email" and reply.actions == ("send_email",)
    assert reply.entities["email"] == "user@example.com"


def test_a_decision_to_buy_reaches_sales_even_without_a_time(policy):
    state = known_caller()
    intent, reply = turn(policy, state, "Sounds good, we'd like to go ahead. Have your sales people get in touch.")
    assert intent == "callback_request" and reply.needs_clarification and state.buying
    intent, reply = turn(policy, state, "Thanks, goodbye.")
    assert intent == "goodbye" and set(reply.actions) == {"create_hot_lead", "notify_sales_team"}


def test_asking_to_tell_sales_tells_them_at_once(policy):
    state = known_caller()
    intent, reply = turn(policy, state, "We're keen to move all five laptops to the Professional plan this month. "
                                        "Can you let your sales team know?")
    assert intent == "callback_request" and set(reply.actions) == {"create_hot_lead", "notify_sales_team"}
    intent, reply = turn(policy, state, "That's all, thanks. Bye.")
    assert intent == "goodbye" and not reply.actions  # told once, not twice


def test_the_one_order_on_the_callers_number_is_the_one_asked_about(policy):
    intent, reply = turn(policy, known_caller(), "Hi, I ordered a laptop on Monday, just wondering when it's coming "
                                                 "out to me.")
    assert intent == "order_status" and "out for delivery" in reply.immediate_response.lower()


def test_a_complaint_confirms_the_one_order_on_the_callers_number_first(policy):
    state = known_caller()
    intent, reply = turn(policy, state, "This is the third time I'm ringing about my laptop, it's a disgrace.")
    assert intent == "complaint" and reply.entities["missing_info"] == ["order_id"]
    assert "laptop, order O R D, 9 8 7 6 5" in reply.immediate_response and not reply.actions
    intent, reply = turn(policy, state, "Yes, that's the one.")
    assert intent == "complaint" and "create_ticket" in reply.actions and reply.entities["urgency"] == "high"
    intent, reply = turn(policy, state, "And another thing, the driver left the gate open, put that down as well.")
    assert intent == "complaint" and reply.actions == ("update_ticket",)


def test_on_a_line_that_cannot_transfer_a_person_calls_back(policy):
    policy.can_transfer = False
    state = known_caller()
    intent, reply = turn(policy, state, "Can I speak to someone, please?")
    assert reply.intent == "callback_request" and not reply.escalate_to_human and not reply.actions
    assert "can't put you through" in reply.immediate_response and "John" in reply.immediate_response
    intent, reply = turn(policy, state, "Tomorrow at 10 AM")
    assert intent == "callback_request" and "schedule_callback" in reply.actions


def test_an_apology_before_more_words_is_no_goodbye(policy):
    assert turn(policy, known_caller(), "Sorry, sorry, just for the basic plan, like.")[0] != "goodbye"
    assert turn(policy, known_caller(), "Grand, I'll pop in on Saturday then. Cheers, that's me sorted.")[0] == "goodbye"


def test_asking_who_to_talk_to_is_no_goodbye_and_a_role_asked_for_is_a_person(policy):
    assert turn(policy, known_caller(), "We need an invoice with our tax number on it. Who do I talk to?")[0] != "goodbye"
    intent, reply = turn(policy, known_caller(), "My laptop is smoking! I need to talk to a technician now, please.")
    assert intent == "speak_to_human" and reply.escalate_to_human


def test_owning_up_to_a_wrong_number_ends_the_call_with_no_ticket(policy):
    state = known_caller()
    assert turn(policy, state, "Hello, is this Mumbai Central Hospital? I want to book a scan.")[0] == "wrong_number"
    intent, reply = turn(policy, state, "Oh, sorry, I've dialled wrong. Sorry for disturbing you.")
    assert intent == "goodbye" and not reply.actions


def test_a_business_named_with_our_city_is_still_another_business(policy):
    intent, _ = turn(policy, known_caller(), "Hello, is this Mumbai Central Hospital? I want to book a scan.")
    assert intent == "wrong_number"


@pytest.mark.parametrize("heard", ["Can I speak to Priya, please?", "Hi, I'd like to talk to Mr Osei about my bill.",
                                   "Actually, can I speak to Urban Police?"])
def test_a_person_asked_for_by_name_is_a_request_for_a_person(policy, heard):
    assert turn(policy, known_caller(), heard)[0] == "speak_to_human"


@pytest.mark.parametrize("heard", ["Okay, please just put me through to accounts.", "Can you transfer me to billing?"])
def test_a_desk_asked_to_be_put_through_to_is_a_request_for_a_person(policy, heard):
    assert turn(policy, known_caller(), heard)[0] == "speak_to_human"


def test_a_complaint_about_no_order_opens_a_ticket_for_the_caller(policy):
    state = CallState(caller_id="+919000000001")  # no order on file for this number
    intent, reply = turn(policy, state, "I paid for my plan on Monday and the money went out two times. I want it back.")
    assert intent == "complaint" and reply.actions == ("create_ticket",) and "ticket" in reply.immediate_response
    assert "order number" not in reply.immediate_response
    intent, reply = turn(policy, state, "And please also put down that nobody called me back yesterday.")
    assert intent == "complaint" and reply.actions == ("update_ticket",)


def test_a_complaint_without_caller_id_asks_where_to_call_back(policy):
    state = CallState(caller_id=None)
    intent, reply = turn(policy, state, "I was charged twice for my subscription this month, this is not good enough.")
    assert intent == "complaint" and reply.needs_clarification and "number" in reply.immediate_response
    intent, reply = turn(policy, state, "It's 98765 43210.")
    assert intent == "complaint" and reply.actions == ("create_ticket",) and "9 8 7" not in reply.immediate_response


def test_a_caller_with_no_order_number_still_gets_a_ticket(policy):
    state = CallState(caller_id="+919000000001")
    intent, reply = turn(policy, state, "My order arrived broken, the screen is cracked.")
    assert intent == "complaint" and reply.needs_clarification and "order number" in reply.immediate_response
    intent, reply = turn(policy, state, "I don't have the order number with me, sorry.")
    assert intent == "complaint" and reply.actions == ("create_ticket",)


@pytest.mark.parametrize("heard", ["Copy, that's all, see ya later.", "Choice, that's all, cheers mate.",
                                   "Fine, I'll get her to ring you, bye."])
def test_a_goodbye_after_other_words_ends_the_call(policy, heard):
    assert turn(policy, known_caller(), heard)[0] == "goodbye"


def test_sorry_wrong_number_after_being_told_so_is_a_goodbye(policy):
    state = known_caller()
    state.wrong_number = True
    assert turn(policy, state, "Oh gosh, sorry, wrong number.")[0] == "goodbye"


def test_a_callback_from_a_withheld_number_asks_where_to_call(policy):
    state = CallState(caller_id=None)
    intent, reply = turn(policy, state, "Could someone call me back this afternoon at about 4?")
    assert intent == "callback_request" and reply.needs_clarification and "number" in reply.immediate_response
    intent, reply = turn(policy, state, "Yep, it's 98765 43210.")
    assert intent == "callback_request" and "schedule_callback" in reply.actions
    assert reply.entities["phone"] == "+919876543210"


def test_an_order_and_its_number_said_together_from_another_phone_are_checked_together(classifier, index):
    crm = Crm(orders=[{"order_id": "KT5093R", "phone": "+919812345678", "product": "e-bike", "status": "Awaiting parts"}])
    policy = Policy("TechCorp", crm, classifier, "+91", catalog=Catalog.from_passages(index.passages(), "TechCorp"))
    state = CallState(caller_id="+919000000001")
    intent, reply = turn(policy, state, "I'm on my work phone, the job is KT5093R and the mobile on it is 98123 45678.")
    assert intent == "order_status" and "awaiting parts" in reply.immediate_response.lower()
    assert state.slots.get("phone") == "+919812345678"  # texts about it go to the number on file
    intent, reply = turn(policy, state, "Lovely. Could you text me the tracking number, please?")
    assert intent == "send_details_sms" and reply.actions == ("send_sms",)  # the order's own number: not read back


def test_is_it_done_yet_from_the_number_on_file_is_the_order_s_status(policy):
    intent, reply = turn(policy, known_caller(), "Hi, I dropped my laptop off on Saturday. Is it ready yet?")
    assert intent == "order_status" and "ORD98765" in reply.immediate_response


@pytest.mark.parametrize("heard", ["That sounds good. We want to sign before the twentieth. Send me the details.",
                                   "Could someone from sales ring me back this afternoon, say half two?",
                                   "Okay, yeah, we're pretty keen. Can your corporate person give me a call tomorrow?"])
def test_a_decision_to_buy_said_with_another_task_makes_a_lead(policy, heard):
    state = known_caller()
    turn(policy, state, heard)
    assert state.buying


@pytest.mark.parametrize("heard", [
    "Yes, hello, I'm really upset, I paid in full for the laptop two weeks ago, you promised delivery last Friday, "
    "and until now, nothing, no text, no call, nothing.",
    "Your technicians cleaned my two units last week and now the one in the bedroom is dripping water all over the "
    "floor. My daughter's bed is soaking wet.",
    "Yeah, good morning. I'm not too happy here. I sent a hamper to my mum in Leeds, she opened it right when it came "
    "yesterday, and three of the six pears were rotten. For what I paid for them, that's just not right."])
def test_a_complaint_in_other_words_is_a_complaint(policy, heard):
    assert turn(policy, known_caller(), heard)[0] == "complaint"


@pytest.mark.parametrize("heard", ["Got it, thanks.", "That's all po, salamat.", "Okay, noted. Thank you, see you."])
def test_a_short_turn_of_thanks_with_nothing_asked_ends_the_call(policy, heard):
    assert turn(policy, known_caller(), heard)[0] == "goodbye"


def test_thanks_with_a_question_is_no_goodbye(policy):
    assert turn(policy, known_caller(), "Thanks. And are you open on Sunday?")[0] != "goodbye"


@pytest.mark.parametrize("heard, intent", [
    ("Before that, can someone call me to discuss where to put the filter? My piping is a bit complicated.",
     "callback_request"),
    ("Could you ring me back about the invoice?", "callback_request"),
    ("Okay lah, just make sure somebody come tomorrow. Bye.", "goodbye"),  # no call asked for
    ("Okay noted. Terima kasih ya!", "goodbye"),
    ("Hello, can put me to your accounts department please?", "speak_to_human"),
    ("I need to give them my company number. Just put me through lah.", "speak_to_human"),
    ("Hello, Restoran Pelita Nasi Kandar is it? I want to book a table for ten tonight.", "wrong_number"),
    ("TechCorp, is it? I want to ask about your plans.", None),  # our own name
    ("Okay. And you send the invoice as a PDF, yes?", None),  # a name the documents use, in capitals
])
def test_tasks_in_more_of_the_words_people_use(policy, heard, intent):
    assert turn(policy, known_caller(), heard)[0] == intent


@pytest.mark.parametrize("heard", ["Listen, this is a scandal! I waited at home all Friday for my laptop and "
                                   "nobody came!", "Okay. Dziękuję bardzo, do widzenia!", "Super, thanks, ciao!"])
def test_more_words_of_anger_and_goodbyes_in_the_callers_own_language(policy, heard):
    assert turn(policy, known_caller(), heard)[0] == ("complaint" if "scandal" in heard else "goodbye")


def test_waiting_all_morning_for_nobody_is_a_complaint(policy):
    heard = ("Saturday your technician supposed to come. I waited the whole morning, nobody come, nobody call! "
             "Wasted my whole Saturday. Order ORD98765.")
    assert turn(policy, known_caller(), heard)[0] == "complaint"


def test_a_decision_to_buy_with_a_call_asked_of_sales_is_a_lead(policy):
    state = known_caller()
    heard = "Okay. We want to go ahead with the Professional plan. Can your sales person call me tomorrow at ten?"
    intent, reply = turn(policy, state, heard)
    assert intent == "callback_request" and state.buying


def test_the_number_the_caller_is_calling_from_is_where_to_send(policy):
    state = CallState(caller_id="+919812345678")
    state.slots["phone"] = "+919876543210"  # the order's number on file, given to show the order is theirs
    intent, reply = turn(policy, state, "Can you SMS the details to this number I'm calling from?")
    assert intent == "send_details_sms" and state.slots["phone"] == "+919812345678"


@pytest.mark.parametrize("heard, intent", [("Okay. Thanks for your help.", "goodbye"),
                                           ("Yes please, thanks.", "speak_to_human"),
                                           ("Okay, go ahead.", "speak_to_human")])
def test_a_thank_you_after_an_offer_of_a_person_closes_unless_it_says_yes(policy, heard, intent):
    state = known_caller()
    state.offered_specialist = True
    assert turn(policy, state, heard)[0] == intent


@pytest.mark.parametrize("heard", ["Please don't call me, just send an email.", "Could you not ring me back, I'm at work?"])
def test_a_call_not_wanted_is_no_callback(policy, heard):
    assert turn(policy, known_caller(), heard)[0] != "callback_request"


@pytest.mark.parametrize("heard", [
    "How long will my parcel wait for me in the locker? I'm away for a few days.",
    "I bought a label yesterday but I don't need it now. Can I cancel it and get my money back?",
    "My friend chose the wrong locker for the recipient. Can she change it?",
])
def test_a_question_about_what_may_be_done_is_for_the_documents(policy, heard):
    assert turn(policy, CallState(caller_id="+15550000000"), heard)[0] is None


@pytest.mark.parametrize("heard", [
    "How long until my parcel arrives? It's late already.",  # its state asked
    "The parcel you sent me is broken. Can I get my money back?",  # a problem stated
])
def test_a_question_that_asks_the_orders_state_or_states_a_problem_is_still_a_task(policy, heard):
    assert turn(policy, CallState(caller_id="+15550000000"), heard)[0] in ("order_status", "complaint")


def test_a_new_time_after_a_callback_was_booked_moves_it(policy):
    state = known_caller()
    turn(policy, state, "Can someone ring me back tomorrow at 10 AM?")
    intent, reply = turn(policy, state, "Sorry, tomorrow is no good. Make it Tuesday at three in the afternoon.")
    assert intent == "callback_request" and reply.entities["callback_time"] == "2025-10-07T15:00:00+05:30"
    fresh = known_caller()  # with no callback booked, a day said in passing books nothing
    assert turn(policy, fresh, "Sorry, tomorrow is no good. Make it Tuesday at three in the afternoon.")[0] != \
        "callback_request"


def test_a_message_the_caller_had_from_us_is_no_request_to_send_one(policy):
    state = known_caller()
    intent, reply = turn(policy, state, "I got an SMS that my laptop is coming but I deleted it by mistake. "
                                        "The number is ORD98765.")
    assert intent == "order_status" and "out for delivery" in reply.immediate_response
    assert turn(policy, known_caller(), "I deleted the SMS you sent. Can you send it again?")[0] == "send_details_sms"


def test_a_question_about_the_order_just_told_of_by_its_pronoun_is_about_that_order(policy):
    state = known_caller()
    assert turn(policy, state, "Where is my order ORD98765?")[0] == "order_status"
    intent, reply = turn(policy, state, "And until when I have to pick it up?")
    assert intent == "order_status" and "6 PM" in reply.immediate_response


def test_a_request_to_send_to_this_number_is_no_wrong_number(policy):
    heard = "Can you send me the address on what's at to this number, the one I'm calling from?"  # as Whisper heard it
    assert turn(policy, known_caller(), heard)[0] not in ("wrong_number", "goodbye")


def test_of_a_callers_orders_the_one_their_words_describe_is_looked_up(classifier):
    crm = Crm(orders=[
        {"order_id": "AB-101", "phone": "+15550100", "product": "Two tins of smoked salmon, collected at the shop",
         "status": "Collected"},
        {"order_id": "AB-102", "phone": "+15550100", "product": "Gift hamper, shipping to Denver, CO",
         "status": "Out for Delivery"},
        {"order_id": "AB-103", "phone": "+15550100", "product": "Gift hamper, shipping to Austin, TX",
         "status": "Packed"}])
    policy = Policy("Acme", crm, classifier, "+1")
    state = CallState(caller_id="+15550100")
    intent, reply = turn(policy, state, "Hi, where's my order, the hamper I sent to my sister in Denver?")
    assert intent == "order_status" and state.slots["order_id"] == "AB-102" and "out for delivery" in \
        reply.immediate_response.lower()
    state = CallState(caller_id="+15550100")
    intent, reply = turn(policy, state, "Hi, where's my order, the gift hamper?")  # two hampers: which one?
    assert intent == "order_status" and "order_id" not in state.slots and reply.needs_clarification


def test_a_person_asked_for_in_a_complaint_call_is_one_who_handles_complaints(classifier):
    crm = Crm(agents=[{"name": "Ana", "expertise": ["orders", "shipping", "claims", "complaints"], "status": "available"},
                      {"name": "Marc", "expertise": ["sales", "wholesale", "corporate gifts"], "status": "available"}])
    policy = Policy("Acme", crm, classifier, "+1")
    state = CallState(caller_id="+15550100")
    state.complaint = "I'm not happy at all, half of the box I sent my son arrived dead, that's just not right."
    state.question = "Can you email me the address for the photos and what you need, so I can forward it?"
    intent, reply = turn(policy, state, "And honestly, I'd like to talk to an actual person about this.")
    assert intent == "speak_to_human" and "Ana" in reply.immediate_response


def test_the_person_a_caller_is_put_through_to_is_said_with_what_they_look_after(classifier):
    crm = Crm(agents=[{"name": "Dwayne", "expertise": ["billing", "accounts"], "status": "available"},
                      {"name": "Marc", "expertise": ["sales", "wholesale"], "status": "available"}])
    policy = Policy("Acme", crm, classifier, "+1")
    intent, reply = turn(policy, CallState(caller_id="+15550100"), "Can I talk to someone in billing, please?")
    assert intent == "speak_to_human" and "Dwayne, who looks after billing," in reply.immediate_response
