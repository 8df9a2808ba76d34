"""`appliance bench --lines N`: voice to voice measured the same way on every kind of line, from the caller's end.

One `appliance serve` answers a SIP line, an AudioSocket line and a GSM modem line (the SIM7600 twin on two
pseudo-terminals); this process is the three callers: the technicians' softphone over SIP and RTP, an Asterisk
that speaks AudioSocket, and the twin's caller. Each call says the same clip (the seed's first question, spoken
by espeak-ng through μ-law, as the modem tests say it) and takes, on the caller's own monotonic clock, the time
from the last voiced 20 ms frame it sent to the first voiced audio that reached it back, where it arrived (before
the softphone's jitter buffer). The lines take turns, one call at a time, so they share the machine's load.

Next to it, from serve's log and records, the appliance's own account of each turn: the end-of-turn decision,
speech to text, the reply's first sentence, its first audio, and voice to voice on the line's own audio
timeline. What the caller measured beyond that ("transport") is the caller's audio on its way to the turn
detector (`line in`: what the line held when the turn ended, RTP's jitter buffer included), the reply on its way
back, and where the VAD put the end of the speech: up to ~120 ms after the last frame over the callers' level,
by how its 32 ms windows fall.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from appliance.audio import FRAME_MS
from appliance.line import FRAME_SAMPLES, voiced
from appliance.line.audiosocket import Audio, AudioSocketParser, caller_uuid, encode_audio, encode_hangup, encode_uuid
from appliance.line.callers import caller_speech
from appliance.simulate import percentile

SEED = Path(__file__).resolve().parents[1].parent / "shared" / "scenarios" / "seed"  # whose knowledge serve has
LINES = ("sip", "modem", "audiosocket")
GREETING_QUIET_S = 1.0  # the greeting is over once the caller has heard this much quiet
ANSWER_QUIET_S = 2.0  # ...and the answer once it is finished and this much quiet followed
LISTEN_S = 60.0  # the longest a caller waits for anything
STAGES = ("line_in", "endpoint", "stt", "llm_first_sentence", "tts_first_audio")


@dataclass
class Ear:
    """What one caller said and heard, on its monotonic clock: voiced frames sent, audio received."""

    said: list[float] = field(default_factory=list)  # when each voiced frame went out
    heard: list[tuple[float, bool]] = field(default_factory=list)  # when audio arrived, and whether it was voiced

    def sent(self, frame: np.ndarray) -> None:
        if voiced(frame):
            self.said.append(time.monotonic())

    def received(self, pcm: np.ndarray) -> None:
        self.heard.append((time.monotonic(), voiced(pcm)))

    def voiced_since(self, moment_s: float) -> float | None:
        """The arrival of the first voiced audio after `moment_s`."""
        return next((at for at, loud in self.heard if loud and at > moment_s), None)

    def quiet_for(self) -> float:
        """Seconds since the last voiced audio arrived (since the first audio when none was voiced yet)."""
        voiced_at = [at for at, loud in self.heard if loud]
        return time.monotonic() - (voiced_at[-1] if voiced_at else time.monotonic())


class SipCaller:
    """The technicians' softphone (`appliance call`'s SipServer and RtpLine), its clock driven here."""

    name = "sip"

    def __init__(self, uri: str, rtp_ports: str):
        from appliance.line.sip import SipServer

        self.uri = uri
        self.phone = SipServer("127.0.0.1", 0, on_call=None, user="softphone", allow="", rtp_ports=rtp_ports)
        self.ear = Ear()
        self.line = None
        self._clock: asyncio.Task | None = None

    async def dial(self) -> None:
        await self.phone.start()
        self.ear = Ear()
        self.line = line = await self.phone.place_call(self.uri, ring_timeout_s=LISTEN_S, caller_id="+15550101")
        send, push = line.send_frame, line.jitter.push

        def send_frame(frame: np.ndarray) -> None:
            self.ear.sent(frame)
            send(frame)

        def arrived(packet) -> None:  # as it comes off the socket, before the jitter buffer
            self.ear.received(line.decode(packet.payload))
            push(packet)

        line.send_frame, line.jitter.push = send_frame, arrived
        self._clock = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        """The softphone's 20 ms clock: it sends what was said and takes what came, a frame a tick."""
        async for _ in self.line.audio():
            pass

    def say(self, pcm: np.ndarray) -> None:
        self.line.play(pcm)

    @property
    def saying(self) -> bool:
        return self.line.playing

    async def hang_up(self) -> None:
        await self.line.hangup()
        await asyncio.gather(self._clock, return_exceptions=True)
        await self.phone.close()


class ModemCaller:
    """The SIM7600 twin's caller: it rings the modem that serve holds, talks and listens on the twin's audio port."""

    name = "modem"

    def __init__(self, twin):
        self.twin = twin
        self.ear = Ear()
        channel = twin.caller
        next_frame, hear = channel.next_frame, channel.hear

        def frame() -> bytes:
            data = next_frame()
            self.ear.sent(np.frombuffer(data, dtype="<i2"))
            return data

        def heard(data: bytes, at_s: float) -> None:
            self.ear.received(np.frombuffer(data[:len(data) // 2 * 2], dtype="<i2"))
            hear(data, at_s)

        channel.next_frame, channel.hear = frame, heard

    async def dial(self) -> None:
        self.ear = Ear()
        self.twin.caller.forget_heard()
        self.twin.ring("+15550102")
        await until(lambda: self.twin.in_call and self.twin.audio_enabled)

    def say(self, pcm: np.ndarray) -> None:
        self.twin.say(pcm)

    @property
    def saying(self) -> bool:
        return self.twin.caller.saying

    async def hang_up(self) -> None:
        self.twin.remote_hang_up()
        await until(lambda: not self.twin.in_call)


class AudioSocketCaller:
    """Asterisk's side of AudioSocket(): a 20 ms frame out on its monotonic clock, the appliance's frames in."""

    name = "audiosocket"

    def __init__(self, port: int):
        self.port = port
        self.ear = Ear()
        self._script = np.zeros(0, np.int16)
        self._tasks: list[asyncio.Task] = []

    async def dial(self) -> None:
        self.ear = Ear()
        reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(encode_uuid(caller_uuid("+15550103")))
        self._tasks = [asyncio.create_task(self._send()), asyncio.create_task(self._read(reader))]

    async def _send(self) -> None:
        due = time.monotonic()
        while not self.writer.is_closing():
            frame = np.zeros(FRAME_SAMPLES, np.int16)
            chunk, self._script = self._script[:FRAME_SAMPLES], self._script[FRAME_SAMPLES:]
            frame[:len(chunk)] = chunk
            self.ear.sent(frame)
            self.writer.write(encode_audio(frame))
            due += FRAME_MS / 1000
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        parser = AudioSocketParser()
        while data := await reader.read(4096):
            parser.receive_data(data)
            for event in parser.next_frames():
                if isinstance(event, Audio):
                    self.ear.received(event.pcm)

    def say(self, pcm: np.ndarray) -> None:
        self._script = np.concatenate([self._script, pcm])

    @property
    def saying(self) -> bool:
        return bool(len(self._script))

    async def hang_up(self) -> None:
        self.writer.write(encode_hangup())
        self.writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def seed_question() -> str:
    """The first thing the seed set's first caller says: a question the shipped knowledge answers."""
    from appliance.simulate import load_set

    _, scenarios, _ = load_set(SEED)
    return next(turn["say"] for _, scenario in scenarios for turn in scenario["turns"] if "say" in turn)


async def until(condition, timeout_s: float = LISTEN_S) -> None:
    """Wait (polling every frame) until `condition()`; TimeoutError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:g} s")
        await asyncio.sleep(FRAME_MS / 1000)


class Serve:
    """`appliance serve` on the three lines, in a scratch data folder; its log lines kept as they come."""

    def __init__(self, uris: list[str], data_dir: Path):
        self.uris, self.data_dir = uris, data_dir
        self.said: list[str] = []

    async def start(self) -> None:
        env = {**os.environ, "APPLIANCE_PATHS_DATA_DIR": str(self.data_dir), "APPLIANCE_LINE_MAX_CALLS": "1"}
        arguments = [item for uri in self.uris for item in ("--line", uri)]
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "appliance", "serve", *arguments, env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        self._reading = asyncio.create_task(self._read())
        await until(lambda: any("knowledge:" in line for line in self.said) or self.process.returncode is not None,
                    300)
        if self.process.returncode is not None:
            raise RuntimeError("serve ended:\n" + "".join(self.said))

    async def _read(self) -> None:
        while line := await self.process.stdout.readline():
            self.said.append(line.decode(errors="replace"))

    def events(self, kind: str, since: int) -> list[tuple[int, str]]:
        """(call number, the rest of the line) of each `kind` event logged from line `since` on."""
        found = []
        for line in self.said[since:]:
            _, _, rest = line.partition(" call ")
            number, _, rest = rest.partition(" ")
            if number.isdigit() and rest.startswith(kind + " "):
                found.append((int(number), rest[len(kind) + 1:]))
        return found

    def record(self, call: int) -> tuple[float | None, dict]:
        """The call's voice to voice as the appliance recorded it (on the line's own audio timeline), and its caller
        turn's stage times."""
        with sqlite3.connect(f"file:{self.data_dir / 'appliance.db'}?mode=ro", uri=True) as database:
            stats = database.execute("SELECT voice_to_voice_p50_ms FROM call_stats WHERE call_id = ?",
                                     (call,)).fetchone()
            turn = database.execute("SELECT latency_ms FROM turn WHERE call_id = ? AND kind = 'caller'",
                                    (call,)).fetchone()
        return (stats[0] if stats else None), (json.loads(turn[0]) if turn else {})

    async def stop(self) -> None:
        self.process.terminate()
        await self.process.wait()
        await asyncio.gather(self._reading, return_exceptions=True)


async def one_call(caller, serve: Serve, speech: np.ndarray) -> dict:
    """Greeting, the question, the answer heard out; the caller's and the appliance's timings of it."""
    mark = len(serve.said)
    await caller.dial()
    ear = caller.ear
    await until(lambda: any(loud for _, loud in ear.heard))  # the greeting...
    await until(lambda: ear.quiet_for() >= GREETING_QUIET_S)  # ...is over
    caller.say(speech)
    await until(lambda: not caller.saying)
    last_s = ear.said[-1]
    await until(lambda: ear.voiced_since(last_s) is not None)
    await until(lambda: serve.events("reply-finished", mark) and ear.quiet_for() >= ANSWER_QUIET_S)
    await caller.hang_up()
    await until(lambda: serve.events("call-ended", mark))
    number, rest = serve.events("reply-finished", mark)[0]
    appliance_ms, stages = serve.record(number)
    heard_s = ear.voiced_since(last_s)
    result = {"line": caller.name, "call": number, "voice_to_voice_ms": (heard_s - last_s) * 1000,
              "said_last_s": last_s, "heard_first_s": heard_s,  # CLOCK_MONOTONIC, the same in serve on this machine
              "appliance_ms": appliance_ms, "intent": rest.partition("intent=")[2].split()[0].strip("'\""),
              **{stage: stages.get(stage) for stage in STAGES}, "acknowledged": bool(stages.get("acknowledged"))}
    return result


def free_port(kind: int) -> int:
    """A loopback port nobody uses now (SOCK_DGRAM for SIP, SOCK_STREAM for AudioSocket)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def measure(settings, count: int, say=print) -> list[dict]:
    """`count` calls on each line, the lines taking turns after one warm-up call; each call's timings."""
    speech = caller_speech(seed_question())
    sip_port, audiosocket_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    with tempfile.TemporaryDirectory(prefix="bench-lines-") as scratch:
        return await _measure(settings, count, speech, Path(scratch), sip_port, audiosocket_port, say)


async def _measure(settings, count: int, speech: np.ndarray, folder: Path, sip_port: int, audiosocket_port: int,
                   say) -> list[dict]:
    from appliance.modem.simulator import Simulator

    async with Simulator(link_dir=folder / "modem", signal=18) as twin:
        uris = [f"sip://127.0.0.1:{sip_port}", f"audiosocket://127.0.0.1:{audiosocket_port}",
                f"modem://{twin.path}?audio={twin.audio_path}"]
        serve = Serve(uris, folder / "data")
        say(f"serve: {' '.join(uris)} (loading its models)")
        await serve.start()
        callers = {"sip": SipCaller(f"sip:support@127.0.0.1:{sip_port}", settings.line.rtp_ports),
                   "modem": ModemCaller(twin), "audiosocket": AudioSocketCaller(audiosocket_port)}
        results = []
        try:
            warm = await one_call(callers[LINES[0]], serve, speech)
            say(f"warm-up call on {warm['line']}: {warm['voice_to_voice_ms']:.0f} ms (not counted)")
            for round_number in range(count):
                for name in LINES:
                    result = await one_call(callers[name], serve, speech)
                    results.append(result)
                    say(f"{round_number + 1:>2} {name:12} caller {result['voice_to_voice_ms']:5.0f} ms, appliance "
                        f"{result['appliance_ms']} ms, {result['intent']}")
        finally:
            await serve.stop()
    return results


def summary(results: list[dict]) -> list[dict]:
    """Per line: p50/p95 of the caller's voice to voice, and p50 of the appliance's stages and of the transport."""
    rows = []
    for name in LINES:
        calls = [r for r in results if r["line"] == name]
        if not calls:
            continue
        caller = [r["voice_to_voice_ms"] for r in calls]
        transport = [r["voice_to_voice_ms"] - r["appliance_ms"] for r in calls if r["appliance_ms"] is not None]
        row = {"line": name, "calls": len(calls), "p50": percentile(caller, 50), "p95": percentile(caller, 95),
               "min": min(caller), "max": max(caller),
               "appliance_p50": percentile([r["appliance_ms"] for r in calls if r["appliance_ms"] is not None], 50),
               "transport_p50": percentile(transport, 50), "transport_min": min(transport, default=0.0),
               "transport_max": max(transport, default=0.0), "acknowledged": sum(r["acknowledged"] for r in calls),
               "understood": sum(r["intent"] == "policy_query" for r in calls)}
        for stage in STAGES:
            row[stage] = percentile([r[stage] for r in calls if r[stage] is not None], 50)
        rows.append(row)
    return rows


def run_lines(settings, count: int, say=print) -> dict:
    """`appliance bench --lines N`: measure, then print the table."""
    load_before = os.getloadavg()[0]
    results = asyncio.run(measure(settings, count, say))
    load = (load_before, os.getloadavg()[0])
    rows = summary(results)
    say(f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} at the start and {load[1]:.2f} at the end")
    say("voice to voice from the caller's end, and the appliance's own account (ms; stages p50):")
    say(f"{'line':12} {'calls':>5} {'p50':>5} {'p95':>5} {'min-max':>10} | {'own':>5} {'transport (range)':>17} "
        f"{'line in':>7} | {'end':>4} {'stt':>4} {'reply':>5} {'tts':>4} {'acks':>4}")
    for row in rows:
        say(f"{row['line']:12} {row['calls']:5} {row['p50']:5.0f} {row['p95']:5.0f} {row['min']:4.0f}-{row['max']:<5.0f} | "
            f"{row['appliance_p50']:5.0f} {row['transport_p50']:5.0f} ({row['transport_min']:3.0f} to "
            f"{row['transport_max']:3.0f}) {row['line_in']:7.0f} | {row['endpoint']:4.0f} {row['stt']:4.0f} "
            f"{row['llm_first_sentence']:5.0f} {row['tts_first_audio']:4.0f} {row['acknowledged']:4}")
    wrong = [r for r in results if r["intent"] != "policy_query"]
    if wrong:
        say(f"{len(wrong)} of {len(results)} calls were not understood as the refund question")
    return {"lines": rows, "calls": results, "cores": os.cpu_count(), "load_average": load}
