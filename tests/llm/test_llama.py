import shutil

import pytest

from appliance.dialogue.prompt import messages, system_prompt
from appliance.errors import ApplianceError
from appliance.knowledge.index import Passage
from appliance.llm.llama import LlamaResponder, merge_system
from appliance.llm.reply import Answer

REFUND = Passage("refund-policy.md", "TechCorp refund policy",
                 "We offer a 30-day money-back guarantee on every purchase. Refunds are processed within 5-7 "
                 "business days.", 0.6)


@pytest.fixture(scope="module")
def tiny(store):
    return LlamaResponder(store.checked_path("llm-tiny"))


def test_tiny_model_streams_a_schema_valid_reply(tiny):
    deltas = []
    result = tiny.respond(messages("TechCorp", "What is your refund policy?", [REFUND]), on_text=deltas.append)
    assert isinstance(result.reply, Answer) and result.reply.immediate_response
    assert len(deltas) > 1  # streamed while the JSON was generated, not handed over at the end
    assert "".join(deltas).strip() == result.reply.immediate_response
    assert result.raw.lstrip().startswith('{ "immediate_response"') or result.raw.startswith('{"immediate_response"')
    assert result.first_token_ms <= result.first_text_ms <= result.total_ms
    assert 5 < result.tokens <= tiny.max_tokens


def test_the_warm_system_prompt_is_reused_from_the_kv_cache(tiny):
    tiny.warm(system_prompt("TechCorp"))
    static = tiny.static_tokens
    first = tiny.respond(messages("TechCorp", "Hello?", []))
    assert first.reused_tokens >= static  # the cache held the system prompt (and the template's next tokens)
    assert 0 < first.evaluated_tokens < 40  # only the caller's turn and the template around it
    second = tiny.respond(messages("TechCorp", "Where is my order?", [REFUND]))
    assert static <= second.reused_tokens < second.prompt_tokens
    again = tiny.respond(messages("TechCorp", "Where is my order?", [REFUND]))
    assert again.evaluated_tokens == 1  # llama-cpp evaluates the last prompt token again, for fresh logits


def test_the_static_prefix_is_the_system_prompt_in_the_template(tiny):
    tiny.warm("You are a helpful assistant of TechCorp.")
    short = tiny.static_tokens
    tiny.warm(system_prompt("TechCorp"))
    assert tiny.static_tokens > short + 150  # the appliance's prompt is a few hundred tokens long
    turn = tiny.prompt_tokens(messages("TechCorp", "Hello?", []))
    assert tiny.cached_prefix(turn) == tiny.static_tokens


def test_templates_without_a_system_role_get_it_in_the_first_user_turn():
    merged = merge_system([{"role": "system", "content": "Rules."}, {"role": "user", "content": "Hi"},
                           {"role": "assistant", "content": "Hello"}])
    assert merged == [{"role": "user", "content": "Rules.\n\nHi"}, {"role": "assistant", "content": "Hello"}]


def test_a_prompt_longer_than_the_context_is_refused(store):
    small = LlamaResponder(store.checked_path("llm-tiny"), context_tokens=512, max_tokens=300)
    with pytest.raises(ApplianceError) as error:
        small.respond(messages("TechCorp", "What is your refund policy?", [REFUND]))
    assert error.value.code == "llm-prompt-too-long" and "512" in str(error.value)


@pytest.mark.parametrize("damage", ["truncate", "header"])
def test_a_damaged_gguf_is_refused_by_name(store, tmp_path, damage):
    copy = tmp_path / "model.gguf"
    shutil.copy(store.checked_path("llm-tiny"), copy)
    data = copy.read_bytes()
    copy.write_bytes(data[: len(data) // 3] if damage == "truncate" else b"GGUX" + data[4:])
    with pytest.raises(ApplianceError) as error:
        LlamaResponder(copy)
    assert error.value.code == "llm-model-invalid" and str(copy) in str(error.value)


def test_a_missing_gguf_is_refused_by_name(tmp_path):
    with pytest.raises(ApplianceError) as error:
        LlamaResponder(tmp_path / "nothing.gguf")
    assert error.value.code == "llm-model-missing" and "nothing.gguf" in str(error.value)


def test_default_model_answers_the_refund_question_from_the_passage(store):
    responder = LlamaResponder(store.checked_path("llm"))
    responder.warm(system_prompt("TechCorp"))
    deltas = []
    result = responder.respond(messages("TechCorp", "What is your refund policy?", [REFUND]), on_text=deltas.append)
    assert "30" in result.reply.immediate_response, result.raw
    assert result.reply.used_knowledge and not result.reply.escalate_to_human, result.raw
    assert "".join(deltas).strip() == result.reply.immediate_response
    assert result.reused_tokens >= responder.static_tokens
