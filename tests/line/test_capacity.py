"""The box's call slots, and what a new call and a proxy's OPTIONS get from them."""

from __future__ import annotations

from appliance.line.capacity import Capacity


def test_a_box_with_a_free_slot_takes_the_call():
    capacity = Capacity(2, 1)
    assert (capacity.accepting, capacity.free, capacity.why_not, capacity.retry_after_s) == (True, 1, "", None)
    assert capacity.refusal() is None


def test_a_full_box_plays_the_busy_message_alone_and_refuses_with_486_behind_a_proxy():
    assert Capacity(2, 2).refusal() is None  # overflow = message: the caller hears the busy message
    full = Capacity(2, 2, overflow="reject")
    assert (full.accepting, full.free, full.why_not, full.refusal()) == (False, 0, "full", 486)


def test_a_drained_box_takes_no_call_and_says_503():
    drained = Capacity(0, overflow="reject")
    assert (drained.why_not, drained.refusal(), drained.retry_after_s) == ("drained", 503, 300)
    assert Capacity(0).refusal() is None  # alone, it still says it is busy rather than ring out


def test_a_stopping_box_refuses_every_new_call_with_503_whatever_overflow_says():
    for overflow in ("message", "reject"):
        stopping = Capacity(4, 1, stopping=True, overflow=overflow)
        assert (stopping.why_not, stopping.free, stopping.refusal(), stopping.retry_after_s) == ("stopping", 0, 503, 60)


def test_the_health_output_says_slots_and_why():
    assert Capacity(3, 1, overflow="reject").to_dict() == {"max_calls": 3, "in_progress": 1, "free": 2,
                                                            "accepting": True, "why_not": "", "overflow": "reject"}
