"""Issue 17, finding 7, as attacks on the modem side: a text no honest phone sends (a truncated user data header,
lengths past the end, garbage) costs that one message and a log line, never its neighbours or the modem's ear.

The driver runs against the SIM7600 simulator on a real pseudo-terminal. The parsers are fuzzed from valid PDUs
and byte captures with a fixed seed, so a failure names an input that fails again.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime, timedelta, timezone

import pytest

from appliance.actions.sms import ModemTexter
from appliance.modem import at, gsm7, sms
from appliance.modem.driver import SmsReceived, open_serial
from appliance.modem.simulator import Simulator, SimulatorThread
from appliance.settings import Modem as ModemSettings

CUSTOMER = "+15557654321"
MOMENT = datetime(2024, 1, 12, 12, 34, 56, tzinfo=timezone.utc)
WAIT_S = 5.0  # how long a test waits for something that takes milliseconds
# SMSC 00 | DELIVER with UDHI | from +15557654321 | PID 0 | GSM-7 | 24-01-12 12:34:56 +0 | UDL 11 septets | a user
# data header that says 5 octets (a concatenation element) and stops after 2: the PDU that raised IndexError
TRUNCATED_UDH = "00" "44" "0B915155674523F1" "00" "00" "42102121436500" "0B" "050003"
USER_DATA = "00" "44" "0B915155674523F1" "00" "00" "42102121436500"  # the same, up to TP-UDL
STOP = "07915155000000F0" "04" "0B915155674523F1" "00" "00" "42102121436500" "04" "53EA130A"


# The parser's own error, naming the cause


def test_a_truncated_user_data_header_is_a_pdu_error_not_an_index_error():
    with pytest.raises(sms.PduError, match="the user data header says 5 octets, but 2 follow"):
        sms.parse_pdu(TRUNCATED_UDH)


@pytest.mark.parametrize("pdu, cause", [
    (USER_DATA + "0B" + "050004AB0201" + "A6D42714", "information element 0x00 says 4 octets, but the user data "
                                                      "header has 3 left"),
    (USER_DATA + "02" + "050003AB0201" + "A6D42714", "TP-UDL says 2 septets, fewer than the 7 of the user data "
                                                      "header"),
    (USER_DATA + "00", "TP-UDHI says a user data header comes, but there is no user data"),
    (STOP[:-10] + "09" + "53EA130A", "TP-UDL says 9 septets, which take 8 octets, but 4 follow"),
    ("00" "04" "0B915155674523F1" "00" "08" "42102121436500" "08" "004F004B", "TP-UDL says 8 octets, but 4 follow"),
    ("00" "04" "0B915155674523F1" "00" "08" "42102121436500" "03" "004F00", "UCS2 text of 3 octets"),
    ("07915155ZZ", "is not hex"),
    (STOP[:-1], "61 hex digits"),
    (STOP.replace("42102121436500", "421021214365A0"), "semi-octet that is not a digit"),
    (STOP.replace("42102121436500", "42312121436500"), "names no moment: month must be in 1..12"),
    (STOP.replace("0B915155674523F1", "0B915155F74523F1"), "filler semi-octet"),
    (STOP[:30], "the PDU ends early: the sender's address takes 6 octets, 4 are left"),
    ("00" "03" "0B915155674523F1", "TP-MTI 3"),
])
def test_each_malformation_is_a_pdu_error_that_names_its_cause(pdu, cause):
    with pytest.raises(sms.PduError) as failure:
        sms.parse_pdu(pdu)
    assert cause in str(failure.value)


def test_a_concatenation_element_23040_says_to_ignore_leaves_a_message_of_one_part():
    part = sms.parse_pdu(USER_DATA + "0B" + "050003AB0200" + "A6D42714")  # part 0 of 2: no such part
    assert (part.text, part.concat) == ("STOP", None)
    assert sms.Assembler().add(part).text == "STOP"  # a message at once, not a part that waits forever


# The driver on a pseudo-terminal: the bad one is logged and deleted, the good ones arrive


async def _texts(modem, count: int) -> list[str]:
    async def collect():
        texts = []
        while len(texts) < count:
            if isinstance(event := await modem.events.get(), SmsReceived):
                texts.append(event.text)
        return texts

    return await asyncio.wait_for(collect(), WAIT_S)


def _unreadable(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if "cannot be read" in record.getMessage()]


async def test_a_bad_stored_message_is_dropped_and_the_good_ones_beside_it_arrive(caplog):
    async with Simulator() as simulator:
        simulator.deliver_sms(CUSTOMER, "first")  # stored quietly: the appliance is not listening yet
        bad = simulator.deliver_pdu(TRUNCATED_UDH)
        simulator.deliver_sms(CUSTOMER, "second")
        async with open_serial(simulator.path, timeout_s=WAIT_S) as modem:
            assert await _texts(modem, 2) == ["first", "second"]
            assert simulator.storage == {}

            again = simulator.deliver_pdu(TRUNCATED_UDH)  # now announced with +CMTI, read and deleted on its own
            simulator.deliver_sms(CUSTOMER, "third")
            assert await _texts(modem, 1) == ["third"]
            await modem.command("AT")  # queued behind both reads
            assert simulator.storage == {}
    logged = _unreadable(caplog)
    assert len(logged) == 2
    assert f"stored message {bad}" in logged[0] and f"stored message {again}" in logged[1]
    assert all("the user data header says 5 octets, but 2 follow" in line for line in logged)


async def test_a_bad_message_shown_with_cmt_is_dropped_and_the_next_one_arrives(caplog):
    async with Simulator() as simulator, open_serial(simulator.path, timeout_s=WAIT_S) as modem:
        await modem.command("AT+CNMI=2,2,0,1,0")  # messages shown as they come, not stored
        simulator.deliver_pdu(TRUNCATED_UDH)
        simulator.deliver_sms(CUSTOMER, "after the bad one")
        assert await _texts(modem, 1) == ["after the bad one"]
    [logged] = _unreadable(caplog)
    assert "the message +CMT showed" in logged


def _until(condition, seconds: float = WAIT_S) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_the_modem_watch_reads_past_a_bad_message_and_keeps_watching(tmp_path):
    modem = SimulatorThread(signal=18)
    heard = []
    texter = ModemTexter(ModemSettings(device=modem.path, timeout_s=WAIT_S), on_event=heard.append,
                         report_path=tmp_path / "modem.json", report_every_s=0.05)
    try:
        modem.do("deliver_sms", CUSTOMER, "first")
        modem.do("deliver_pdu", TRUNCATED_UDH)
        modem.do("deliver_sms", CUSTOMER, "second")
        texter.listen()

        def texts():
            return [event.text for event in list(heard) if isinstance(event, SmsReceived)]

        assert _until(lambda: texts() == ["first", "second"])
        modem.do("deliver_pdu", TRUNCATED_UDH)
        modem.do("deliver_sms", CUSTOMER, "third")
        assert _until(lambda: texts() == ["first", "second", "third"])
        modem.simulator.signal = 10  # the watch's next status check reports it: -113 + 2 * 10
        assert _until(lambda: texter.owner.report is not None and texter.owner.report.signal_dbm == -93)
        assert texter.owner.report.error == ""
    finally:
        texter.close()
        modem.close()


# Parts of a long text that never completes


def _parts(reference: int, text: str = "x" * 400) -> list[sms.Deliver]:
    return [sms.parse_pdu(pdu) for pdu in sms.deliver_pdus(CUSTOMER, text, MOMENT, reference=reference)]


def test_parts_that_wait_longer_than_the_bound_are_dropped_with_a_log_line(caplog):
    assembler = sms.Assembler()
    on_time = _parts(1)
    assert assembler.add(on_time[0], now=0) is None and assembler.add(on_time[1], now=60) is None
    assert assembler.add(on_time[2], now=sms.PART_WAIT_S).text == "x" * 400  # the last part, just in time

    late = _parts(2)
    assert assembler.add(late[0], now=0) is None and assembler.add(late[1], now=60) is None
    assert assembler.waiting == 1
    assert assembler.add(late[2], now=sms.PART_WAIT_S + 1) is None  # its first part has waited too long
    assert "dropped 2 of the 3 parts of a text from +15557654321 (reference 2)" in caplog.text
    assert assembler.waiting == 1  # the late part alone, waiting in its turn
    assembler.expire(2 * sms.PART_WAIT_S + 2)
    assert assembler.waiting == 0


def test_no_more_than_max_waiting_texts_wait_for_parts():
    assembler = sms.Assembler()
    texts = [_parts(reference, "y" * 200) for reference in range(sms.MAX_WAITING + 10)]  # two parts each
    for first, _ in texts:
        assert assembler.add(first, now=0) is None
    assert assembler.waiting == sms.MAX_WAITING
    assert assembler.add(texts[0][1], now=1) is None  # the oldest made room long ago
    assert assembler.add(texts[-1][1], now=1).text == "y" * 200


# Fuzzing: whatever the bytes, the parser's own error or a result


def _valid_pdus() -> list[str]:
    later = MOMENT.astimezone(timezone(timedelta(hours=-5)))
    return [
        STOP,
        "07915155000000F0" "04" "07D0C2B07B0D" "0000" "42102121436500" "04" "53EA130A",  # from the name "Bank"
        USER_DATA + "0B" + "050003AB0201" + "A6D42714",
        *sms.deliver_pdus(CUSTOMER, "Grüße {ok} € " * 30, later, reference=9, service_centre="+15550000000"),
        *sms.deliver_pdus("*5551234#", "नमस्ते 👍 " * 12, MOMENT, reference=200),
        *sms.submit_pdus("+15551234567", "Your refund [#1234] is on its way. " * 6, report=True, reference=3),
        sms.status_report_pdu(46, "+15551234567", 0x41, MOMENT, later, service_centre="+15550000000"),
    ]


def _mutated(rng: random.Random, pdu: str) -> str:
    """`pdu` with one to four octets flipped, truncated, inserted or cut out; now and then not hex at all."""
    data = bytearray(bytes.fromhex(pdu))
    for _ in range(rng.randint(1, 4)):
        spot = rng.randrange(len(data) + 1)
        match rng.randrange(5):
            case 0 if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            case 1 if data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            case 2:
                del data[spot:]
            case 3:
                data[spot:spot] = rng.randbytes(rng.randint(1, 8))
            case _:
                del data[spot:spot + rng.randint(1, 8)]
    text = data.hex().upper()
    if rng.random() < 0.05:
        cut = rng.randrange(len(text) + 1)
        text = text[:cut] + rng.choice(["G", " ", "é", "²", "\x00", "0"]) + text[cut:]
    return text


def test_parse_pdu_raises_only_pdu_error_on_20000_mutated_pdus():
    rng = random.Random(17_07)
    valid = _valid_pdus()
    parsed = refused = 0
    for _ in range(20_000):
        pdu = _mutated(rng, rng.choice(valid))
        try:
            part = sms.parse_pdu(pdu)
        except sms.PduError:
            refused += 1
            continue
        except Exception as exc:  # the finding: anything else escaped the driver
            pytest.fail(f"parse_pdu({pdu!r}) raised {exc!r}")
        assert isinstance(part, (sms.Deliver, sms.Submit, sms.StatusReport)) and isinstance(part.number, str)
        parsed += 1
    assert parsed > 2000 and refused > 2000  # both sides of the parser were reached


def test_gsm7_decoding_raises_only_value_error_on_any_input():
    rng = random.Random(1707)
    for _ in range(5000):
        data = rng.randbytes(rng.randint(0, 20))
        try:
            septets = gsm7.unpack_septets(data, rng.randint(-2, 25), rng.randint(-1, 8))
        except ValueError:
            septets = [rng.randint(-3, 300) for _ in range(rng.randint(0, 10))]
        try:
            assert isinstance(gsm7.decode_gsm7(septets), str)
        except ValueError:
            pass
        assert isinstance(gsm7.decode_ucs2(data), str)


CAPTURES = [  # what a SIM7600 says, answer or unasked
    b"\r\n+CSQ: 18,99\r\n\r\nOK\r\n", b'\r\n+CMTI: "SM",3\r\n', b"\r\n+CMT: ,24\r\n" + STOP.encode() + b"\r\n",
    b"\r\n+CDS: 26\r\n0791515500\r\n", b'\r\n+CLIP: "+15551234567",145,"",0,"",0\r\n', b"\r\nRING\r\n",
    b"\r\nNO CARRIER\r\n", b"\r\n+CREG: 1\r\n", b"\r\n+CMS ERROR: 304\r\n", b"\r\n+CME ERROR: SIM not inserted\r\n",
    b"\r\n> ", b"\r\n+CMGL: 0,1,,22\r\n" + STOP.encode() + b"\r\n\r\nOK\r\n", b"\r\n+CREG: 0,1\r\n\r\nOK\r\n",
    b'\r\n+CDS: 6,46,"+15551234567",145,"24/01/12,12:34:56+00","24/01/12,12:34:56+00",0\r\n', b"\r\nERROR\r\n",
    b"ATE0\r\r\nOK\r\n", b"\r\n+CMGS: 12\r\n\r\nOK\r\n",
]
COMMANDS = [None, "AT+CSQ", "AT+CMGL=4", "AT+CMGR=3", "AT+CMGS=23", "AT+CREG?", "ATD+15551234567;", "ATA"]
SPLINTERS = [b"\r", b"\n", b",", b'"', b":", b"+", b" ", "²".encode(), "٣".encode(), b"\xff", b"\x00", b"\x1c",
             b"9" * 12, b"\x1a", b"\x1b", b">"]
EVENTS = (at.Final, at.Info, at.Prompt, at.Ring, at.CallerId, at.NoCarrier, at.MessageStored, at.MessageShown,
          at.StatusReportShown, at.RegistrationChanged, at.Unsolicited)


def test_the_at_parser_takes_10000_mutated_captures_without_raising():
    rng = random.Random(170_7)
    for _ in range(10_000):
        data = bytearray(b"".join(rng.choice(CAPTURES) for _ in range(rng.randint(1, 3))))
        for _ in range(rng.randint(1, 4)):
            spot = rng.randrange(len(data) + 1)
            match rng.randrange(4):
                case 0:
                    data[spot:spot + 1] = bytes([rng.randrange(256)])
                case 1:
                    data[spot:spot] = rng.choice(SPLINTERS)
                case 2:
                    del data[spot:spot + rng.randint(1, 6)]
                case _:
                    data[spot:spot] = rng.randbytes(rng.randint(1, 6))
        parser = at.AtParser()
        if command := rng.choice(COMMANDS):
            parser.command(command)
        cut = rng.randrange(len(data) + 1)
        try:
            events = parser.feed(bytes(data[:cut])) + parser.feed(bytes(data[cut:]))
        except Exception as exc:
            pytest.fail(f"feed({bytes(data)!r}) after {command!r} raised {exc!r}")
        assert all(isinstance(event, EVENTS) for event in events)
        for line in bytes(data).decode("utf-8", errors="replace").splitlines():
            try:
                name, values = at.parse_info(line)
            except at.AtError:
                continue
            assert isinstance(name, str) and all(isinstance(value, str) for value in values)


@pytest.mark.parametrize("data, event", [
    ("\r\n+CMS ERROR: ²\r\n".encode(), at.Final("+CMS ERROR", None, "²")),  # '²'.isdigit(); int('²') raised
    ('\r\n+CMTI: "SM",٣\r\n'.encode(), at.Unsolicited('+CMTI: "SM",٣')),  # int('٣') is 3; no modem writes it
    (b'\r\n+CMTI: "SM",' + b"9" * 5000 + b"\r\n", at.Unsolicited('+CMTI: "SM",' + "9" * 5000)),
    (b"\r\n+CDS: " + b"x" * 140_000 + b",1,2\r\n", at.Unsolicited("+CDS: " + "x" * 140_000 + ",1,2")),  # csv.Error
])
def test_a_line_not_in_the_dialect_is_passed_on_not_raised(data, event):
    parser = at.AtParser()
    parser.command("AT+CMGS=23")
    assert parser.feed(data) == [event]
