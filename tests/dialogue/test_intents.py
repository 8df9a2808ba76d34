"""The caller's intent by meaning, clause by clause, with the real MiniLM embedder."""

import pytest

from appliance.dialogue.intents import EXAMPLES, IntentClassifier, clauses


@pytest.fixture(scope="module")
def classifier(embedder):
    return IntentClassifier(embedder)


@pytest.mark.parametrize("text, parts", [
    ("No thanks, I just want to know when it comes", ["No", "thanks", "I just want to know when it comes"]),
    ("Okay, yes, put me through", ["Okay", "yes", "put me through"]),
    ("That's all. Thank you!", ["That's all.", "Thank you!"]),
    ("I like it but how much is it?", ["I like it", "how much is it?"]),
    ("Yes", ["Yes"]),
])
def test_a_turn_is_cut_where_the_caller_starts_a_new_thought(text, parts):
    assert clauses(text) == parts


def test_the_examples_name_no_company():
    words = " ".join(text for texts in EXAMPLES.values() for text in texts).lower()
    assert "techcorp" not in words and "ord" not in words.split()


@pytest.mark.parametrize("text, task", [
    ("can you send me a text with that", "send_details_sms"),
    ("could you pop that in an email for me", "send_details_email"),
    ("I'd rather get it over WhatsApp", "send_details_whatsapp"),
    ("can somebody phone me back on Thursday", "callback_request"),
    ("any news on the thing I ordered", "order_status"),
    ("honestly this has been a nightmare, it arrived broken", "complaint"),
    ("I'd like to speak with an actual person", "speak_to_human"),
])
def test_tasks_in_words_the_examples_do_not_use(classifier, text, task):
    assert classifier.read(text).task == task


@pytest.mark.parametrize("text", ["What time do you close on Sundays?", "Is the large one waterproof?",
                                  "How does the warranty work?"])
def test_questions_are_no_task(classifier, text):
    reading = classifier.read(text)
    assert reading.task is None and reading.question


def test_a_question_after_a_yes_like_opening_is_still_a_question(classifier):
    assert classifier.read("Fair enough, I suppose. What number should she ring you on, so?").question


def test_a_name_said_as_it_does_not_decide_the_task(classifier):
    mask = lambda text: text.replace("the Gold plan", "it")  # noqa: E731 (what Catalog.mask does)
    assert classifier.read("I'd like to order the Gold plan", mask).buying
