"""`python -m appliance.line.sound_check`: what scripts/line-check runs, a technician's look at a sound-device line.

It lists the sound devices PortAudio sees and the rates the chosen one takes, listens to its input for a couple of
seconds (RMS and peak in dBFS: is the headset or the line interface's input alive, and not clipping) and plays a
short tone. With a board it asks the board its firmware, hook and line voltage, and counts the rings it reports
for a while. While `appliance serve` answers on the device it holds it, so serve's own account of the line
(data_dir/sound-line.json) is shown instead of opening it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from appliance.audio import LINE_RATE_HZ
from appliance.line import serve_holds
from appliance.line.board import Board, BoardError, CallerId, Ring
from appliance.line.sound_port import SoundError, SoundPort, find_device, scan

RATES = (8000, 16000, 22050, 32000, 44100, 48000)
TONE_HZ, TONE_DBFS, TONE_S = 1000, -12, 1.0
QUIET_DBFS = -80  # an input this quiet is dead (or muted), not a quiet room: a live input has some noise


def dbfs(value: float) -> float:
    """A level in dB below full scale (16-bit)."""
    return 20 * math.log10(value / 32768) if value > 0 else -math.inf


def rates_taken(index: int) -> list[int]:
    """The rates the device opens at both ways."""
    import sounddevice

    taken = []
    for rate in RATES:
        try:
            sounddevice.check_input_settings(device=index, channels=1, dtype="int16", samplerate=rate)
            sounddevice.check_output_settings(device=index, channels=1, dtype="int16", samplerate=rate)
        except Exception:  # PortAudio says no in several ways
            continue
        taken.append(rate)
    return taken


async def check_device(name: str, seconds: float, tone: bool, health: dict | None) -> tuple[int, list[str]]:
    """The device's list entry, rates, input level and a tone; an exit status (0 fine, 1 a doubt, 2 not there)."""
    try:
        devices = await asyncio.to_thread(scan)
    except SoundError as exc:
        return 2, [f"sound: {exc.message}"]
    found = find_device(name, devices) if name else None
    said = [f"sound: {device['index']}: {device['name']} (in {device['max_input_channels']}, out "
            f"{device['max_output_channels']}, {device['default_samplerate']:g} Hz)"
            + ("   <- this line" if found is not None and device["index"] == found["index"] else "")
            for device in devices] or ["sound: PortAudio sees no devices (is the sound card plugged in? lsusb)"]
    if found is None:
        return 2, said + [f"sound: no device {name!r} that records and plays" if name else
                          "sound: name a device (--device, or a sound:// line in [line] listen)"]
    if serve_holds(health):
        line = health.get("status") or {}
        said.append(f"sound: appliance serve holds {found['name']} (pid {health['pid']}): {line.get('state')}: "
                    f"{line.get('detail')}")
        return (0 if line.get("state") == "listening" else 1), said
    said.append(f"sound: {found['name']} takes {', '.join(map(str, rates_taken(found['index']))) or 'none of'} "
                f"Hz both ways")
    try:
        port = SoundPort(name, devices, echo=False)
    except SoundError as exc:
        return 2, said + [f"sound: cannot open it: {exc.message}"]
    status = 0
    try:
        heard = [await port.read_frame() for _ in range(int(seconds * 50))]
        samples = np.concatenate(heard).astype(np.float64)
        rms, peak = float(np.sqrt(np.mean(samples ** 2))), float(np.abs(samples).max())
        said.append(f"sound: input over {seconds:g} s at {port.rate_hz} Hz: RMS {dbfs(rms):.1f} dBFS, peak "
                    f"{dbfs(peak):.1f} dBFS")
        if dbfs(rms) < QUIET_DBFS:
            said.append("sound: the input is silent: is the microphone or the line input connected and unmuted?")
            status = 1
        elif peak >= 32767:
            said.append("sound: the input clips: turn its gain down")
            status = 1
        if tone:
            time_s = np.arange(int(TONE_S * LINE_RATE_HZ)) / LINE_RATE_HZ
            signal = (np.sin(2 * np.pi * TONE_HZ * time_s) * 32767 * 10 ** (TONE_DBFS / 20)).astype(np.int16)
            for start in range(0, len(signal), 160):
                await port.read_frame()
                port.write_frame(signal[start:start + 160])
            for _ in range(25):  # the tone's tail, played out before the device is let go
                await port.read_frame()
            said.append(f"sound: played a {TONE_S:g} s {TONE_HZ} Hz tone at {TONE_DBFS} dBFS: it should be heard")
    except SoundError as exc:
        said.append(f"sound: the device failed: {exc.message}")
        status = 2
    finally:
        port.close()
    return status, said


async def check_board(path: str, ring_s: float, command_s: float = 2.0) -> tuple[int, list[str]]:
    """The board's firmware, hook, line voltage, and the rings (and caller IDs) it reports for ring_s."""
    rings: list[int] = []
    callers: list[str] = []

    def heard(event) -> None:
        if isinstance(event, Ring):
            rings.append(event.n)
        elif isinstance(event, CallerId):
            callers.append(event.number or f"({event.absent or 'no number'})")

    board = Board(path, heard, command_s=command_s)
    try:
        await board.open()
        version = (await board.command("version")).get("version", "?")
        state = await board.command("status")
    except BoardError as exc:
        await board.close()
        return 2, [f"board: {exc.message}"]
    said = [f"board: firmware {version} on {path}",
            f"board: hook {state.get('hook', '?')}, line {state.get('line', '?')}, {state.get('volts', '?')} V"]
    status = 1 if state.get("line") == "lost" else 0
    if ring_s > 0:
        await asyncio.sleep(ring_s)
        said.append(f"board: {len(rings)} ring(s) in {ring_s:g} s" + (f"; caller ID {', '.join(callers)}"
                                                                    if callers else ""))
    await board.close()
    if board.malformed:
        said.append(f"board: {board.malformed} line(s) that were not the board's messages (the wrong port?)")
        status = max(status, 1)
    return status, said


async def check(device: str, seconds: float, tone: bool, board: str, ring_s: float,
                health_path: str | None) -> tuple[int, list[str]]:
    """Everything line-check says, and its exit status."""
    health = None
    if health_path and Path(health_path).is_file():
        try:
            health = json.loads(Path(health_path).read_text())
        except (OSError, ValueError):
            health = None
    status, said = await check_device(device, seconds, tone, health)
    if board:
        if serve_holds(health) and health.get("board") == board:
            said.append(f"board: appliance serve holds {board}: firmware {health.get('board_version') or '?'}, "
                        f"hook {health.get('hook')}, {health.get('volts')} V")
        else:
            board_status, board_said = await check_board(board, ring_s)
            status, said = max(status, board_status), said + board_said
    if health and health.get("last_fault_text"):
        said.append(f"line: last fault: {health['last_fault_text']}")
    if health and (health.get("echo") or {}).get("erle_db") is not None:
        echo = health["echo"]
        said.append(f"line: echo {echo['erl_db']:g} dB down, the canceller takes {echo['erle_db']:g} dB more")
    return status, said


def main(argv: list[str] | None = None) -> int:
    """The command line scripts/line-check runs."""
    parser = argparse.ArgumentParser(prog="python -m appliance.line.sound_check",
                                     description="Check a sound-device line and its board.")
    parser.add_argument("--device", default="", help="the PortAudio device: its index, name, or part of its name")
    parser.add_argument("--seconds", type=float, default=2.0, help="how long to listen to the input")
    parser.add_argument("--no-tone", action="store_true", help="do not play the test tone")
    parser.add_argument("--board", default="", help="the line board's serial port (/dev/ttyACM0)")
    parser.add_argument("--rings", type=float, default=10.0, metavar="SECONDS", help="how long to count rings")
    parser.add_argument("--health", help="the health file appliance serve writes (data_dir/sound-line.json)")
    arguments = parser.parse_args(argv)
    started = time.monotonic()
    status, said = asyncio.run(check(arguments.device, arguments.seconds, not arguments.no_tone, arguments.board,
                                     arguments.rings, arguments.health))
    print("\n".join(said))
    print(f"line-check: done in {time.monotonic() - started:.1f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
