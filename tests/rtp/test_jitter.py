"""The jitter buffer, fed packets as a network would deliver them and popped once per 20 ms tick."""

import numpy as np

from appliance.rtp.jitter import JitterBuffer, conceal
from appliance.rtp.packet import RtpPacket


def packet(sequence: int, ssrc: int = 1) -> RtpPacket:
    sequence &= 0xFFFF
    return RtpPacket(0, sequence, sequence * 160 & 0xFFFFFFFF, ssrc, payload=sequence.to_bytes(2, "big"))


def play(arrivals: list[list[RtpPacket]], buffer: JitterBuffer | None = None, ticks: int = 0) -> list[int | None]:
    """Push each tick's arrivals, then pop once; a few ticks more drain it. Payloads back as sequence numbers."""
    buffer = buffer or JitterBuffer()
    out = []
    for tick in arrivals + [[]] * ticks:
        for p in tick:
            buffer.push(p)
        payload = buffer.pop()
        out.append(None if payload is None else int.from_bytes(payload, "big"))
    return out


def test_in_order_after_the_playout_delay():
    buffer = JitterBuffer(depth_frames=3)
    out = play([[packet(n)] for n in range(10)], buffer, ticks=3)
    assert out == [None, None] + list(range(10)) + [None]
    assert buffer.stats["received"] == 10 and buffer.stats["lost"] == 0 and buffer.stats["underruns"] == 1


def test_reordered_by_one_or_two_packets_plays_in_order():
    order = [0, 2, 1, 3, 6, 4, 5, 7, 9, 8, 10, 11]
    buffer = JitterBuffer()
    out = play([[packet(n)] for n in order], buffer, ticks=2)
    assert [n for n in out if n is not None] == list(range(12))
    assert buffer.stats["reordered"] == 4 and buffer.stats["lost"] == 0 and buffer.stats["late"] == 0


def test_reordering_at_the_start_starts_from_the_lowest():
    assert play([[packet(5)], [packet(4)], [packet(6)], [packet(7)]], ticks=2)[2:5] == [4, 5, 6]


def test_duplicates_are_dropped():
    buffer = JitterBuffer()
    out = play([[packet(0)], [packet(1), packet(1)], [packet(2)], [packet(0)], [packet(3)], [packet(4)]], buffer, 1)
    assert [n for n in out if n is not None] == [0, 1, 2, 3, 4]
    assert buffer.stats["duplicate"] == 2 and buffer.stats["late"] == 0


def test_a_lost_packet_is_one_none_then_the_stream_goes_on():
    buffer = JitterBuffer()
    out = play([[packet(n)] for n in range(10) if n != 5], buffer, ticks=3)
    assert out[2:12] == [0, 1, 2, 3, 4, None, 6, 7, 8, 9]
    assert buffer.stats["lost"] == 1


def test_a_packet_after_its_slot_was_played_is_late_and_dropped():
    arrivals = [[packet(n)] for n in range(12) if n != 3]
    arrivals[8].append(packet(3))  # three ticks after its slot came up
    buffer = JitterBuffer()
    out = play(arrivals, buffer, ticks=3)
    assert out.count(3) == 0 and out[2:14] == [0, 1, 2, None, 4, 5, 6, 7, 8, 9, 10, 11]
    assert buffer.stats["late"] == 1 and buffer.stats["lost"] == 1


def test_a_new_ssrc_resets_the_stream():
    buffer = JitterBuffer()
    arrivals = [[packet(n)] for n in range(6)] + [[packet(n, ssrc=2)] for n in range(30000, 30008)]
    out = play(arrivals, buffer, ticks=3)
    assert buffer.stats["resets"] == 1
    assert [n for n in out if n is not None] == [0, 1, 2, 3, 4] + list(range(30000, 30008))  # 5 was left over


def test_a_jump_of_seconds_resets_the_stream_and_a_stray_packet_does_not():
    buffer = JitterBuffer()
    arrivals = [[packet(n)] for n in range(8)] + [[packet(20000)]] + [[packet(n)] for n in range(8, 12)]
    arrivals += [[packet(n)] for n in range(40000, 40006)]
    out = play(arrivals, buffer, ticks=3)
    assert buffer.stats["resets"] == 1 and buffer.stats["stray"] == 1
    assert 20000 not in out and [n for n in out if n is not None][-6:] == list(range(40000, 40006))


def test_the_sequence_wraps_in_the_middle_of_the_stream():
    buffer = JitterBuffer()
    order = [65530, 65531, 65533, 65532, 65534, 0, 65535, 1, 2, 3, 4]
    out = play([[packet(n)] for n in order], buffer, ticks=3)
    assert [n for n in out if n is not None] == [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3, 4]
    assert buffer.stats["lost"] == buffer.stats["resets"] == buffer.stats["late"] == 0


def test_after_running_dry_it_waits_for_the_depth_again():
    buffer = JitterBuffer(depth_frames=2)
    out = play([[packet(0)], [packet(1)], [], [], [packet(2)], [packet(3)], [packet(4)]], buffer, ticks=1)
    assert out == [None, 0, 1, None, None, 2, 3, 4]
    assert buffer.stats["underruns"] == 1 and buffer.stats["lost"] == 0


def test_a_burst_after_a_stall_is_played_down_to_the_depth():
    buffer = JitterBuffer(depth_frames=3, catch_up_every=10)
    arrivals = [[packet(n)] for n in range(5)] + [[]] * 10 + [[packet(n) for n in range(5, 45)]]
    arrivals += [[packet(n)] for n in range(45, 545)]
    out = play(arrivals, buffer)
    assert buffer.buffered <= 2 * 3 and 30 <= buffer.stats["dropped"] <= 40
    assert [n for n in out if n is not None] == sorted(n for n in out if n is not None)


def test_the_buffer_never_holds_more_than_max_frames():
    buffer = JitterBuffer(depth_frames=3, max_frames=20)
    for n in range(100):
        buffer.push(packet(n))
    assert buffer.buffered == 20 and buffer.stats["dropped"] == 80
    assert int.from_bytes(buffer.pop(), "big") == 80


def test_concealment_repeats_once_at_half_then_goes_silent():
    frame = np.full(160, 1000, dtype=np.int16)
    assert np.array_equal(conceal(frame, 1), np.full(160, 500, dtype=np.int16))
    assert np.array_equal(conceal(frame, 2), np.zeros(160, dtype=np.int16))
    assert conceal(frame, 1).dtype == np.int16
