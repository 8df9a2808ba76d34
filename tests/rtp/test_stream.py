"""The sending side: sequence and timestamp advance and wrap, and start at random."""

from appliance.rtp.events import parse_event
from appliance.rtp.packet import parse
from appliance.rtp.stream import RtpSender


def test_sequence_and_timestamp_advance_and_wrap():
    sender = RtpSender(0, ssrc=99, sequence=65534, timestamp=0xFFFFFFFF - 200)
    packets = [parse(sender.packet(bytes([n]) * 160, marker=n == 0)) for n in range(3)]
    assert [p.sequence for p in packets] == [65534, 65535, 0]
    assert [p.timestamp for p in packets] == [0xFFFFFFFF - 200, 0xFFFFFFFF - 40, 119]
    assert [p.marker for p in packets] == [True, False, False]
    assert {p.ssrc for p in packets} == {99} and {p.payload_type for p in packets} == {0}
    assert packets[2].payload == b"\x02" * 160


def test_each_stream_starts_somewhere_else():
    starts = {(s.ssrc, s.sequence, s.timestamp) for s in (RtpSender(0) for _ in range(8))}
    assert len(starts) == 8


def test_a_key_press_is_rfc_4733_packets_and_the_audio_moves_on_by_its_duration():
    sender = RtpSender(0, event_payload_type=101, sequence=10, timestamp=1000)
    packets = [parse(data) for data in sender.event_packets("5", duration_ms=100)]
    events = [parse_event(p.payload) for p in packets]
    assert [p.sequence for p in packets] == list(range(10, 17))
    assert {p.timestamp for p in packets} == {1000} and {p.payload_type for p in packets} == {101}
    assert [p.marker for p in packets] == [True] + [False] * 6
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for e in events] == [False] * 4 + [True] * 3
    assert {(e.event, e.volume) for e in events} == {("5", 10)}
    after = parse(sender.packet(b"\xff" * 160))
    assert (after.sequence, after.timestamp, after.payload_type) == (17, 1800, 0)


def test_a_press_shorter_than_a_packet_is_three_end_packets():
    packets = [parse(data) for data in RtpSender(0).event_packets("#", duration_ms=10)]
    assert [p.marker for p in packets] == [True, False, False]
    assert all(parse_event(p.payload).end for p in packets)
