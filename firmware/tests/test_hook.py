"""The hook: answer and hang up move the relay and wait for the loop current; the caller's going is noticed."""

from firmware.tests.twins import answered, events, quiet_line


def test_answer_closes_the_relay_and_reports_off_hook_once_the_loop_current_flows():
    twin = quiet_line()
    twin.call(rings=5)
    twin.run(3)
    twin.send({"cmd": "answer", "id": 5})
    said = twin.run(0.5)
    assert said == [{"ev": "hook", "state": "off"}, {"id": 5, "ok": True, "hook": "off"}]
    assert twin.board.relay_closed and twin.line.caller == "talking"
    assert events(twin.run(12), "ring") == []  # answering tripped the ringing


def test_hangup_opens_the_relay_and_reports_on_hook():
    twin = answered()
    twin.send({"cmd": "hangup", "id": 6})
    assert twin.run(0.5) == [{"ev": "hook", "state": "on"}, {"id": 6, "ok": True, "hook": "on"}]
    assert not twin.board.relay_closed


def test_answer_and_hangup_twice_are_answered_twice():
    twin = answered()
    twin.send({"cmd": "answer", "id": 2})
    assert twin.run(0.1) == [{"id": 2, "ok": True, "hook": "off"}]
    twin.send({"cmd": "hangup", "id": 3})
    twin.send({"cmd": "hangup", "id": 4})
    assert twin.run(0.5) == [{"ev": "hook", "state": "on"}, {"id": 3, "ok": True, "hook": "on"},
                             {"id": 4, "ok": True, "hook": "on"}]


def test_answer_without_loop_current_fails_and_opens_the_relay():
    twin = quiet_line()
    twin.loop_break(5000)  # the exchange gives no battery to the loop
    twin.send({"cmd": "answer", "id": 7})
    said = twin.run(1.5)
    assert said == [{"id": 7, "ok": False,
                     "error": "no loop current after closing the hook relay: is the line connected?"}]
    assert not twin.board.relay_closed


def test_the_caller_hanging_up_opens_the_loop_and_the_board_hangs_up():
    twin = answered()
    twin.caller_hangs_up("loop-drop")
    assert twin.run(1) == [{"ev": "hangup", "why": "loop-drop"}, {"ev": "hook", "state": "on"}]
    assert not twin.board.relay_closed


def test_a_blip_in_the_loop_current_is_no_hangup():
    twin = answered()
    twin.loop_break(100)  # the exchange reversing the polarity as the call is answered
    assert twin.run(2) == []
    assert twin.board.relay_closed


def test_the_disconnect_tone_of_each_country_is_a_hangup():
    for cadence in ("na", "uk", "etsi"):
        twin = answered(cadence)
        twin.caller_hangs_up("disconnect-tone")
        said = twin.run(4)
        assert said == [{"ev": "hangup", "why": "disconnect-tone"}, {"ev": "hook", "state": "on"}], (cadence, said)


def test_a_steady_tone_is_no_hangup():
    twin = answered("etsi")
    twin.tone(425, 6)  # the disconnect tone's pitch, but steady: music, or a caller humming
    assert twin.run(7) == []


def test_status_tells_hook_line_rings_version_and_uptime():
    twin = quiet_line()
    twin.call(rings=3)
    twin.run(2.5)
    twin.send({"cmd": "status", "id": 9})
    (status,) = twin.run(0.1)
    assert status == {"id": 9, "ok": True, "hook": "on", "line": "ok", "volts": 48.0, "loop_ma": 0.0, "rings": 1,
                      "cadence": "na", "version": "1.0.0", "uptime_s": 3}


def test_version_is_answered():
    twin = quiet_line()
    twin.send({"cmd": "version", "id": 10})
    assert twin.run(0.1) == [{"id": 10, "ok": True, "version": "1.0.0"}]
