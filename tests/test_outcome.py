"""The comparisons every scenario check uses, per-turn and after the call: one set of rules for both."""

import pytest

from appliance.outcome import digits, same, score_after


@pytest.mark.parametrize("key, want, got, expected", [
    ("phone", "+919876543210", "9876543210", True),
    ("whatsapp_number", "+919876543210", "+91 98765 43211", False),
    ("to", "user@example.com", "User@Example.com", True),
    ("callback_time", "2025-10-06T10:00:00+05:30", "2025-10-06T04:30:00+00:00", True),
    ("at", "2025-10-06T10:00:00+05:30", "tomorrow", False),
    ("missing_info", ["callback_time"], ["callback_time", "phone"], True),
    ("missing_info", ["order_id"], None, False),
    ("order_id", None, "ORD1", True),
    ("order_id", None, None, False),
    ("issue_type", "delivery_delay", "Delivery_Delay", True),
])
def test_values_are_compared_after_normalising(key, want, got, expected):
    assert same(key, want, got, "+91") is expected


def test_digits_are_compared_as_digits():
    assert digits("₹2,999 a month") == "₹2999 a month" and "2999" in digits("Professional: 2,999")


def test_after_wants_each_item_and_nothing_where_the_list_is_empty():
    outcome = {"sms": [{"to": "+919876543210", "text": "Your callback is at 10 AM"}], "emails": []}
    checks = score_after({"sms": [{"to": "9876543210", "mentions": ["10"]}], "emails": []}, outcome, "+91")
    assert [c["ok"] for c in checks] == [True, True]
    checks = score_after({"sms": [], "emails": [{"to": "user@example.com"}]}, outcome, "+91")
    assert [c["ok"] for c in checks] == [False, False]
