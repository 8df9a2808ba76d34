"""Call control against sipp, an independent SIP peer: keys as RFC 4733 events, CANCEL while it rings, BYE
from either side, a blind transfer's REFER, a flood of malformed datagrams, and a caller off the allow list."""

from __future__ import annotations

import random
import socket
import subprocess
import time

import pytest

from appliance.line.callers import PiperCaller
from appliance.records.models import Agent, Order

from sipp.peer import HERE, Recorder, free_port
from sipp.pcap import speech_pcap


@pytest.fixture(scope="module")
def caller(store):
    """A caller voiced by Piper: `caller(text)` is 8 kHz speech as it sounds on the line."""
    return PiperCaller(store.checked_path("tts"))


def sipp_call(sipp: str, port: int, scenario: str, folder, ip: str = "127.0.0.1", timeout: float = 60,
              pause_ms: int = 1000, **keys) -> subprocess.CompletedProcess:
    """Run one call of `scenario` from `ip` against the appliance; its errors, messages and logs are kept in
    `folder` and appended to stderr, so that a failed assertion shows what went over the wire."""
    stem = scenario.removesuffix(".xml")
    errors, messages, logs = folder / f"{stem}-errors.txt", folder / f"{stem}-messages.txt", folder / f"{stem}-logs.txt"
    command = [sipp, f"127.0.0.1:{port}", "-sf", str(HERE / scenario), "-m", "1", "-i", ip, "-p", str(free_port()),
               "-mp", str(free_port()), "-timeout", f"{int(timeout)}s", "-nostdin", "-d", str(pause_ms),
               "-trace_err", "-error_file", str(errors), "-trace_msg", "-message_file", str(messages),
               "-trace_logs", "-log_file", str(logs)]
    for name, value in keys.items():
        command += ["-key", name, str(value)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 30)
    kept = "".join(path.read_text(errors="replace")[-4000:] for path in (errors, logs, messages) if path.exists())
    result.stderr = f"{result.stderr[-1500:]}\n{kept}"
    return result


def events_since(running, start: float, kind: str | None = None) -> list:
    """The service's events published since `start` (time.time()), of `kind` if given."""
    return [e for e in running.service.bus.recent if e.at >= start and (kind is None or e.kind == kind)]


def wait_for(condition, timeout_s: float = 15.0, every_s: float = 0.1):
    """Poll `condition()` until it is true or `timeout_s` passes; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(every_s)
    return value


def idle(running) -> bool:
    """No call in progress in the service, no RTP line open and no dialog left in the SIP core."""
    return not running.service.active and not running.sip.lines and not running.sip.agent.dialogs


def ended(running, start: float) -> list:
    return events_since(running, start, "call-ended")


# 1. Keys


def test_digits_keyed_as_rfc_4733_events_are_a_keyed_entry_of_the_order_number(running, sipp, caller, tmp_path):
    # The caller's own order: the number in From is the one on file (the box tells no one else).
    Order.create(order_id="48213", phone="+15550100", status="shipped", product="router", estimated_delivery="Friday")
    question = caller("What's the status of my order?")
    keys_at_s = len(question) / 8000 + 9.0  # past the appliance's question for the number
    pcap = speech_pcap(tmp_path / "order.pcap", question, keys="48213#", keys_at_s=keys_at_s)
    recorder = Recorder()
    start = time.time()
    result = sipp_call(sipp, running.port, "uac.xml", tmp_path, rtpport=recorder.port, pcap=pcap,
                       pause_ms=int((keys_at_s + 12) * 1000))
    recorder.stop()
    heard = [e.data for e in events_since(running, start, "caller-heard")]
    replies = [e.data for e in events_since(running, start, "reply-finished")]
    assert result.returncode == 0, result.stderr
    assert any(not h["keyed"] and "order" in h["text"].lower() for h in heard), (heard, replies)
    keyed = [h for h in heard if h["keyed"]]
    assert keyed and keyed[0]["text"] == "48213", (heard, replies)
    assert any("shipped" in r["text"].lower() for r in replies), (heard, replies)


# 2. CANCEL


@pytest.mark.parametrize("scenario", ["uac_cancel.xml", "uac_cancel_ringing.xml"])
def test_a_caller_who_cancels_before_the_answer_gets_487_and_leaves_no_call_behind(running, sipp, tmp_path, scenario):
    start = time.time()
    result = sipp_call(sipp, running.port, scenario, tmp_path, timeout=30)
    assert result.returncode == 0, result.stderr
    assert wait_for(lambda: idle(running), 10), (
        f"active {list(running.service.active)}, lines {list(running.sip.lines)}, "
        f"dialogs {list(running.sip.agent.dialogs)}, events {[(e.kind, e.data) for e in events_since(running, start)]}")
    assert not events_since(running, start, "reply-started"), "a cancelled call was talked to"


# 3. BYE


def test_the_callers_bye_mid_call_is_answered_and_ends_the_call(running, sipp, caller, tmp_path):
    pcap = speech_pcap(tmp_path / "hours.pcap", caller("What are your opening hours on Saturday?"))
    recorder = Recorder()
    start = time.time()
    result = sipp_call(sipp, running.port, "uac.xml", tmp_path, rtpport=recorder.port, pcap=pcap, pause_ms=4500)
    hung_up = time.time()
    recorder.stop()
    assert result.returncode == 0, result.stderr
    assert wait_for(lambda: ended(running, start), 10), [(e.kind, e.data) for e in events_since(running, start)]
    call_ended = ended(running, start)[0]
    assert call_ended.data["ended_by"] == "caller", call_ended.data
    assert call_ended.at - hung_up < 5, "the call went on after the caller's BYE"
    assert wait_for(lambda: idle(running), 10)


def test_a_caller_who_says_goodbye_gets_the_appliances_bye(running, sipp, caller, tmp_path):
    pcap = speech_pcap(tmp_path / "goodbye.pcap", caller("No, that's all, thank you, goodbye."))
    recorder = Recorder()
    start = time.time()
    result = sipp_call(sipp, running.port, "uac_goodbye.xml", tmp_path, rtpport=recorder.port, pcap=pcap)
    audio = recorder.stop()
    assert result.returncode == 0, result.stderr
    assert wait_for(lambda: ended(running, start), 10)
    assert ended(running, start)[0].data["ended_by"] == "appliance"
    intents = [e.data["intent"] for e in events_since(running, start, "reply-finished")]
    assert "goodbye" in intents, intents
    assert len(audio) > 8000, f"only {len(audio) / 8000:.1f} s of the goodbye was heard before the BYE"
    assert wait_for(lambda: idle(running), 10)


# 4. Transfer


@pytest.fixture(scope="module")
def agent(running):
    """An available agent whose line is reached at sip:201@127.0.0.1:5099."""
    return Agent.create(name="Dana", expertise=["sales", "support"], status="available",
                        contact="sip:201@127.0.0.1:5099")


def test_a_caller_who_asks_for_a_person_is_referred_to_the_agents_contact(running, sipp, caller, agent, tmp_path):
    pcap = speech_pcap(tmp_path / "human.pcap", caller("I want to speak to a human, please."))
    recorder = Recorder()
    start = time.time()
    result = sipp_call(sipp, running.port, "uac_transfer.xml", tmp_path, rtpport=recorder.port, pcap=pcap)
    recorder.stop()
    seen = [(e.kind, e.data) for e in events_since(running, start)]
    assert result.returncode == 0, result.stderr
    transferred = events_since(running, start, "call-transferred")
    assert transferred and transferred[0].data["target"] == "sip:201@127.0.0.1:5099", seen
    assert transferred[0].data["status"] == 200, seen  # what the NOTIFY reported, not the REFER's 202
    assert wait_for(lambda: ended(running, start), 10), seen
    assert ended(running, start)[0].data["ended_by"] == "appliance"
    assert wait_for(lambda: idle(running), 10)


def test_a_transfer_the_target_refuses_keeps_the_caller_on_the_line(running, sipp, caller, agent, tmp_path):
    pcap = speech_pcap(tmp_path / "human.pcap", caller("I want to speak to a human, please."))
    recorder = Recorder()
    start = time.time()
    result = sipp_call(sipp, running.port, "uac_transfer_busy.xml", tmp_path, rtpport=recorder.port, pcap=pcap,
                       pause_ms=8000)
    recorder.stop()
    seen = [(e.kind, e.data) for e in events_since(running, start)]
    assert result.returncode == 0, result.stderr  # sipp fails the call on a BYE from the appliance
    assert not events_since(running, start, "call-transferred"), seen
    failed = [e.data for e in events_since(running, start, "stage-failed")]
    assert any(f["code"] == "line-transfer-failed" and f["status"] == 486 for f in failed), seen
    assert wait_for(lambda: ended(running, start), 10), seen
    assert ended(running, start)[0].data["ended_by"] == "caller"
    assert wait_for(lambda: idle(running), 10)


# 5. Malformed datagrams

INVITE = (
    "INVITE sip:support@127.0.0.1:{port} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-fuzz-{n}\r\n"
    "From: \"Fuzz\" <sip:+15550199@127.0.0.1:{local}>;tag=fuzz{n}\r\n"
    "To: <sip:support@127.0.0.1:{port}>\r\n"
    "Call-ID: fuzz-{n}@127.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:fuzz@127.0.0.1:{local}>\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: {length}\r\n"
    "\r\n")
SDP = ("v=0\r\no=fuzz 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n")
POISON = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0xC0, 0xC1, 0xF5, 0xFE, 0xFF])


def invite(port: int, local: int, n: int) -> bytes:
    return INVITE.format(port=port, local=local, n=n, length=len(SDP)).encode() + SDP.encode()


def malformed(rng: random.Random, port: int, local: int, n: int) -> bytes:
    """An INVITE broken in one of the ways a SIP parser must survive; none of them is a valid message."""
    good = invite(port, local, n)
    head_end = good.index(b"\r\n\r\n")
    kind = n % 9
    if kind == 0:  # cut short before the end of the headers
        return good[:rng.randrange(1, head_end)]
    if kind == 1:  # a body shorter than its Content-Length
        return good[:rng.randrange(head_end + 4, len(good) - 1)]
    if kind == 2:  # random bytes
        return rng.randbytes(rng.randrange(1, 1400))
    if kind == 3:  # control characters or bytes that are not UTF-8 in the start line or the headers
        data = bytearray(good)
        for _ in range(rng.randrange(1, 6)):
            data.insert(rng.randrange(0, head_end), rng.choice(POISON))
        return bytes(data)
    if kind == 4:  # a huge Content-Length
        return good.replace(f"Content-Length: {len(SDP)}".encode(),
                            f"Content-Length: {rng.choice([2**31, 10**10 - 1, 65536, 999999])}".encode())
    if kind == 5:  # a header line with no colon
        lines = good[:head_end].split(b"\r\n")
        at = rng.randrange(1, len(lines))
        lines[at] = lines[at].replace(b":", b" ", 1)
        return b"\r\n".join(lines) + good[head_end:]
    if kind == 6:  # a required header missing
        name = rng.choice([b"Via", b"From", b"To", b"Call-ID", b"CSeq"])
        lines = [line for line in good[:head_end].split(b"\r\n") if not line.startswith(name + b":")]
        return b"\r\n".join(lines) + good[head_end:]
    if kind == 7:  # a start line that is not one
        line, rest = good.split(b"\r\n", 1)
        broken = rng.choice([b"INVITE", b"INVITE sip:support SIP/3.0", b"INVITE  sip:x@y SIP/2.0",
                             b"SIP/2.0 2000 OK", b"SIP/9.9 200 OK", b"IN<VITE sip:a@b SIP/2.0", line[:rng.randrange(1, 20)]])
        return broken + b"\r\n" + rest
    # a header that may appear once, twice; or a CSeq for another method
    return good.replace(b"CSeq: 1 INVITE\r\n", rng.choice([b"CSeq: 1 INVITE\r\nCSeq: 2 INVITE\r\n",
                                                           b"CSeq: 1 BYE\r\n", b"CSeq: x INVITE\r\n",
                                                           b"CSeq: 1 INVITE\r\nCall-ID: other@x\r\n"]))


def test_a_thousand_malformed_datagrams_leave_the_service_answering_the_next_call(running, sipp, tmp_path):
    rng = random.Random(4733)
    dropped_before = running.sip.agent.dropped
    start = time.time()
    count = 1200
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.05)
        local = sock.getsockname()[1]
        answers = []
        for n in range(count):
            sock.sendto(malformed(rng, running.port, local, n), ("127.0.0.1", running.port))
            if n % 50 == 49:  # let the service's loop keep up: a full socket buffer would lose datagrams, not test them
                wait_for(lambda: running.sip.agent.dropped - dropped_before >= n + 1 - 5, 5, 0.01)
        try:
            while True:
                answers.append(sock.recv(65536))
        except socket.timeout:
            pass
    assert wait_for(lambda: running.sip.agent.dropped - dropped_before >= count, 10), \
        f"{running.sip.agent.dropped - dropped_before} of {count} malformed datagrams were counted as dropped"
    assert running.sip.agent.dropped - dropped_before == count
    accepted = [a for a in answers if a[:9] in (b"SIP/2.0 1", b"SIP/2.0 2")]
    assert not accepted, f"a malformed datagram was taken for a request: {accepted[0][:200]!r}"
    assert not events_since(running, start, "call-started"), "a malformed INVITE became a call"

    recorder = Recorder()
    result = sipp_call(sipp, running.port, "uac_short.xml", tmp_path, rtpport=recorder.port, pause_ms=3000)
    audio = recorder.stop()
    assert result.returncode == 0, result.stderr
    assert len(events_since(running, start, "call-started")) == 1
    assert len(audio) > 8000, f"only {len(audio) / 8000:.1f} s of RTP came on the call after the flood"
    assert wait_for(lambda: idle(running), 10)


# 6. The allow list


def test_a_caller_from_an_address_off_the_allow_list_gets_403_and_no_call(running, sipp, tmp_path):
    dropped_before = running.sip.agent.dropped
    start = time.time()
    result = sipp_call(sipp, running.port, "uac_forbidden.xml", tmp_path, ip="127.0.0.2", timeout=20,
                       rtpport=free_port())
    assert result.returncode == 0, result.stderr
    assert running.sip.agent.dropped == dropped_before + 1
    assert not events_since(running, start, "call-started")
    assert idle(running)
