"""Twins ready for a test (booted, the line settled), and what a test reads from them."""

from firmware.twin import Twin


def quiet_line(cadence="na", noise_rms=3.0, seed=1):
    """A twin whose boot and first line report are read and dropped."""
    twin = Twin(cadence, noise_rms, seed)
    said = twin.run(1)
    assert said[0]["ev"] == "boot" and said[1] == {"ev": "line", "state": "ok", "volts": 48.0}, said
    return twin


def answered(cadence="na", noise_rms=3.0):
    """A twin with a call answered: the relay closed, the loop current flowing."""
    twin = quiet_line(cadence, noise_rms)
    twin.call(rings=5)
    twin.run(1)
    twin.send({"cmd": "answer", "id": 1})
    said = twin.run(0.5)
    assert {"ev": "hook", "state": "off"} in said and twin.board.relay_closed, said
    return twin


def events(said, name):
    """The events called `name` among what the board said."""
    return [message for message in said if message.get("ev") == name]


def timeline(twin, seconds, step_s=0.1):
    """(ms, message) for everything the board says over `seconds`, timed to `step_s`."""
    timed = []
    for _ in range(int(seconds / step_s)):
        timed += [(twin.now_ms(), message) for message in twin.run(step_s)]
    return timed


def digits(said):
    """The DTMF digits the board reported, as a string."""
    return "".join(message["digit"] for message in events(said, "dtmf"))
