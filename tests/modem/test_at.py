"""The AT parser on byte captures: final results, answers, the SMS prompt and URCs at any moment."""

from __future__ import annotations

import pytest

from appliance.modem.at import (AtParser, CallerId, Final, Info, MessageShown, MessageStored, NoCarrier, Prompt,
                                RegistrationChanged, Ring, StatusReportShown, Unsolicited, command_name, split_args)


def answer(command: str, data: bytes) -> list:
    parser = AtParser()
    parser.command(command)
    return parser.feed(data)


def test_a_command_goes_out_with_a_carriage_return():
    assert AtParser().command("AT+CSQ") == b"AT+CSQ\r"


def test_information_lines_then_ok():
    assert answer("AT+CSQ", b"\r\n+CSQ: 18,99\r\n\r\nOK\r\n") == [Info("+CSQ: 18,99"), Final("OK")]


def test_lines_without_a_name_belong_to_the_command():
    assert answer("AT+CGMI", b"\r\nSIMCOM INCORPORATED\r\n\r\nOK\r\n") == [Info("SIMCOM INCORPORATED"), Final("OK")]


@pytest.mark.parametrize("line, number, meaning", [
    (b"+CME ERROR: 10", 10, "SIM not inserted"),
    (b"+CME ERROR: 11", 11, "SIM PIN required"),
    (b"+CME ERROR: 30", 30, "no network service"),
    (b"+CMS ERROR: 304", 304, "invalid PDU mode parameter"),
    (b"+CMS ERROR: 305", 305, "invalid text mode parameter"),
    (b"+CMS ERROR: 330", 330, "SMSC address unknown"),
    (b"+CMS ERROR: 331", 331, "no network service"),
    (b"+CMS ERROR: 500", 500, "unknown error"),
    (b"+CMS ERROR: 512", 512, "manufacturer-specific error"),
])
def test_numbered_errors_carry_their_meaning(line, number, meaning):
    [final] = answer("AT+CMGS=23", b"\r\n" + line + b"\r\n")
    assert (final.ok, final.number, final.meaning) == (False, number, meaning)
    assert final.result == line.decode().split(":")[0]


def test_verbose_errors_are_matched_back_to_their_number():
    [final] = answer("AT+CPIN?", b"\r\n+CME ERROR: SIM not inserted\r\n")
    assert final == Final("+CME ERROR", 10, "SIM not inserted")


def test_plain_error():
    assert answer("AT+XYZ", b"\r\nERROR\r\n") == [Final("ERROR")]


def test_the_echo_of_the_command_is_dropped():
    assert answer("ATE0", b"ATE0\r\r\nOK\r\n") == [Final("OK")]


def test_bytes_may_come_one_at_a_time():
    parser = AtParser()
    parser.command("AT+CREG?")
    events = [event for byte in b"\r\n+CREG: 0,5\r\n\r\nOK\r\n" for event in parser.feed(bytes([byte]))]
    assert events == [Info("+CREG: 0,5"), Final("OK")]


def test_a_urc_in_the_middle_of_an_answer_is_told_apart():
    events = answer("AT+CMGL=4", b'\r\n+CMGL: 0,1,,22\r\n+CMTI: "SM",3\r\n0791AB\r\n\r\nOK\r\n')
    assert events == [Info("+CMGL: 0,1,,22"), MessageStored("SM", 3), Info("0791AB"), Final("OK")]


def test_creg_answers_a_query_but_is_a_urc_otherwise():
    assert answer("AT+CREG?", b"\r\n+CREG: 1,5\r\n\r\nOK\r\n")[0] == Info("+CREG: 1,5")
    assert answer("AT+CREG=1", b"\r\n+CREG: 2\r\n\r\nOK\r\n")[0] == RegistrationChanged(2)
    assert AtParser().feed(b'\r\n+CREG: 1,"00C3","0010F0A2"\r\n') == [RegistrationChanged(1)]


def test_the_sms_prompt_has_no_line_end():
    parser = AtParser()
    parser.command("AT+CMGS=23")
    assert parser.feed(b"\r\n> ") == [Prompt()]
    assert parser.body("0011") == b"0011\x1a"
    assert parser.feed(b"\r\n+CMGS: 12\r\n\r\nOK\r\n") == [Info("+CMGS: 12"), Final("OK")]


def test_the_echo_of_the_body_is_dropped_and_a_prompt_is_only_for_cmgs():
    parser = AtParser()
    parser.command("AT+CMGS=23")
    assert parser.feed(b"AT+CMGS=23\r\r\n> ") == [Prompt()]
    parser.body("0011")
    assert parser.feed(b"0011\x1a\r\n+CMGS: 7\r\n\r\nOK\r\n") == [Info("+CMGS: 7"), Final("OK")]
    parser.command("AT+CSQ")
    assert parser.feed(b"\r\n> ") == []


def test_a_failed_send_ends_without_a_prompt():
    assert answer("AT+CMGS=23", b"\r\n+CMS ERROR: 331\r\n") == [Final("+CMS ERROR", 331, "no network service")]


def test_ring_and_caller_id():
    events = AtParser().feed(b'\r\nRING\r\n\r\n+CLIP: "+15551234567",145,"",0,"",0\r\n')
    assert events == [Ring(), CallerId("+15551234567", 145)]


def test_a_withheld_caller_has_an_empty_number():
    assert AtParser().feed(b'\r\n+CLIP: "",128,"",0,"",1\r\n') == [CallerId("", 128)]


def test_no_carrier_ends_a_dial_but_is_a_hang_up_otherwise():
    assert answer("ATD+15551234567;", b"\r\nNO CARRIER\r\n") == [Final("NO CARRIER")]
    assert answer("ATD+15551234567;", b"\r\nBUSY\r\n") == [Final("BUSY")]
    assert answer("AT+CSQ", b"\r\nNO CARRIER\r\n\r\n+CSQ: 9,99\r\n\r\nOK\r\n") == [
        NoCarrier(), Info("+CSQ: 9,99"), Final("OK")]


def test_new_message_and_stored_report_indications():
    assert AtParser().feed(b'\r\n+CMTI: "SM",3\r\n\r\n+CDSI: "ME",12\r\n') == [
        MessageStored("SM", 3), MessageStored("ME", 12)]


def test_a_status_report_in_pdu_mode_takes_two_lines():
    parser = AtParser()
    assert parser.feed(b"\r\n+CDS: 25\r\n") == []
    assert parser.feed(b"00062E0B915155214365F7\r\n") == [StatusReportShown(pdu="00062E0B915155214365F7")]


def test_a_status_report_in_text_mode_is_one_line():
    line = b'\r\n+CDS: 6,46,"+15551234567",145,"24/01/12,12:34:56+00","24/01/12,12:35:56+00",0\r\n'
    assert AtParser().feed(line) == [StatusReportShown(reference=46, status=0)]


def test_a_status_report_may_arrive_while_a_send_waits_for_its_prompt():
    parser = AtParser()
    parser.command("AT+CMGS=23")
    assert parser.feed(b"\r\n+CDS: 25\r\n0006\r\n\r\n> ") == [StatusReportShown(pdu="0006"), Prompt()]


def test_a_message_shown_directly_takes_two_lines():
    assert AtParser().feed(b"\r\n+CMT: ,24\r\n0791AB\r\n") == [MessageShown("+CMT: ,24", "0791AB")]


def test_lines_nobody_asked_for():
    parser = AtParser()
    assert parser.feed(b"\r\nSMS DONE\r\n\r\nOK\r\n") == [Unsolicited("SMS DONE"), Unsolicited("OK")]


def test_values_keep_commas_inside_quotes():
    assert split_args('"Smith, J",145,,"x"') == ["Smith, J", "145", "", "x"]


@pytest.mark.parametrize("line, name", [
    ("AT+CMGS=23", "+CMGS"), ("AT+CREG?", "+CREG"), ("AT+CSQ", "+CSQ"), ("AT+cops=?", "+COPS"),
    ("ATD+15551234567;", "D"), ("ATA", "A"), ("AT", ""),
])
def test_command_names(line, name):
    assert command_name(line) == name


def test_a_garbled_urc_is_passed_on_not_raised():
    assert AtParser().feed(b'\r\n+CMTI: "SM",x\r\n+CREG: \r\n') == [Unsolicited('+CMTI: "SM",x'), Unsolicited("+CREG:")]
