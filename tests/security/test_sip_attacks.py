"""Issue 17, findings 4 and 9, as attacks on the SIP line: a flood from an address off `[line] sip_allow`, requests
from there inside a real call, a re-INVITE that moves the media, names in SDP, and where callbacks go.

Most attacks are datagrams fed to the user agent with an explicit clock; the rest run the real SIP transport on
loopback with a hand-written UDP phone (and a flooder bound to 127.0.0.2, which the line does not allow).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import uuid
from types import SimpleNamespace

import pytest

from appliance.callbacks import CallbackDialer
from appliance.errors import ApplianceError
from appliance.line.rtp import RtpLine
from appliance.line.sip import SipServer
from appliance.settings import Settings
from appliance.sip.agent import CallConnected, CallEnded, Dropped, MediaOffered, Send, UserAgent
from appliance.sip.forbidden import BURST, MAX_TRACKED, RATE_PER_S, SUMMARY_S, TOTAL_BURST, TOTAL_RATE_PER_S
from appliance.sip.message import Request, Response, parse

PHONE = ("127.0.0.1", 5061)
ATTACKER = ("192.0.2.66", 5060)
RTP_PORTS = "24600-24699"


def sdp(host: str, port: int) -> bytes:
    return (f"v=0\r\no=phone 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n").encode()


def request(method: str, call_id: str = "c1@phone", branch: str = "z9hG4bKaaa", cseq: int = 1, to_tag: str = "",
            body: bytes = b"", via: str = "127.0.0.1:5061", box: str = "127.0.0.1:5070") -> bytes:
    content_type = "Content-Type: application/sdp\r\n" if body else ""
    return (f"{method} sip:support@{box} SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch={branch}\r\n"
            f"From: \"Ann\" <sip:+15550100@{via}>;tag=t1\r\nTo: <sip:support@{box}>{to_tag}\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:ann@{via}>\r\nMax-Forwards: 70\r\n"
            f"{content_type}Content-Length: {len(body)}\r\n\r\n").encode() + body


def sent(outputs) -> list:
    return [parse(o.data) for o in outputs if isinstance(o, Send)]


def answered_call(agent: UserAgent, now: float = 0.0) -> str:
    """A call from the allowed phone, answered (200 sent, no ACK yet); returns `;tag=` of the appliance's side."""
    agent.receive(request("INVITE", body=sdp("127.0.0.1", 6000)), PHONE, now)
    ok = sent(agent.answer("c1@phone", b"v=0 the box's answer\r\n", now))[0]
    return ";tag=" + ok.get("To").split("tag=")[1]


# Finding 4: a flood from an address that is not allowed.


def test_a_flood_from_one_address_off_the_allow_list_gets_a_few_403s_one_log_line_and_no_state(caplog):
    agent = UserAgent("127.0.0.1", 5070, allow="127.0.0.1")
    caplog.set_level(logging.INFO, "appliance.sip")
    refusals = 0
    for n in range(10_000):  # 4 s at 2,500 datagrams a second, each a new call
        out = agent.receive(request("INVITE", call_id=f"flood-{n}", branch=f"z9hG4bK{n}", via="192.0.2.66:5060",
                                    body=sdp("192.0.2.66", 4000)), ATTACKER, n / 2500)
        refusals += len([m for m in sent(out) if m.status == 403])
    assert 1 <= refusals <= BURST + RATE_PER_S * 4
    assert agent.dialogs == {} and agent.timers == {} and agent.responses == {}  # nothing kept of them
    assert agent.forbidden.datagrams == 10_000 and not caplog.records  # counted, and not one log line each
    agent.tick(4.0 + SUMMARY_S)
    assert [r.getMessage() for r in caplog.records] == [
        f"sip-forbidden: dropped 10000 datagrams from 1 address not in [line] sip_allow in the last minute "
        f"(403 sent to {refusals} of them; top: 192.0.2.66 10000)"]
    agent.tick(10.0 + 2 * SUMMARY_S)
    assert len(caplog.records) == 1  # a quiet minute says nothing


def test_datagrams_from_off_the_allow_list_are_judged_by_address_before_they_are_read(caplog):
    agent = UserAgent("127.0.0.1", 5070, allow="127.0.0.1")
    caplog.set_level(logging.INFO, "appliance.sip")
    outputs = [agent.receive(b"\x00garbage " + bytes([n % 256]) * 40, ATTACKER, n / 1000) for n in range(2000)]
    assert all(out == [] for out in outputs)  # a few read and dropped, the rest not even read: no event at all
    assert agent.dropped == 0 and not caplog.records
    assert agent.receive(b"\x00garbage", PHONE, 3.0) == [Dropped("sip-malformed", PHONE)]  # the phone's is read


def test_a_flood_from_many_spoofed_addresses_is_bounded_in_403s_and_in_what_is_kept():
    agent = UserAgent("127.0.0.1", 5070, allow="127.0.0.1")
    refusals = 0
    for n in range(20_000):  # 8 s, each datagram from another address of 10.0.0.0/8
        source = (f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", 5060)
        out = agent.receive(request("OPTIONS", call_id=f"o-{n}", branch=f"z9hG4bK{n}"), source, n / 2500)
        refusals += len(sent(out))
    assert refusals <= TOTAL_BURST + TOTAL_RATE_PER_S * 8
    assert agent.forbidden.tracked <= MAX_TRACKED and agent.responses == {}
    with_summary = agent.forbidden.summary(8.0 + SUMMARY_S)
    assert "dropped 20000 datagrams from more than 1024 addresses" in with_summary


def test_the_allowed_phone_is_answered_in_full_during_a_flood():
    agent = UserAgent("127.0.0.1", 5070, allow="127.0.0.1")
    for n in range(1000):
        agent.receive(request("INVITE", call_id=f"flood-{n}", branch=f"z9hG4bK{n}"), ATTACKER, n / 2500)
    tag = answered_call(agent, 0.4)
    assert agent.receive(request("ACK", to_tag=tag), PHONE, 0.41) == [CallConnected("c1@phone")]
    out = agent.receive(request("BYE", branch="z9hG4bKbye", cseq=2, to_tag=tag), PHONE, 0.42)
    assert sent(out)[0].status == 200 and any(isinstance(o, CallEnded) for o in out)


# Finding 9: requests from outside the allow list inside a real call.


def test_an_ack_from_off_the_allow_list_neither_connects_the_call_nor_stops_the_200():
    agent = UserAgent("127.0.0.1", 5070, allow="127.0.0.1")
    tag = answered_call(agent)
    assert agent.receive(request("ACK", to_tag=tag), ATTACKER, 0.1) == []  # an ACK is never answered: dropped
    assert [m.status for m in sent(agent.tick(0.5))] == [200]  # still waiting for the phone's own ACK
    assert agent.receive(request("ACK", to_tag=tag), PHONE, 0.6) == [CallConnected("c1@phone")]


@pytest.mark.parametrize("method", ["BYE", "CANCEL", "INFO", "OPTIONS"])
def test_other_requests_from_off_the_allow_list_are_refused_and_leave_the_call_up(method):
    agent = UserAgent("127.0.0.1", 5070, allow="127.0.0.1")
    tag = answered_call(agent)
    agent.receive(request("ACK", to_tag=tag), PHONE, 0.1)
    branch = "z9hG4bKaaa" if method == "CANCEL" else "z9hG4bKevil"  # a CANCEL names the INVITE's transaction
    outputs = [agent.receive(request(method, branch=branch, cseq=1 if method == "CANCEL" else 2,
                                     to_tag="" if method == "CANCEL" else tag), ATTACKER, 0.2 + n / 100)
               for n in range(20)]
    statuses = [m.status for out in outputs for m in sent(out)]
    assert statuses and set(statuses) == {403} and len(statuses) <= BURST + RATE_PER_S
    assert not any(isinstance(o, CallEnded) for out in outputs for o in out)
    assert agent.dialogs["c1@phone"].state == "confirmed"


def test_the_far_end_of_a_call_the_box_placed_is_heard_only_in_that_call():
    agent = UserAgent("127.0.0.1", 5070, allow="127.0.0.1")
    callee = ("192.0.2.80", 5060)  # the trunk of a callback, not on the allow list
    call_id, out = agent.invite("sip:+15550123@192.0.2.80", b"v=0\r\n", callee, 0.0)
    invite = sent(out)[0]
    ok = Response(200, "OK", [(n, v) for n, v in invite.headers if n in ("Via", "From", "Call-ID", "CSeq")])
    ok.add("To", invite.get("To") + ";tag=far")
    assert CallConnected(call_id, b"") in agent.receive(ok.to_bytes(), callee, 0.1)
    bye = Request("BYE", "sip:support@127.0.0.1:5070", [
        ("Via", "SIP/2.0/UDP 192.0.2.80:5060;branch=z9hG4bKfar"), ("From", invite.get("To") + ";tag=far"),
        ("To", invite.get("From")), ("Call-ID", call_id), ("CSeq", "1 BYE")])
    stranger = request("INVITE", call_id="new@far", via="192.0.2.80:5060", body=sdp("192.0.2.80", 4000))
    assert [m.status for m in sent(agent.receive(stranger, callee, 0.2))] == [403]  # no new call from there
    out = agent.receive(bye.to_bytes(), callee, 0.3)
    assert sent(out)[0].status == 200 and any(isinstance(o, CallEnded) for o in out)


# Finding 9: a re-INVITE's new media address.


def test_a_reinvite_with_new_sdp_is_offered_to_the_line_then_answered_with_the_same_sdp():
    agent = UserAgent("127.0.0.1", 5070, allow="127.0.0.1")
    tag = answered_call(agent)
    agent.receive(request("ACK", to_tag=tag), PHONE, 0.1)
    moved = sdp("127.0.0.1", 7000)
    reinvite = request("INVITE", branch="z9hG4bKre", cseq=2, to_tag=tag, body=moved)
    out = agent.receive(reinvite, PHONE, 1.0)
    assert [m.status for m in sent(out)] == [100] and MediaOffered("c1@phone", moved) in out
    assert [m.status for m in sent(agent.receive(reinvite, PHONE, 1.1))] == [100]  # still being taken up
    other = request("INVITE", branch="z9hG4bKre2", cseq=3, to_tag=tag, body=moved)
    assert [m.status for m in sent(agent.receive(other, PHONE, 1.1))] == [491]  # one offer at a time
    ok = sent(agent.answer_reoffer("c1@phone", True, 1.2))[0]
    assert ok.status == 200 and ok.body == b"v=0 the box's answer\r\n"
    assert sent(agent.receive(reinvite, PHONE, 1.3)) == [ok]  # a retransmission: the same answer again
    agent.receive(request("INVITE", branch="z9hG4bKre3", cseq=4, to_tag=tag, body=moved), PHONE, 2.0)
    assert sent(agent.answer_reoffer("c1@phone", False, 2.1))[0].status == 488  # refused: the call goes on


# The real SIP transport on loopback.


class Phone:
    """A SIP phone written by hand: blocking UDP on a loopback address, one call, its RTP socket(s)."""

    def __init__(self, box_port: int, host: str = "127.0.0.1"):
        self.host, self.box = host, ("127.0.0.1", box_port)
        self.sip = self._bound()
        self.rtp = self._bound()
        self.call_id = f"{uuid.uuid4().hex}@{host}"
        self.to_tag = ""
        self.cseq = 1

    def _bound(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((self.host, 0))
        return sock

    def close(self) -> None:
        self.sip.close()
        self.rtp.close()

    def send(self, method: str, body: bytes = b"") -> bytes:
        via = f"{self.host}:{self.sip.getsockname()[1]}"
        data = request(method, self.call_id, f"z9hG4bK{uuid.uuid4().hex[:12]}", self.cseq, self.to_tag, body, via,
                       f"127.0.0.1:{self.box[1]}")
        self.sip.sendto(data, self.box)
        return data

    def transaction(self, method: str, body: bytes = b"", timeout_s: float = 10.0) -> Response:
        """Send `method` and its retransmissions (T1 doubling, as RFC 3261 asks) until its final answer comes;
        provisional answers and the box's own requests pass by."""
        data = self.send(method, body)
        deadline, interval = time.monotonic() + timeout_s, 0.5
        resend_at = time.monotonic() + interval
        while (now := time.monotonic()) < deadline:
            if now >= resend_at:
                self.sip.sendto(data, self.box)
                interval = min(interval * 2, 4.0)
                resend_at = now + interval
            self.sip.settimeout(max(0.01, min(resend_at, deadline) - now))
            try:
                message = parse(self.sip.recv(65536))
            except socket.timeout:
                continue
            if (isinstance(message, Response) and message.status >= 200 and message.get("Call-ID") == self.call_id
                    and message.get("CSeq") == f"{self.cseq} {method}"):
                return message
        raise AssertionError(f"no final answer to {method} within {timeout_s} s")

    def call(self, body: bytes | None = None) -> Response:
        """INVITE (with this phone's RTP socket in the SDP) up to the final answer, which is ACKed."""
        final = self.transaction("INVITE", body or sdp(self.host, self.rtp.getsockname()[1]))
        self.to_tag = ";tag=" + final.get("To").split("tag=")[1]
        self.send("ACK")
        return final

    def reinvite(self, body: bytes) -> Response:
        """A re-INVITE in the call, up to its final answer (ACKed)."""
        self.cseq += 1
        final = self.transaction("INVITE", body)
        self.send("ACK")
        return final

    def bye(self) -> Response:
        self.cseq += 1
        return self.transaction("BYE")


def rtp_arrives(sock: socket.socket, timeout_s: float = 5.0) -> bool:
    """Whether an RTP packet comes to `sock` within `timeout_s`."""
    sock.settimeout(timeout_s)
    try:
        return len(sock.recv(2048)) > 12
    except socket.timeout:
        return False


@pytest.fixture
async def box():
    """A SIP line on loopback that allows 127.0.0.1 only; each call it answers listens until hung up."""
    lines: list[RtpLine] = []

    async def on_call(line):
        lines.append(line)
        async for _ in line.audio():
            pass

    server = await SipServer("127.0.0.1", 0, on_call=on_call, allow="127.0.0.1", rtp_ports=RTP_PORTS).start()
    server.calls = lines
    yield server
    await server.close()


def flood(port: int, count: int, halfway: threading.Event) -> tuple[int, float]:
    """`count` INVITEs, each a new call, from 127.0.0.2 in bursts; (403s that came back, seconds it took)."""
    refusals, start = 0, time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.2", 0))
        sock.setblocking(False)
        via = f"127.0.0.2:{sock.getsockname()[1]}"

        def drain() -> int:
            got = 0
            while True:
                try:
                    got += sock.recv(65536).startswith(b"SIP/2.0 403")
                except BlockingIOError:
                    return got

        for n in range(count):
            data = request("INVITE", f"flood-{n}@127.0.0.2", f"z9hG4bKflood{n}", via=via,
                           box=f"127.0.0.1:{port}", body=sdp("127.0.0.2", 4000))
            try:
                sock.sendto(data, ("127.0.0.1", port))
            except BlockingIOError:
                pass
            if n % 50 == 49:
                refusals += drain()
                time.sleep(0.01)
            if n == count // 10:
                halfway.set()
        time.sleep(0.5)  # what the box still answers
        refusals += drain()
    return refusals, time.monotonic() - start


async def test_a_flood_off_the_allow_list_leaves_a_real_call_from_the_allowed_address_alone(box, caplog):
    caplog.set_level(logging.INFO, "appliance.sip")
    flooding = threading.Event()
    phone = Phone(box.port)

    def call() -> tuple[int, int]:
        flooding.wait(10)
        answered = phone.call().status
        time.sleep(0.3)
        return answered, phone.bye().status

    try:
        (refusals, flood_s), (answered, bye) = await asyncio.gather(
            asyncio.to_thread(flood, box.port, 5000, flooding), asyncio.to_thread(call))
    finally:
        phone.close()
    assert (answered, bye) == (200, 200)  # the call was set up and its BYE got its 200
    assert refusals <= BURST + RATE_PER_S * (flood_s + 1), f"{refusals} 403s in {flood_s:.1f} s"
    assert box.agent.forbidden.datagrams > 1000  # the flood did reach the box
    assert not [r for r in caplog.records if "sip-forbidden" in r.getMessage()]  # one line a minute, not one each
    assert not [key for key in box.agent.responses if key[0].startswith("flood-")]
    assert not [t for t in box.agent.timers.values() if t.addr[0] == "127.0.0.2"]


async def test_a_reinvite_moves_the_calls_rtp_to_its_new_address(box):
    phone = Phone(box.port)
    moved = phone._bound()
    try:
        assert (await asyncio.to_thread(phone.call)).status == 200
        assert await asyncio.to_thread(rtp_arrives, phone.rtp)
        ok = await asyncio.to_thread(phone.reinvite, sdp("127.0.0.1", moved.getsockname()[1]))
        assert ok.status == 200 and f"m=audio {box.calls[0].local_port} " in ok.body.decode()  # the same answer
        assert await asyncio.to_thread(rtp_arrives, moved)
        assert box.calls[0].remote == ("127.0.0.1", moved.getsockname()[1])
        assert (await asyncio.to_thread(phone.bye)).status == 200
    finally:
        phone.close()
        moved.close()


async def test_a_name_in_the_sdp_is_looked_up_once_when_the_offer_is_taken_up(box):
    phone = Phone(box.port)
    try:
        port = phone.rtp.getsockname()[1]
        answered = await asyncio.to_thread(phone.call, sdp("127.0.0.1", port).replace(b"c=IN IP4 127.0.0.1",
                                                                                         b"c=IN IP4 localhost"))
        assert answered.status == 200
        assert box.calls[0].remote == ("127.0.0.1", port)  # an address: no packet looks the name up again
        assert await asyncio.to_thread(rtp_arrives, phone.rtp)
        await asyncio.to_thread(phone.bye)
    finally:
        phone.close()


async def test_a_name_in_the_sdp_that_does_not_resolve_refuses_the_call_with_488(box):
    phone = Phone(box.port)
    try:
        offer = sdp("127.0.0.1", 4000).replace(b"c=IN IP4 127.0.0.1", b"c=IN IP4 media..invalid")
        assert (await asyncio.to_thread(phone.call, offer)).status == 488
        assert not box.calls
    finally:
        phone.close()


async def test_an_rtp_line_takes_addresses_only():
    line = await RtpLine.open("127.0.0.1", range(24700, 24720))
    try:
        with pytest.raises(ApplianceError) as refused:
            line.send_to(("localhost", 4000))
        assert refused.value.code == "line-rtp-address"
    finally:
        line.release()


# Finding 9: where callbacks go when [line] sip_trunk is empty.


async def dialer_after_a_call_from(host: str, allow: str) -> tuple[CallbackDialer, tuple[str, int]]:
    """A callback dialer on a SIP line that `allow`s, once a call from `host` came and went."""
    server = await SipServer("127.0.0.1", 0, on_call=lambda line: line.hangup(), allow=allow,
                             rtp_ports=RTP_PORTS).start()
    phone = Phone(server.port, host)
    try:
        await asyncio.to_thread(phone.call)
        came_from = (host, phone.sip.getsockname()[1])
    finally:
        phone.close()
        await server.close()
    return CallbackDialer(SimpleNamespace(active={}), server, Settings()), came_from


async def test_a_callback_is_not_sent_to_whichever_host_of_an_allowed_network_called_last():
    dialer, came_from = await dialer_after_a_call_from("127.0.0.5", "127.0.0.0/8")
    assert dialer.sip.last_trunk == came_from
    with pytest.raises(ApplianceError) as refused:
        dialer.trunk()
    assert "set [line] sip_trunk" in refused.value.message and "127.0.0.5" in refused.value.message


async def test_a_callback_goes_back_to_the_last_trunk_when_the_allow_list_names_it():
    dialer, came_from = await dialer_after_a_call_from("127.0.0.5", "127.0.0.1, 127.0.0.5")
    assert dialer.trunk() == came_from


def test_a_callback_goes_to_the_registrar_in_registration_mode():
    line = SipServer("127.0.0.1", 0, allow="127.0.0.0/8", registrar="127.0.0.9:5080")
    line.last_trunk = ("127.0.0.5", 5060)  # whoever called last does not matter
    assert CallbackDialer(SimpleNamespace(active={}), line, Settings()).trunk() == ("127.0.0.9", 5080)
