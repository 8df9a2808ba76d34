"""sipp and an RTP socket as the far end of a call."""

from __future__ import annotations

import re
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from appliance.audio.g711 import ulaw_decode

HERE = Path(__file__).parent


def free_port(kind=socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Recorder:
    """The caller's side of the audio: an RTP socket that keeps what the appliance sends."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets: list[bytes] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.packets.append(self.sock.recv(2048))
            except socket.timeout:
                continue
            except OSError:
                return

    def stop(self) -> np.ndarray:
        """The audio received (PCMU), in sequence order."""
        self._stop.set()
        self.thread.join(2)
        self.sock.close()
        audio, highest = [], None
        for packet in self.packets:  # in arrival order; the sequence starts at random and may wrap past 65535
            if len(packet) <= 12 or packet[1] & 0x7F != 0:
                continue
            sequence = int.from_bytes(packet[2:4], "big")
            if highest is None:
                extended = sequence
            else:  # the 16-bit number nearest the highest seen so far
                extended = highest + ((sequence - highest + 0x8000) & 0xFFFF) - 0x8000
            highest = extended if highest is None else max(highest, extended)
            audio.append((extended, packet[12:]))
        audio.sort(key=lambda item: item[0])
        return ulaw_decode(b"".join(payload for _, payload in audio)) if audio else np.zeros(0, np.int16)


def run_sipp(sipp: str, port: int, scenario: str, timeout: float = 90, pause_ms: int = 1000,
             **keys) -> subprocess.CompletedProcess:
    """Run one sipp scenario against the appliance's SIP port; `keys` become `-key NAME VALUE`."""
    command = [sipp, f"127.0.0.1:{port}", "-sf", str(HERE / scenario), "-m", "1", "-i", "127.0.0.1",
               "-p", str(free_port()), "-mp", str(free_port()), "-timeout", f"{int(timeout)}s", "-nostdin", "-d", str(pause_ms),
               "-trace_err", "-error_file", str(Path(tempfile.gettempdir()) / "sipp-errors.log")]
    for name, value in keys.items():
        command += ["-key", name, str(value)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout + 30)


class Callee:
    """sipp as the called party (a UAS) on a loopback port, in the background; `keys` become `-key NAME VALUE`,
    `sets` `-set NAME VALUE` (global variables)."""

    def __init__(self, sipp: str, scenario: str, folder: Path, calls: int = 1, timeout: float = 60,
                 sets: dict | None = None, pause_ms: int = 1000, **keys):
        self.port = free_port()
        self.log_path = folder / f"{Path(scenario).stem}-logs.txt"
        self.out_path = folder / f"{Path(scenario).stem}-out.txt"
        command = [sipp, "-sf", str(HERE / scenario), "-m", str(calls), "-i", "127.0.0.1", "-p", str(self.port),
                   "-mp", str(free_port()), "-timeout", f"{int(timeout)}s", "-nostdin", "-d", str(pause_ms), "-trace_err",
                   "-error_file", "/dev/stderr", "-trace_logs", "-log_file", str(self.log_path)]
        for name, value in (sets or {}).items():
            command += ["-set", name, str(value)]
        for name, value in keys.items():
            command += ["-key", name, str(value)]
        self._out = open(self.out_path, "w")
        self.process = subprocess.Popen(command, stdout=self._out, stderr=subprocess.STDOUT, text=True)
        self.timeout = timeout

    def wait(self, timeout: float | None = None) -> int:
        """sipp's exit status once it is done (0: every call went as the scenario says)."""
        try:
            return self.process.wait(timeout or self.timeout + 30)
        finally:
            self._out.close()

    def output(self) -> str:
        """What sipp wrote: its screen, its errors and its <log> lines."""
        logged = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return self.out_path.read_text(errors="replace")[-3000:] + logged

    def stop(self) -> None:
        """End sipp if it is still running."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self._out.close()


class ProxyCall:
    """One call placed with sipp through a SIP proxy (uac_via_proxy.xml), in the background: it plays `pcap` once
    answered and is held until `hang_up()`. `box()` is the SIP port of the box that answered, from its Contact."""

    def __init__(self, sipp: str, proxy_port: int, folder: Path, name: str, caller: str, pcap: Path,
                 timeout: float = 600):
        self.name, self.caller = name, caller
        self.port, media = free_port(), free_port()
        self.call_id = f"{name}-1@127.0.0.1"  # -cid_str below, for call number 1
        self.log_path = folder / f"{name}-logs.txt"
        self.out_path = folder / f"{name}-out.txt"
        command = [sipp, f"127.0.0.1:{proxy_port}", "-sf", str(HERE / "uac_via_proxy.xml"), "-m", "1",
                   "-i", "127.0.0.1", "-p", str(self.port), "-mp", str(media), "-timeout", f"{int(timeout)}s",
                   "-nostdin", "-cid_str", f"{name}-%u@%s", "-trace_err", "-error_file",
                   str(folder / f"{name}-err.txt"), "-trace_logs", "-log_file", str(self.log_path),
                   "-key", "caller", caller, "-key", "rtpport", str(media), "-key", "pcap", str(pcap)]
        self._out = open(self.out_path, "w")
        self.process = subprocess.Popen(command, stdout=self._out, stderr=subprocess.STDOUT)

    def box(self, timeout_s: float = 120) -> int | None:
        """The SIP port of the box that answered, waiting for the 200; None if the call ended unanswered."""
        deadline = time.monotonic() + timeout_s
        while True:
            logged = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            found = re.search(r"answered-by (\d+)", logged)
            if found:
                return int(found.group(1))
            if self.process.poll() is not None:
                return None
            assert time.monotonic() < deadline, f"{self.name}: no answer within {timeout_s:.0f} s\n{self.output()}"
            time.sleep(0.1)

    def hang_up(self) -> None:
        """Tell sipp to send its BYE: a request it waits for (HANGUP, in the call's dialog by its Call-ID)."""
        message = (f"HANGUP sip:sipp@127.0.0.1:{self.port} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-hangup-{self.name}\r\n"
                   f"From: <sip:test@127.0.0.1>;tag=test\r\nTo: <sip:sipp@127.0.0.1>\r\nCall-ID: {self.call_id}\r\n"
                   f"CSeq: 1 HANGUP\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(message.encode(), ("127.0.0.1", self.port))

    def wait(self, timeout_s: float = 60) -> int:
        """sipp's exit status once the call is over: 0 when the BYE got its 200."""
        try:
            return self.process.wait(timeout_s)
        finally:
            self._out.close()

    def output(self) -> str:
        """sipp's screen, errors and log lines."""
        parts = [self.out_path, self.log_path, self.out_path.with_name(f"{self.name}-err.txt")]
        return "".join(path.read_text(errors="replace")[-3000:] for path in parts if path.exists())

    def stop(self) -> None:
        """End sipp if it is still running."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self._out.close()
