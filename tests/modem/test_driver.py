"""The driver against the SIM7600 simulator over a real pseudo-terminal, through pyserial."""

from __future__ import annotations

import pytest

from appliance.modem.driver import (CallEnded, DeliveryReport, IncomingCall, ModemError, NetworkChanged,
                                    SmsReceived, Status, open_serial)
from appliance.modem.simulator import Simulator

CUSTOMER = "+15551234567"


async def test_open_reports_sim_network_and_signal(simulator):
    async with open_serial(simulator.path) as modem:
        assert await modem.status() == Status("ready", "home", -77)  # rssi 18: -113 + 2 * 18
    assert (simulator.echo, simulator.cmee, simulator.cmgf) == (False, 1, 0)
    assert simulator.cnmi[1] == 1 and simulator.cnmi[3] == 1  # +CMTI for messages, +CDS for reports


async def test_status_follows_the_network(simulator, modem):
    simulator.set_registration(5)
    assert (await modem.status()).registration == "roaming"
    simulator.set_registration(2)
    simulator.signal = 99
    assert await modem.status() == Status("ready", "searching", None)


async def test_a_missing_sim_is_reported_and_sending_fails_for_now():
    async with Simulator(sim=False) as simulator, open_serial(simulator.path) as modem:
        assert (await modem.status()).sim == "missing"
        with pytest.raises(ModemError) as failure:
            await modem.send_sms(CUSTOMER, "hello")
    assert (failure.value.number, failure.value.meaning, failure.value.permanent) == (310, "SIM not inserted", False)


async def test_a_locked_sim_is_reported():
    async with Simulator(pin="1234") as simulator, open_serial(simulator.path) as modem:
        assert (await modem.status()).sim == "pin-required"


async def test_a_short_gsm7_text(simulator, modem):
    references = await modem.send_sms(CUSTOMER, "Your order 1234 ships today. Reply STOP to opt out.")
    [sent] = simulator.sent
    assert (sent.number, sent.report) == (CUSTOMER, True)
    assert sent.text == "Your order 1234 ships today. Reply STOP to opt out."
    assert list(sent.references) == references and len(references) == 1


async def test_a_long_text_goes_in_parts_and_arrives_joined(simulator, modem):
    text = "".join(f"Line {number}: your refund is on its way. " for number in range(12))[:400]
    references = await modem.send_sms(CUSTOMER, text)
    [sent] = simulator.sent
    assert (len(text), sent.text) == (400, text)
    assert list(sent.references) == references and len(set(references)) == 3


@pytest.mark.parametrize("text", ["नमस्ते, आपका रिफंड भेज दिया गया है 🙏", "👍" * 50])
async def test_unicode_goes_as_ucs2(simulator, modem, text):
    await modem.send_sms(CUSTOMER, text)
    assert simulator.sent[-1].text == text


@pytest.mark.parametrize("number, meaning, permanent", [
    (21, "short message transfer rejected", True), (1, "unassigned number", True), (30, "unknown subscriber", True),
    (304, "invalid PDU mode parameter", True), (332, "network timeout", False), (330, "SMSC address unknown", False),
    (500, "unknown error", False), (512, "manufacturer-specific error", False),
])
async def test_cms_errors_say_whether_trying_again_can_help(simulator, modem, number, meaning, permanent):
    simulator.fail_next("+CMGS", cms=number)
    with pytest.raises(ModemError) as failure:
        await modem.send_sms(CUSTOMER, "hello")
    error = failure.value
    assert (error.code, error.number, error.meaning, error.permanent) == (f"modem-cms-{number}", number, meaning,
                                                                          permanent)
    assert simulator.sent == []


async def test_no_network_is_a_passing_failure(simulator, modem):
    simulator.set_registration(2)
    with pytest.raises(ModemError) as failure:
        await modem.send_sms(CUSTOMER, "hello")
    assert (failure.value.number, failure.value.permanent) == (331, False)
    simulator.set_registration(1)
    assert len(await modem.send_sms(CUSTOMER, "hello")) == 1


async def test_a_number_that_is_not_one_fails_for_good_before_the_modem_is_asked(simulator, modem):
    with pytest.raises(ModemError) as failure:
        await modem.send_sms("call me maybe", "hello")
    assert (failure.value.code, failure.value.permanent) == ("modem-sms-invalid", True)
    assert simulator.sent == []


async def test_a_silent_modem_times_out_and_the_next_command_still_works(simulator, modem):
    simulator.ignore_next("+CSQ")
    with pytest.raises(ModemError) as failure:
        await modem.command("AT+CSQ", timeout_s=0.2)
    assert (failure.value.code, failure.value.permanent) == ("modem-timeout", False)
    assert (await modem.status()).signal_dbm == -77


async def test_delivery_reports_name_the_part_they_report_on(simulator, modem, next_event):
    [reference] = await modem.send_sms(CUSTOMER, "hello")
    report = await next_event(modem, DeliveryReport)
    assert (report.reference, report.number, report.state) == (reference, CUSTOMER, "delivered")


async def test_reports_arriving_while_the_next_part_is_sent_are_not_lost(simulator, modem, next_event):
    simulator.report_delay_s = 0  # each report lands while the driver is sending the next part
    references = await modem.send_sms(CUSTOMER, "x" * 400)
    reports = [await next_event(modem, DeliveryReport) for _ in references]
    assert sorted(report.reference for report in reports) == sorted(references)


async def test_a_failed_delivery_is_reported_as_failed(simulator, modem, next_event):
    simulator.report_status = 0x41  # permanent error: incompatible destination
    await modem.send_sms(CUSTOMER, "hello")
    assert (await next_event(modem, DeliveryReport)).state == "failed"


async def test_no_report_is_asked_for_when_not_wanted(simulator, modem):
    await modem.send_sms(CUSTOMER, "hello", report=False)
    assert simulator.sent[0].report is False


async def test_an_incoming_stop_is_read_with_its_sender_and_deleted(simulator, modem, next_event):
    simulator.deliver_sms("+15557654321", "STOP")
    message = await next_event(modem, SmsReceived)
    assert (message.number, message.text, message.parts) == ("+15557654321", "STOP", 1)
    assert message.timestamp is not None
    assert simulator.storage == {}


async def test_an_incoming_long_unicode_message_arrives_joined(simulator, modem, next_event):
    text = "कृपया मेरा ऑर्डर रद्द करें। " * 4
    assert len(simulator.deliver_sms("+15557654321", text)) == 2
    message = await next_event(modem, SmsReceived)
    assert (message.text, message.parts) == (text, 2)
    assert simulator.storage == {}


async def test_messages_stored_while_the_appliance_was_off_are_read_on_open(simulator, next_event):
    simulator.deliver_sms("+15557654321", "STOP")  # no indications asked for yet: stored quietly
    assert len(simulator.storage) == 1
    async with open_serial(simulator.path) as modem:
        assert (await next_event(modem, SmsReceived)).text == "STOP"
    assert simulator.storage == {}


async def test_a_ring_with_caller_id_is_an_incoming_call(simulator, modem, next_event):
    simulator.ring(CUSTOMER)
    assert await next_event(modem, IncomingCall) == IncomingCall(CUSTOMER)
    await modem.answer()
    assert simulator.in_call
    simulator.remote_hang_up()
    await next_event(modem, CallEnded)
    assert not simulator.in_call


async def test_a_withheld_caller_has_no_caller_id(simulator, modem, next_event):
    simulator.ring("")
    assert await next_event(modem, IncomingCall) == IncomingCall(None)
    await modem.hang_up()
    assert simulator.ringing_from is None


async def test_network_changes_are_events_once_asked_for(simulator, modem, next_event):
    await modem.command("AT+CREG=1")
    simulator.set_registration(3)
    assert await next_event(modem, NetworkChanged) == NetworkChanged("denied")


async def test_a_missing_device_is_a_modem_error():
    with pytest.raises(ModemError) as failure:
        open_serial("/dev/ttyUSB-not-there")
    assert failure.value.code == "modem-io"


async def test_a_modem_that_goes_away_fails_the_next_command(simulator, modem):
    await simulator.close()
    with pytest.raises(ModemError) as failure:
        await modem.command("AT")
    assert failure.value.code == "modem-io"


async def test_events_go_to_a_callback_that_may_even_fail(simulator):
    seen = []

    def on_event(event):
        seen.append(event)
        if len(seen) == 1:
            raise RuntimeError("a bug in the caller's handler")

    async with open_serial(simulator.path, on_event=on_event) as modem:
        simulator.ring(CUSTOMER)
        simulator.remote_hang_up()
        await modem.command("AT")  # its answer comes after the two URCs, so both have been handled
    assert seen == [IncomingCall(CUSTOMER), CallEnded()]
    assert modem.events.empty()


async def test_a_prompt_that_never_comes_times_out_and_the_next_send_works(simulator, modem):
    simulator.ignore_next("+CMGS")
    modem.sms_timeout_s = 0.2
    with pytest.raises(ModemError) as failure:
        await modem.send_sms(CUSTOMER, "hello")
    assert (failure.value.code, failure.value.permanent) == ("modem-timeout", False)
    await modem.send_sms(CUSTOMER, "hello again")
    assert [sent.text for sent in simulator.sent] == ["hello again"]
