"""The USB serial protocol: JSON lines between the board and the box, with no I/O of its own."""

import json

VERSION = "1.0.0"
MAX_LINE_BYTES = 512
COMMANDS = ("answer", "hangup", "status", "version")

# What LineReader hands out in place of a line that was too long to keep.
TOO_LONG = "too-long"


class ProtocolError(Exception):
    """A command line the board cannot act on; the message is sent back as the error."""

    def __init__(self, message, command_id=None):
        super().__init__(message)
        self.command_id = command_id


def encode(pairs):
    """One JSON object as a '\\n'-terminated UTF-8 line, keys in the order given.

    Pairs rather than a dict because MicroPython's dicts do not keep insertion order, and a person
    reading the serial port wants "ev" or "id" first.
    """
    body = ",".join(json.dumps(key) + ":" + json.dumps(value) for key, value in pairs)
    return ("{" + body + "}\n").encode()


def event(name, *fields):
    """The pairs of an event: {"ev": name, ...fields}."""
    return [("ev", name)] + list(fields)


def reply(command_id, *fields):
    """The pairs of a successful answer to command `command_id`."""
    return [("id", command_id), ("ok", True)] + list(fields)


def failure(command_id, error):
    """The pairs of a refused command; without an id when the line had none we could read."""
    pairs = [("ok", False), ("error", error)]
    return pairs if command_id is None else [("id", command_id)] + pairs


class LineReader:
    """Cuts the serial byte stream into lines; a line longer than MAX_LINE_BYTES comes out as TOO_LONG."""

    def __init__(self):
        self._pending = b""
        self._overflowed = False

    def feed(self, data):
        """The complete lines (bytes, without '\\r\\n') that `data` finishes, blank lines left out."""
        lines = []
        self._pending += data
        while True:
            end = self._pending.find(b"\n")
            if end < 0:
                break
            line = self._pending[:end].strip()
            self._pending = self._pending[end + 1:]
            if self._overflowed or len(line) > MAX_LINE_BYTES:
                lines.append(TOO_LONG)
            elif line:
                lines.append(line)
            self._overflowed = False
        if len(self._pending) > MAX_LINE_BYTES:
            # Keep memory bounded: drop the bytes, remember to report the line when it ends.
            self._pending = b""
            self._overflowed = True
        return lines


def parse_command(line):
    """The (command, id) of one line from the box, or ProtocolError saying what is wrong with it."""
    if line is TOO_LONG:
        raise ProtocolError("line longer than %d bytes" % MAX_LINE_BYTES)
    try:
        message = json.loads(line.decode())
    except ValueError:  # bad JSON, and bad UTF-8 (UnicodeError is a ValueError on both Pythons)
        raise ProtocolError("not a JSON object")
    if not isinstance(message, dict):
        raise ProtocolError("not a JSON object")
    command_id = message.get("id")
    if type(command_id) is not int:  # `type`, not isinstance: true and false are ints to CPython
        raise ProtocolError("missing or non-integer \"id\"")
    command = message.get("cmd")
    if command not in COMMANDS:
        known = ", ".join(COMMANDS)
        raise ProtocolError("unknown command %s (expected one of %s)" % (json.dumps(command), known), command_id)
    return command, command_id
