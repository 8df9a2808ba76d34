"""The serial protocol: JSON lines both ways; a bad command line is answered with an error and the loop goes on."""

from firmware import protocol
from firmware.tests.twins import quiet_line


def _answers(*lines):
    twin = quiet_line()
    for line in lines:
        twin.send(line)
    return twin.run(0.2)


def test_messages_are_compact_json_lines_in_the_order_given():
    assert protocol.encode(protocol.event("ring", ("n", 1))) == b'{"ev":"ring","n":1}\n'
    assert protocol.encode(protocol.failure(None, "bad")) == b'{"ok":false,"error":"bad"}\n'


def test_malformed_lines_get_an_error_and_the_next_command_is_still_answered():
    said = _answers("this is not json", "[1, 2]", '{"cmd": "status"}', '{"cmd": "answer", "id": "7"}',
                    '{"cmd": "answer", "id": true}', '{"id": 3}', '{"cmd": "dial", "id": 4}',
                    '{"cmd": "version", "id": 5}')
    assert said == [
        {"ok": False, "error": "not a JSON object"},
        {"ok": False, "error": "not a JSON object"},
        {"ok": False, "error": 'missing or non-integer "id"'},
        {"ok": False, "error": 'missing or non-integer "id"'},
        {"ok": False, "error": 'missing or non-integer "id"'},
        {"id": 3, "ok": False, "error": 'unknown command null (expected one of answer, hangup, status, version)'},
        {"id": 4, "ok": False, "error": 'unknown command "dial" (expected one of answer, hangup, status, version)'},
        {"id": 5, "ok": True, "version": "1.0.0"},
    ]


def test_bad_utf8_and_overlong_lines_are_refused():
    twin = quiet_line()
    twin.serial.to_board += b'{"cmd": "\xff\xfe"}\n' + b"x" * 2000 + b"\n\n\r\n" + b'{"cmd":"version","id":1}\r\n'
    assert twin.run(0.2) == [
        {"ok": False, "error": "not a JSON object"},
        {"ok": False, "error": "line longer than 512 bytes"},
        {"id": 1, "ok": True, "version": "1.0.0"},
    ]


def test_a_command_split_across_reads_is_put_together():
    reader = protocol.LineReader()
    assert reader.feed(b'{"cmd":"sta') == []
    assert reader.feed(b'tus","id":2}\n{"cmd"') == [b'{"cmd":"status","id":2}']
    assert protocol.parse_command(b'{"cmd":"status","id":2}') == ("status", 2)
