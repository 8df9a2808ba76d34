import json

import pytest

from appliance.errors import ApplianceError
from appliance.llm.reply import ANSWER_SCHEMA, REPLY_SCHEMA, Answer, SpokenTextStream

GOOD = {"immediate_response": "We offer a 30-day guarantee.", "used_knowledge": True, "escalate_to_human": False}


def walk(schema):
    yield schema
    for value in schema.get("properties", {}).values():
        yield from walk(value)
    if "items" in schema:
        yield from walk(schema["items"])


@pytest.mark.parametrize("schema", [REPLY_SCHEMA, ANSWER_SCHEMA])
def test_every_string_and_array_is_bounded_and_spoken_text_comes_first(schema):
    for node in walk(schema):
        if node.get("type") == "string" and "enum" not in node:
            assert "maxLength" in node
        if node.get("type") == "array":
            assert "maxItems" in node
        if node.get("type") == "object":
            assert node.get("additionalProperties") is False
    assert list(schema["properties"])[0] == "immediate_response"


def test_the_model_is_asked_only_for_what_is_used():
    assert set(ANSWER_SCHEMA["properties"]) == {"immediate_response", "used_knowledge", "escalate_to_human"}
    assert set(ANSWER_SCHEMA["properties"]) <= set(REPLY_SCHEMA["properties"])


def test_a_good_answer_parses():
    answer = Answer.from_json(json.dumps({**GOOD, "immediate_response": " We offer a 30-day guarantee. "}))
    assert answer == Answer("We offer a 30-day guarantee.", True, False)


@pytest.mark.parametrize("text, words", [
    ('{"immediate_response": "Hi", "used_knowledge": true', "not JSON"),
    ("[1, 2]", "not a JSON object"),
    (json.dumps({**GOOD, "intent": "greeting"}), "intent"),
    (json.dumps({**GOOD, "immediate_response": " "}), "immediate_response"),
    (json.dumps({**GOOD, "used_knowledge": "yes"}), "used_knowledge"),
    (json.dumps({**GOOD, "escalate_to_human": 1}), "escalate_to_human"),
])
def test_bad_answers_are_clear_errors(text, words):
    with pytest.raises(ApplianceError) as error:
        Answer.from_json(text)
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
