"""Three appliances behind Kamailio, as README "Several boxes" sets them up: Debian's kamailio runs
deploy/kamailio/kamailio.cfg as it is (its defines set on the command line for loopback ports), three `appliance serve`
processes answer its calls, and sipp places them through it.

Kamailio's own count of calls (dispatcher algorithm 10) spreads them; each box's OPTIONS answer (200 with a free slot,
503 when full, drained or stopping) and its refusals (486, 503) keep calls off a box that has no room; a box killed
mid-call loses its own calls and nothing else. The dispatcher list here has no `maxload`, unlike the example's, so that
what keeps a full box out is the box's own answer, not Kamailio's bookkeeping.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from appliance.audio.wav import read_wav
from appliance.pipeline import default_question
from appliance.settings import ROOT

from sipp.pcap import speech_pcap
from sipp.peer import ProxyCall, free_port

CONFIG = ROOT / "deploy" / "kamailio" / "kamailio.cfg"
WAIT_S = 300  # a busy 2-core box is slow, never wrong: generous waits, no deadlines on speed
PING_S = 1  # how often Kamailio probes each box here
FR_TIMER_MS = 10000  # three boxes on one busy 2-core machine answer late at times; 10 s of silence is a dead box


def until(condition, what: str, timeout_s: float = WAIT_S, every_s: float = 0.2):
    """Wait for `condition()` to be true; fail saying `what` did not happen."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} (waited {timeout_s:.0f} s)"
        time.sleep(every_s)


class Box:
    """`appliance serve` on its own loopback SIP port and data folder, with the small reply model."""

    def __init__(self, data_dir: Path, port: int, rtp_ports: str, max_calls: int):
        self.data_dir, self.port, self.uri = data_dir, port, f"sip:127.0.0.1:{port}"
        environ = dict(os.environ, APPLIANCE_PATHS_DATA_DIR=str(data_dir), APPLIANCE_LLM_MODEL="llm-tiny",
                       APPLIANCE_LINE_MAX_CALLS=str(max_calls), APPLIANCE_LINE_OVERFLOW="reject",
                       APPLIANCE_LINE_RTP_PORTS=rtp_ports)
        self.process = subprocess.Popen([sys.executable, "-m", "appliance", "serve", "--line",
                                         f"sip://127.0.0.1:{port}"], cwd=ROOT, env=environ, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)

    def said(self, text: str, since: int = 0) -> int:
        """How many of its output lines from line `since` on contain `text`."""
        return sum(text in line for line in self.output[since:])

    def wait_ready(self) -> None:
        until(lambda: self.said("ready: ") or self.process.poll() is not None, f"box {self.port} did not start")
        assert self.process.poll() is None, "serve stopped:\n" + "".join(self.output[-40:])

    def voice_to_voice_ms(self, callers: set[str]) -> list[int]:
        """Voice to voice of these callers' calls, as the box measured and recorded them (one question each)."""
        with sqlite3.connect(self.data_dir / "appliance.db") as db:
            rows = db.execute("select c.caller_id, s.voice_to_voice_p50_ms from call c join call_stats s "
                              "on s.call_id = c.id").fetchall()
        return [ms for caller, ms in rows if caller in callers and ms is not None]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


class Kamailio:
    """Debian's kamailio on loopback with the deploy configuration, as a plain process (no root needed: its pid file,
    runtime files and control socket are in the test's folder)."""

    def __init__(self, folder: Path, boxes: list[str]):
        self.port = free_port()
        listed = folder / "dispatcher.list"  # the boxes' SIP URIs: set 1, probed, each its own duid
        listed.write_text("".join(f"1 {uri} 8 0 duid=box{n}\n" for n, uri in enumerate(boxes, 1)))
        self.log_path = folder / "kamailio.log"
        binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
        assert os.path.exists(binary), "kamailio is missing: scripts/setup --test installs Debian's kamailio"
        defines = {"LISTEN": f"udp:127.0.0.1:{self.port}", "DISPATCHER_LIST": f'"{listed}"',
                   "TRUNK_SOURCE": '"^127[.]0[.]0[.]1$"', "PING_INTERVAL_S": PING_S, "FR_TIMER_MS": FR_TIMER_MS,
                   "CTL_SOCKET": f'"unix:{folder}/kamailio_ctl"'}
        self.kamcmd = [shutil.which("kamcmd") or "/usr/sbin/kamcmd", "-s", f"unix:{folder}/kamailio_ctl"]
        command = [binary, "-DD", "-E", "-n", "2", "-f", str(CONFIG), "-Y", str(folder), "-w", str(folder),
                   "-P", str(folder / "kamailio.pid")]
        for name, value in defines.items():
            command += ["-A", f"{name}={value}"]
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)

    def state(self, box: Box) -> str:
        """Whether Kamailio sends calls to `box` now, as `kamcmd dispatcher.list` says (what an admin runs): up (FLAGS
        A: active), trying (T: one probe failed, still chosen), down (I: inactive), or missing."""
        listed = subprocess.run(self.kamcmd + ["dispatcher.list"], capture_output=True, text=True, timeout=30).stdout
        found = re.search(rf"URI: {re.escape(box.uri)}\s+FLAGS: (\w)", listed)
        return {"A": "up", "T": "trying", "I": "down"}.get(found.group(1), found.group(1)) if found else "missing"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def rack(sipp, tmp_path):
    """Kamailio in front of boxes A, B and C, each taking 2 calls at once; started, and all up in its set. Returns
    Kamailio, the boxes, and `start_box(n, max_calls)` to start box n again."""
    ports = [free_port() for _ in range(3)]
    started: list[Box] = []

    def box(n: int, max_calls: int) -> Box:
        started.append(Box(tmp_path / f"box{n}", ports[n], f"{31000 + 100 * n}-{31099 + 100 * n}", max_calls))
        return started[-1]

    # Kamailio first: each box is down in its set until it answers an OPTIONS, then up.
    kamailio = Kamailio(tmp_path, [f"sip:127.0.0.1:{port}" for port in ports])
    try:
        boxes = []
        for n in range(3):  # one after another: three model loads at once on 2 cores crawl
            boxes.append(box(n, 2))
            boxes[-1].wait_ready()
        until(lambda: all(kamailio.state(box) == "up" for box in boxes), "Kamailio did not see every box up")
        yield kamailio, boxes, box
    finally:
        for one in started:
            one.stop()
        kamailio.stop()
        print(f"kamailio's log: {kamailio.log_path}")


def place(sipp, kamailio: Kamailio, folder: Path, name: str, pcap: Path, calls: list) -> ProxyCall:
    """A call through Kamailio from a caller with a number of its own; kept in `calls`, to be stopped at the end."""
    number = f"+1555{len(calls):07d}"
    calls.append(ProxyCall(sipp, kamailio.port, folder, name, number, pcap))
    return calls[-1]


def percentile(values: list[int], share: float) -> int:
    """The value `share` of the way up the sorted values (0.95: p95)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def test_calls_spread_over_three_boxes_skip_a_full_or_drained_one_and_survive_a_killed_one(rack, sipp, tmp_path):
    kamailio, (a, b, c), start_box = rack
    by_port = {box.port: box for box in (a, b, c)}
    question, _ = read_wav(default_question(), 8000)
    # Five seconds of quiet first: the greeting is heard out before the question.
    asking = speech_pcap(tmp_path / "question.pcap", np.concatenate([np.zeros(5 * 8000, np.int16), question]))
    quiet = speech_pcap(tmp_path / "quiet.pcap", np.zeros(8000, np.int16))
    calls: list[ProxyCall] = []
    try:
        # 1. Three callers ask at once: one call on each box (each the least loaded in turn); then six, two on each.
        measured = {}
        for round_, count in (("three", 3), ("six", 6)):
            mark = {box.port: len(box.output) for box in (a, b, c)}
            placed, answered = [], []
            for n in range(count):  # one after another: each goes to the box with the fewest calls then
                placed.append(place(sipp, kamailio, tmp_path, f"{round_}{n}", asking, calls))
                answered.append(placed[-1].box())
            spread = {port: answered.count(port) for port in by_port}
            assert sorted(spread.values()) == [count // 3] * 3, spread
            if count == 6:
                # 2. Every slot is taken: each box answers OPTIONS with 503 and leaves Kamailio's set, and a seventh
                # caller is routed nowhere (Kamailio says 503 itself); no box starts a seventh call.
                until(lambda: all(kamailio.state(box) == "down" for box in (a, b, c)), "full boxes stayed up")
                extra = place(sipp, kamailio, tmp_path, "seventh", quiet, calls)
                assert extra.box() is None and extra.wait() != 0
                assert "503 No Appliance Free" in extra.output()
            for box in (a, b, c):  # each call heard its answer
                until(lambda: box.said("reply-finished", mark[box.port]) >= spread[box.port],
                      f"box {box.port} did not answer its {spread[box.port]} caller(s)")
            for call in placed:
                call.hang_up()
            assert [call.wait() for call in placed] == [0] * count, [c.output() for c in placed]
            for box in (a, b, c):
                until(lambda: box.said("call-ended", mark[box.port]) >= spread[box.port], "calls did not end")
            callers = {call.caller for call in placed}
            measured[count] = [ms for box in (a, b, c) for ms in box.voice_to_voice_ms(callers)]
        until(lambda: all(kamailio.state(box) == "up" for box in (a, b, c)), "free boxes did not come back up")
        for count, values in measured.items():  # measured, not asserted: this is one 2-core machine for all three
            print(f"{count} calls at once on three boxes (one 2-core machine): voice to voice p50 "
                  f"{percentile(values, 0.5)} ms, p95 {percentile(values, 0.95)} ms ({len(values)} calls)")

        # 3. A box killed mid-call loses its own calls; the others' calls end normally and the next go elsewhere.
        held, where = [], {}  # four calls: two on one box, one on each other
        for n in range(4):
            held.append(place(sipp, kamailio, tmp_path, f"held{n}", quiet, calls))
            where[held[-1].name] = held[-1].box()
        victim = by_port[max(by_port, key=lambda port: list(where.values()).count(port))]
        lost = [call for call in held if where[call.name] == victim.port]
        assert len(lost) == 2, where
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(30)
        for call in held:
            call.hang_up()
        outcomes = {call.name: call.wait(FR_TIMER_MS / 1000 + 60) for call in held}
        assert all((outcomes[call.name] != 0) == (call in lost) for call in held), (outcomes, where)
        survivors = [box for box in (a, b, c) if box is not victim]
        after = place(sipp, kamailio, tmp_path, "after-kill", quiet, calls)
        assert after.box() in {box.port for box in survivors}
        until(lambda: kamailio.state(victim) == "down", "Kamailio kept the dead box in its set")

        # 4. The dead box comes back drained ([line] max_calls = 0): it answers OPTIONS with 503 and stays out.
        back = start_box((a, b, c).index(victim), 0)
        # 5. A running box with a call and a free slot is drained with SIGTERM (what systemctl stop or restart does):
        # its OPTIONS say 503 at once, its call in progress finishes, and the next call goes to the other box.
        draining = by_port[after.box()]
        other = next(box for box in survivors if box is not draining)
        assert kamailio.state(draining) != "down"  # one call of two: it has room
        draining.process.send_signal(signal.SIGTERM)
        until(lambda: kamailio.state(draining) == "down", "Kamailio kept sending to a stopping box")
        next_call = place(sipp, kamailio, tmp_path, "while-draining", quiet, calls)
        assert next_call.box() == other.port
        after.hang_up()
        assert after.wait() == 0, after.output()  # the stopping box finished its call
        assert draining.process.wait(WAIT_S) == 0
        back.wait_ready()
        assert "drained" in "".join(back.output)
        time.sleep(4 * PING_S)  # several probes: the drained box is never taken back into the set
        assert kamailio.state(back) == "down"
        last = place(sipp, kamailio, tmp_path, "last", quiet, calls)
        assert last.box() == other.port and not back.said("call-started")
        for call in (next_call, last):
            call.hang_up()
            assert call.wait() == 0, call.output()

        # Every call Kamailio routed was answered: all but the seventh, which it had nowhere to send.
        unanswered = [call.name for call in calls if call.name != "seventh" and call.box(0) is None]
        assert unanswered == []
    finally:
        for call in calls:
            call.stop()
