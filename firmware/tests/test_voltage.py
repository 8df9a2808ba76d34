"""The line voltage: the cable out is reported once it stays out, and its return."""

from firmware.tests.twins import quiet_line


def test_the_cable_out_and_back_is_reported():
    twin = quiet_line()
    twin.cut_line()
    assert twin.run(2) == [{"ev": "line", "state": "lost", "volts": 0.0}]
    twin.restore_line()
    assert twin.run(1) == [{"ev": "line", "state": "ok", "volts": 48.0}]


def test_a_moment_without_voltage_is_not_a_lost_line():
    twin = quiet_line()
    twin.cut_line()
    twin.run(0.5)
    twin.restore_line()
    assert twin.run(3) == []


def test_answer_is_refused_while_the_line_is_lost():
    twin = quiet_line()
    twin.cut_line()
    twin.run(2)
    twin.send({"cmd": "answer", "id": 1})
    assert twin.run(0.1) == [{"id": 1, "ok": False, "error": "no line voltage: is the phone cable plugged in?"}]
    assert not twin.board.relay_closed


def test_the_cable_pulled_during_a_call_is_a_hangup_then_a_lost_line():
    twin = quiet_line()
    twin.call(rings=3)
    twin.run(1)
    twin.send({"cmd": "answer", "id": 1})
    twin.run(0.5)
    twin.cut_line()
    assert twin.run(3) == [{"ev": "hangup", "why": "loop-drop"}, {"ev": "hook", "state": "on"},
                           {"ev": "line", "state": "lost", "volts": 0.0}]


def test_a_board_started_without_a_line_says_so():
    from firmware.twin import Twin

    twin = Twin("na")
    twin.cut_line()
    said = twin.run(2)
    assert said[0]["ev"] == "boot" and said[1:] == [{"ev": "line", "state": "lost", "volts": 0.0}]
