import json

import pytest

from appliance.errors import ApplianceError
from appliance.llm.reply import ACTIONS, INTENTS, REPLY_SCHEMA, Reply, SpokenTextStream

GOOD = {"immediate_response": "We offer a 30-day guarantee.", "intent": "policy_query",
        "entities": {"email": "user@example.com", "order_id": ""}, "needs_clarification": False,
        "actions": ["send_email"], "used_knowledge": True, "escalate_to_human": False}


def walk(schema):
    yield schema
    for value in schema.get("properties", {}).values():
        yield from walk(value)
    if "items" in schema:
        yield from walk(schema["items"])


def test_every_string_and_array_is_bounded_and_spoken_text_comes_first():
    for node in walk(REPLY_SCHEMA):
        if node.get("type") == "string" and "enum" not in node:
            assert "maxLength" in node
        if node.get("type") == "array":
            assert "maxItems" in node
        if node.get("type") == "object":
            assert node.get("additionalProperties") is False
    assert list(REPLY_SCHEMA["properties"])[0] == "immediate_response"
    assert REPLY_SCHEMA["properties"]["intent"]["enum"] == list(INTENTS)
    assert REPLY_SCHEMA["properties"]["actions"]["items"]["enum"] == list(ACTIONS)


def test_a_good_reply_parses_and_drops_empty_entities():
    reply = Reply.from_json(json.dumps(GOOD))
    assert reply.intent == "policy_query" and reply.actions == ("send_email",)
    assert reply.entities == {"email": "user@example.com"}
    assert reply.to_dict()["actions"] == ["send_email"]


def test_missing_optional_keys_take_their_defaults():
    reply = Reply.from_json('{"immediate_response": " Hi there. ", "intent": "greeting", "entities": {}}')
    assert reply == Reply("Hi there.", "greeting")


@pytest.mark.parametrize("text, words", [
    ('{"immediate_response": "Hi", "intent": "greeting"', "not JSON"),
    ("[1, 2]", "not a JSON object"),
    (json.dumps({**GOOD, "intent": "sell_kidney"}), "sell_kidney"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "intent"}), "intent None"),
    (json.dumps({**GOOD, "actions": ["wire_money"]}), "wire_money"),
    (json.dumps({**GOOD, "actions": "send_email"}), "actions is not a list"),
    (json.dumps({**GOOD, "immediate_response": " "}), "immediate_response"),
    (json.dumps({**GOOD, "used_knowledge": "yes"}), "used_knowledge"),
    (json.dumps({**GOOD, "mood": "happy"}), "mood"),
    (json.dumps({**GOOD, "entities": {"name": "Ann"}}), "name"),
    (json.dumps({**GOOD, "entities": {"order_id": 12345}}), "order_id"),
    (json.dumps({**GOOD, "entities": {"missing_info": "email"}}), "missing_info"),
    (json.dumps({**GOOD, "entities": []}), "entities is not an object"),
])
def test_bad_replies_are_clear_errors(text, words):
    with pytest.raises(ApplianceError) as error:
        Reply.from_json(text)
    assert error.value.code == "llm-reply-invalid" and words in str(error.value)


def stream(pieces):
    spoken = SpokenTextStream()
    return [spoken.push(piece) for piece in pieces], spoken


def test_spoken_text_streams_out_of_partial_json_one_character_at_a_time():
    text = 'Say "hi" \\ caf\u00e9\tnow / \U0001F600 \u20b940,000.\n'
    raw = json.dumps({"immediate_response": text, "intent": "greeting"})
    assert "\\u20b9" in raw and "\\ud83d\\ude00" in raw  # json.dumps escapes what is not ASCII
    deltas, spoken = stream(list(raw))
    assert "".join(deltas) == text + " "
    assert spoken.done and not any(deltas[raw.index('"intent"'):])


def test_nothing_is_spoken_before_the_value_starts():
    deltas, spoken = stream(['{"immedi', 'ate_response"', ' :', ' "', "Hi"])
    assert deltas == ["", "", "", "", "Hi"] and not spoken.done


def test_escapes_split_across_pieces():
    deltas, _ = stream(['{"immediate_response": "a\\', '"b\\u00', 'e9c', '"', ', "intent": "x"}'])
    assert deltas == ["a", '"b', "éc", " ", ""]


def test_a_surrogate_pair_split_across_pieces_is_one_character():
    deltas, _ = stream(['{"immediate_response": "ok \\ud83d', '\\u', 'de00!"}'])
    assert deltas == ["ok ", "", "\U0001F600! "]


def test_a_lone_surrogate_or_a_bad_escape_does_not_break_the_stream():
    deltas, _ = stream(['{"immediate_response": "a\\ud83d b \\q c"}'])
    assert deltas == ["a\ufffd b q c "]


def test_other_keys_are_ignored_and_text_stops_at_the_closing_quote():
    deltas, _ = stream(['{"intent": "other", ', '"immediate_response"', ' : "Hello', '." , "x": "not spoken"}'])
    assert "".join(deltas) == "Hello. "
