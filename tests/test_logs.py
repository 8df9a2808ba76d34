import logging

from appliance.logs import MaskingFormatter, mask


def test_phone_numbers_keep_only_their_first_and_last_digits():
    assert mask("sms 3 to +447700900123: sent") == "sms 3 to +4477****123: sent"
    assert mask("callback 2 to 07700 900123, attempt 1") == "callback 2 to 0770****123, attempt 1"
    assert mask("caller said 'my number is 555-123-4567'") == "caller said 'my number is 5551****567'"
    assert mask("call from sip:+15551234567@192.0.2.10") == "call from sip:+1555****567@192.0.2.10"


def test_what_is_not_a_phone_number_is_left_alone():
    text = ("call 12 started at 2026-12-02 20:06:29 from 192.168.1.20:5060, RTP 127.0.0.1:10000, "
            "uuid ca11e71d-1f2e-8447-8700-900123456789, order GL-20431, 491000 bytes")
    assert mask(text) == text


def test_email_addresses_keep_their_first_letter_and_domain_but_sip_addresses_stay():
    assert mask("queued email to maria.lopez@example.co.uk (4)") == "queued email to m***@example.co.uk (4)"
    assert mask("transferred to sip:201@pbx.local") == "transferred to sip:201@pbx.local"


def test_the_journal_gets_one_line_per_record_with_its_priority():
    record = logging.LogRecord("appliance.actions", logging.WARNING, __file__, 1, "sms to %s failed:\n%s", ("+447700900123", "busy"), None)
    line = MaskingFormatter("%(levelname)s %(name)s: %(message)s", journal=True).format(record)
    assert line == "<4>WARNING appliance.actions: sms to +4477****123 failed: | busy"
    assert "+447700900123" in MaskingFormatter("%(message)s", masking=False).format(record)
