"""RFC 4733 keypad events: one key per press, however many packets carry it."""

import struct

import pytest

from appliance.errors import ApplianceError
from appliance.rtp.events import EventReceiver, TelephoneEvent, parse_event
from appliance.rtp.packet import parse
from appliance.rtp.stream import RtpSender


def payload(code: int, end: bool, duration: int, volume: int = 10) -> bytes:
    return struct.pack("!BBH", code, (0x80 if end else 0) | volume, duration)


def test_the_payload_fields():
    assert parse_event(payload(11, True, 1280, 7)) == TelephoneEvent("#", True, 7, 1280)
    assert [parse_event(payload(code, False, 0)).event for code in range(18)] == \
        list("0123456789*#ABCD") + ["flash", None]
    assert parse_event(bytes([1, 0x40 | 10, 0, 160])).end is False  # the R bit is ignored


def test_a_short_payload_is_malformed():
    with pytest.raises(ApplianceError) as caught:
        parse_event(b"\x01\x8a\x00")
    assert caught.value.code == "rtp-malformed"


def test_a_press_as_a_sender_emits_it_is_one_key():
    receiver = EventReceiver()
    sequence = [(5, False, 0), (5, False, 400), (5, False, 800), (5, False, 1200)] + [(5, True, 1600)] * 3
    keys = [receiver.feed(48000, parse_event(payload(*fields))) for fields in sequence]
    assert keys == ["5"] + [None] * 6


def test_two_presses_of_the_same_key_are_two_keys():
    receiver = EventReceiver()
    keys = [receiver.feed(ts, parse_event(payload(1, end, d)))
            for ts in (1000, 2600) for end, d in ((False, 160), (False, 320), (True, 480), (True, 480), (True, 480))]
    assert [k for k in keys if k] == ["1", "1"]


def test_an_end_without_its_start_still_counts_once_and_late_packets_do_not():
    receiver = EventReceiver()
    assert [receiver.feed(5000, parse_event(payload(9, True, 800))) for _ in range(3)] == ["9", None, None]
    assert receiver.feed(9000, parse_event(payload(0, False, 160))) == "0"
    assert receiver.feed(5000, parse_event(payload(9, True, 800))) is None  # a late copy of the earlier press


def test_unknown_events_are_ignored():
    assert EventReceiver().feed(1, parse_event(payload(40, False, 160))) is None


def test_a_press_longer_than_the_duration_field_is_one_key():
    receiver = EventReceiver()
    keys = [receiver.feed(100, parse_event(payload(2, False, 0xFFFF))),
            receiver.feed(100 + 0xFFFF, parse_event(payload(2, False, 800))),
            receiver.feed(100 + 0xFFFF, parse_event(payload(2, True, 1600)))]
    assert keys == ["2", None, None]


def test_the_senders_key_presses_are_heard_back():
    sender, receiver = RtpSender(0, sequence=65530, timestamp=0xFFFFFF00), EventReceiver()
    heard = []
    for digit in "1#1*9D":
        sender.packet(b"\xff" * 160)
        for data in sender.event_packets(digit):
            packet = parse(data)
            if (key := receiver.feed(packet.timestamp, parse_event(packet.payload))):
                heard.append(key)
    assert "".join(heard) == "1#1*9D"
