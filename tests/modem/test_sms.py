"""SMS PDUs against vectors worked out by hand from 3GPP TS 23.040, and the joining of concatenated parts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from appliance.modem import sms

MOMENT = datetime(2024, 1, 12, 12, 34, 56, tzinfo=timezone.utc)
# SMSC +15550000000 | DELIVER, no more messages | from +15557654321 | PID 0 | DCS GSM-7 | 24-01-12 12:34:56 +0 |
# 4 septets | STOP
STOP_DELIVER = "07915155000000F0" "04" "0B915155674523F1" "00" "00" "42102121436500" "04" "53EA130A"


def user_data(submit: str) -> str:
    """TP-UDL and TP-UD of a SUBMIT to an 11-digit number: after SMSC, first octet, MR, address (2 + 6 octets),
    PID, DCS and VP, 14 octets in all."""
    return submit[28:]


def test_submit_of_hellohello():
    # no SMSC | SUBMIT, relative validity | MR 0 | +15551234567 | PID 0 | GSM-7 | 24 h | 10 septets | hellohello
    assert sms.submit_pdus("+15551234567", "hellohello", report=False) == [
        "00" "11" "00" "0B915155214365F7" "00" "00" "A7" "0A" "E8329BFD4697D9EC37"]


def test_a_status_report_request_sets_bit_5():
    [pdu] = sms.submit_pdus("+15551234567", "hellohello", report=True)
    assert pdu[2:4] == "31"


def test_a_national_number_is_sent_as_dialled():
    assert sms.encode_address("555 1234").hex().upper() == "0781551532F4"
    assert sms.encode_address("+1 (555) 123-4567").hex().upper() == "0B915155214365F7"


@pytest.mark.parametrize("number", ["", "+", "call me", "12345678901234567890123", "+1555-CALL"])
def test_what_is_not_a_phone_number_is_refused(number):
    with pytest.raises(ValueError, match="not a phone number"):
        sms.submit_pdus(number, "hello")


def test_tpdu_length_leaves_out_the_service_centre():
    [pdu] = sms.submit_pdus("+15551234567", "hellohello", report=False)
    assert sms.tpdu_length(pdu) == 23
    assert sms.tpdu_length(STOP_DELIVER) == len(STOP_DELIVER) // 2 - 8


def test_a_long_gsm7_text_gets_a_concatenation_header_and_a_fill_bit():
    pdus = sms.submit_pdus("+15551234567", "x" * 400, report=True, reference=7)
    assert len(pdus) == 3
    # UDHI|SRR|SUBMIT|VPF; UDL 160 septets; header 05 00 03 ref total seq; 'x' after one fill bit is F0
    assert pdus[0][2:4] == "71"
    assert user_data(pdus[0]).startswith("A0" "050003070301" "F0")
    assert user_data(pdus[2]).startswith("65" "050003070303")  # 7 header septets + 94 = 101


def test_a_long_ucs2_text_counts_octets():
    pdus = sms.submit_pdus("+15551234567", "ж" * 100, reference=9)
    assert [pdu[24:26] for pdu in pdus] == ["08", "08"]  # DCS UCS2 in both parts
    assert user_data(pdus[0]).startswith("8C" "050003090201" "0436")  # 6 + 67 * 2 = 140 octets; ж is U+0436
    assert user_data(pdus[1]).startswith("48" "050003090202")  # 6 + 33 * 2 = 72


def test_parse_a_deliver():
    message = sms.parse_pdu(STOP_DELIVER)
    assert message == sms.Deliver("+15557654321", "STOP", MOMENT)


def test_parse_a_deliver_from_a_name():
    # alphanumeric sender (type D0): "Bank" packed in 7 semi-octets
    message = sms.parse_pdu("07915155000000F0" "04" "07D0C2B07B0D" "0000" "42102121436500" "04" "53EA130A")
    assert message.number == "Bank"


def test_parse_a_ucs2_deliver():
    text = "नमस्ते 👍"
    pdu = "00" "04" "0B915155674523F1" "00" "08" "42102121436500" "12" + text.encode("utf-16-be").hex()
    assert sms.parse_pdu(pdu).text == text


def test_parse_a_deliver_part():
    # header, one fill bit, then STOP: A6 (S<<1), D4 (T, O's low bit), 27 (O>>1, P's low bits), 14 (P>>2)
    pdu = "00" "44" "0B915155674523F1" "00" "00" "42102121436500" "0B" "050003AB0201" "A6D42714"
    part = sms.parse_pdu(pdu)
    assert (part.concat, part.text) == (sms.Concat(0xAB, 2, 1), "STOP")


@pytest.mark.parametrize("status, state", [(0x00, "delivered"), (0x20, "pending"), (0x41, "failed"),
                                           (0x62, "failed")])
def test_parse_a_status_report(status, state):
    # SMSC | STATUS-REPORT, no more | MR 46 | +15551234567 | sent 12:34:56 | done 12:35:56 | TP-ST
    pdu = f"07915155000000F0" "06" "2E" "0B915155214365F7" "42102121436500" "42102121536500" f"{status:02X}"
    report = sms.parse_pdu(pdu)
    assert (report.reference, report.number, report.status, report.state) == (46, "+15551234567", status, state)
    assert report.discharged - report.timestamp == timedelta(minutes=1)


@pytest.mark.parametrize("octet, offset", [("00", timedelta(0)), ("0A", timedelta(hours=-5)),
                                           ("22", timedelta(hours=5, minutes=30))])
def test_timestamp_zones_are_quarter_hours_with_a_sign_bit(octet, offset):
    moment = sms.decode_timestamp(bytes.fromhex("421021214365" + octet))
    assert moment.utcoffset() == offset
    assert sms.encode_timestamp(moment).hex().upper() == "421021214365" + octet


def test_a_truncated_pdu_is_a_value_error():
    with pytest.raises(ValueError, match="ends early"):
        sms.parse_pdu(STOP_DELIVER[:30])


def test_what_is_built_parses_back():
    deliver = sms.deliver_pdus("+15557654321", "Grüße € ok", MOMENT)
    report = sms.status_report_pdu(200, "5551234", 0x46, MOMENT, MOMENT)
    [submit] = sms.submit_pdus("5551234", "नमस्ते", report=True)
    assert sms.parse_pdu(deliver[0]) == sms.Deliver("+15557654321", "Grüße € ok", MOMENT)
    assert sms.parse_pdu(report).state == "failed"
    assert sms.parse_pdu(submit) == sms.Submit("5551234", "नमस्ते", True)


def test_parts_are_joined_in_order_whatever_order_they_come_in():
    text = "The refund for order 1234 went out today. " * 10
    parts = [sms.parse_pdu(pdu) for pdu in sms.deliver_pdus("+15557654321", text, MOMENT, reference=3)]
    other = [sms.parse_pdu(pdu) for pdu in sms.deliver_pdus("+15550001111", "x" * 200, MOMENT, reference=3)]
    assembler = sms.Assembler()
    assert [assembler.add(part) for part in (parts[2], other[0], parts[0])] == [None, None, None]
    message = assembler.add(parts[1])
    assert (message.number, message.text, message.timestamp, len(message.parts)) == ("+15557654321", text, MOMENT, 3)


def test_a_single_part_is_a_message_at_once():
    message = sms.Assembler().add(sms.parse_pdu(STOP_DELIVER))
    assert (message.number, message.text) == ("+15557654321", "STOP")
