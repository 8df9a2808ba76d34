import shutil

import pytest

from appliance.dialogue.prompt import messages, system_prompt
from appliance.errors import ApplianceError
from appliance.knowledge.index import Passage
from appliance.llm.llama import LlamaResponder, merge_system
from appliance.llm.reply import INTENTS

REFUND = Passage("refund-policy.md", "TechCorp refund policy",
                 "We offer a 30-day money-back guarantee on every purchase. Refunds are processed within 5-7 "
                 "business days.", 0.6)


@pytest.fixture(scope="module")
def tiny(store):
    return LlamaResponder(store.checked_path("llm-tiny"), max_tokens=1024)


def test_tiny_model_streams_a_schema_valid_reply(tiny):
    deltas = []
    result = tiny.respond(messages("TechCorp", "What is your refund policy?", [REFUND]), on_text=deltas.append)
    assert result.reply.intent in INTENTS
    assert "".join(deltas).strip() == result.reply.immediate_response
    assert result.first_token_ms <= result.first_text_ms <= result.total_ms
    assert result.tokens > 5


def test_the_warm_system_prompt_is_reused_from_the_kv_cache(tiny):
    system = system_prompt("TechCorp")
    tiny.warm(system)
    system_tokens = tiny.static_tokens
    assert system_tokens > len(system) // 8  # the whole system prompt, in tokens
    first = tiny.respond(messages("TechCorp", "Hello?", []))
    assert first.reused_tokens >= system_tokens
    second = tiny.respond(messages("TechCorp", "Where is my order?", [REFUND]))
    assert second.reused_tokens >= system_tokens
    assert second.prompt_tokens > second.reused_tokens


def test_templates_without_a_system_role_get_it_in_the_first_user_turn():
    merged = merge_system([{"role": "system", "content": "Rules."}, {"role": "user", "content": "Hi"},
                           {"role": "assistant", "content": "Hello"}])
    assert merged == [{"role": "user", "content": "Rules.\n\nHi"}, {"role": "assistant", "content": "Hello"}]


@pytest.mark.parametrize("damage", ["truncate", "header"])
def test_a_damaged_gguf_is_refused_by_name(store, tmp_path, damage):
    copy = tmp_path / "model.gguf"
    shutil.copy(store.checked_path("llm-tiny"), copy)
    data = copy.read_bytes()
    copy.write_bytes(data[: len(data) // 3] if damage == "truncate" else b"GGUX" + data[4:])
    with pytest.raises(ApplianceError) as error:
        LlamaResponder(copy)
    assert error.value.code == "llm-model-invalid" and str(copy) in str(error.value)


def test_default_model_answers_the_refund_question_from_the_passage(store):
    responder = LlamaResponder(store.checked_path("llm"))
    responder.warm(system_prompt("TechCorp"))
    result = responder.respond(messages("TechCorp", "What is your refund policy?", [REFUND]))
    assert result.reply.intent == "policy_query", result.raw
    assert "30" in result.reply.immediate_response, result.raw
    assert result.reply.used_knowledge, result.raw
