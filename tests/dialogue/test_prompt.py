"""A small knowledge base goes whole into the warm prompt; each turn then names its passages by number."""

from appliance.dialogue.prompt import messages, system_prompt, turn_message, whole_knowledge
from appliance.settings import Settings


def test_a_small_knowledge_base_fits_and_a_tight_budget_keeps_it_out(index):
    every = whole_knowledge(index, 6000)
    assert len(every) == index.count() and {p.source for p in every} >= {"refund-policy.md", "pricing-plans.md"}
    assert whole_knowledge(index, 500) == [] and whole_knowledge(index, 0) == []
    assert Settings().knowledge.prompt_chars >= sum(len(p.heading) + len(p.text) for p in every)


def test_the_passages_sit_in_the_static_prompt_and_turns_point_at_them(index):
    every = whole_knowledge(index, 6000)
    system = system_prompt("TechCorp", every)
    assert system.startswith(system_prompt("TechCorp")) and "30-day money-back guarantee" in system
    found = index.search("What is your refund policy?", k=2, min_score=0.35)
    numbers = [n for n, p in enumerate(every, 1) if p.source == "refund-policy.md"]
    turn = turn_message("What is your refund policy?", found, every)
    assert turn.endswith("Caller: What is your refund policy?") and "30-day" not in turn
    assert all(f"[{n}]" in turn for n in numbers[:len(found)])
    assert turn_message("Do you sell cars?", [], every).startswith("Passages for this question: none")
    assert "30-day" in messages("TechCorp", "What is your refund policy?", found)[-1]["content"]  # no knowledge: text


def test_the_model_answers_from_the_passages_in_its_warm_prompt(index, store):
    from appliance import engines

    every = whole_knowledge(index, 6000)
    responder = engines.responder(Settings(), store)
    responder.warm(system_prompt("TechCorp", every))
    assert responder.static_tokens > 600  # the passages were evaluated once, with the instructions
    found = index.search("What is your refund policy?", k=3, min_score=0.35)
    result = responder.respond(messages("TechCorp", "What is your refund policy?", found, (), every))
    assert "30" in result.reply.immediate_response
