"""Ringing: rings counted by cadence, spikes and short bursts ignored, the end of ringing noticed."""

from firmware.tests.twins import events, quiet_line, timeline


def _rings(cadence, rings, seconds):
    twin = quiet_line(cadence)
    twin.call(rings=rings)
    return twin.run(seconds)


def test_north_american_rings_are_counted_then_end():
    said = _rings("na", 3, 3 * 6 + 7)
    assert said == [{"ev": "ring", "n": 1}, {"ev": "ring", "n": 2}, {"ev": "ring", "n": 3}, {"ev": "ring-end"}]


def test_uk_double_rings_are_counted_then_end():
    said = _rings("uk", 4, 4 * 3 + 4)
    assert said == [{"ev": "ring", "n": n} for n in (1, 2, 3, 4)] + [{"ev": "ring-end"}]


def test_continental_rings_are_counted():
    said = _rings("etsi", 2, 2 * 5 + 7)
    assert said == [{"ev": "ring", "n": 1}, {"ev": "ring", "n": 2}, {"ev": "ring-end"}]


def test_a_ring_is_reported_when_its_cadence_is_complete():
    twin = quiet_line("uk")
    start = twin.now_ms()
    twin.call(rings=1)
    (at, ring), = [(ms, message) for ms, message in timeline(twin, 2) if message.get("ev") == "ring"]
    assert ring == {"ev": "ring", "n": 1}
    assert 1000 <= at - start <= 1200  # 0.4 on, 0.2 off, 0.4 on, and 80 ms to see it end


def test_ringing_ends_only_after_the_pause_that_would_precede_another_ring():
    twin = quiet_line("na")
    twin.call(rings=2)
    timed = timeline(twin, 16)
    last_ring = [ms for ms, message in timed if message.get("ev") == "ring"][-1]
    (end,) = [ms for ms, message in timed if message.get("ev") == "ring-end"]
    assert 4000 < end - last_ring <= 6000


def test_a_spike_and_a_short_burst_are_no_rings():
    for cadence in ("na", "uk", "etsi"):
        twin = quiet_line(cadence)
        twin.spike(50)
        twin.run(8)
        twin.spike(300)
        said = twin.run(8)
        assert events(said, "ring") == [] and events(said, "ring-end") == [], (cadence, said)


def test_a_ring_of_another_country_is_no_ring():
    twin = quiet_line("uk")
    twin.spike(2000)  # North America's 2 s ring, which the UK's double ring is not
    assert events(twin.run(8), "ring") == []


def test_rings_are_counted_again_after_ringing_ended():
    twin = quiet_line("na")
    twin.call(rings=1)
    twin.run(9)
    twin.call(rings=1)
    assert twin.run(9) == [{"ev": "ring", "n": 1}, {"ev": "ring-end"}]
