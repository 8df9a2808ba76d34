"""The watchdog: fed by a running loop, not by a stalled one, which resets the board."""

from firmware.tests.twins import answered, events


def test_a_running_loop_keeps_the_watchdog_fed_through_a_whole_call():
    twin = answered()
    twin.press("123")
    twin.run(5)
    twin.caller_hangs_up("disconnect-tone")
    twin.run(30)
    assert twin.resets == 0


def test_a_stalled_loop_is_reset_by_the_watchdog_which_drops_the_line():
    twin = answered()
    twin.stall(3000)  # the loop hangs in a serial read for 3 s; the watchdog allows 2 s
    said = twin.run(1)
    assert twin.resets == 1
    assert events(said, "boot") == [{"ev": "boot", "version": "1.0.0", "cadence": "na"}]
    assert not twin.board.relay_closed  # the reset released the relay


def test_a_stall_shorter_than_the_watchdog_is_survived():
    twin = answered()
    twin.stall(1500)
    twin.run(1)
    assert twin.resets == 0 and twin.board.relay_closed
