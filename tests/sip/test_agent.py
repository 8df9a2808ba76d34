"""The user agent core from datagrams alone: what RFC 3261 says must go back, and when."""

from __future__ import annotations

from appliance.sip.agent import (CallConnected, CallEnded, Dropped, IncomingCall, KeyReceived, Notified, RequestDone,
                                 Ringing, Send, UserAgent)
from appliance.line.capacity import Capacity
from appliance.sip.digest import DigestClient
from appliance.sip.message import Request, Response, parse

PEER = ("127.0.0.1", 5061)


def invite(call_id="c1@peer", branch="z9hG4bKaaa", body=b"v=0\r\n", to_tag="") -> bytes:
    return (f"INVITE sip:support@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch={branch}\r\n"
            f"From: \"Ann\" <sip:+15550100@127.0.0.1>;tag=t1\r\nTo: <sip:support@127.0.0.1:5070>{to_tag}\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:ann@127.0.0.1:5061>\r\nMax-Forwards: 70\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def request(method, call_id="c1@peer", branch="z9hG4bKbbb", cseq=2, to_tag="", body=b"", extra="") -> bytes:
    return (f"{method} sip:support@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch={branch}\r\n"
            f"From: <sip:+15550100@127.0.0.1>;tag=t1\r\nTo: <sip:support@127.0.0.1:5070>{to_tag}\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def sent(outputs) -> list:
    return [parse(o.data) for o in outputs if isinstance(o, Send)]


def answered(agent: UserAgent, now=0.0) -> str:
    agent.receive(invite(), PEER, now)
    ok = sent(agent.answer("c1@peer", b"v=0\r\n", now))[0]
    return ";tag=" + ok.get("To").split("tag=")[1]


def test_an_invite_gets_100_trying_and_becomes_an_incoming_call_with_the_caller_id():
    out = UserAgent("127.0.0.1", 5070).receive(invite(), PEER, 0.0)
    assert sent(out)[0].status == 100
    call = next(o for o in out if isinstance(o, IncomingCall))
    assert (call.caller_id, call.display_name, call.to_user, call.offer) == ("+15550100", "Ann", "support", b"v=0\r\n")


def test_p_asserted_identity_is_preferred_to_from():
    data = invite().replace(b"Max-Forwards", b"P-Asserted-Identity: <tel:+442071234567>\r\nMax-Forwards")
    call = next(o for o in UserAgent("127.0.0.1", 5070).receive(data, PEER, 0.0) if isinstance(o, IncomingCall))
    assert call.caller_id == "+442071234567"


def test_the_200_is_retransmitted_with_doubling_intervals_until_the_ack():
    agent = UserAgent("127.0.0.1", 5070)
    tag = answered(agent)
    assert agent.tick(0.4) == []
    assert sent(agent.tick(0.5))[0].status == 200  # T1
    assert agent.tick(1.4) == [] and sent(agent.tick(1.5))[0].status == 200  # then 2·T1 later
    out = agent.receive(request("ACK", cseq=1, to_tag=tag), PEER, 1.6)
    assert out == [CallConnected("c1@peer")]
    assert agent.tick(10.0) == []


def test_an_answer_never_acked_is_given_up_with_a_bye_after_64_t1():
    agent = UserAgent("127.0.0.1", 5070)
    answered(agent)
    out = []
    for step in range(1, 70):
        out += agent.tick(step * 0.5)
    assert any(isinstance(o, Send) and parse(o.data).method == "BYE" for o in out if isinstance(o, Send)
               and isinstance(parse(o.data), Request))
    assert CallEnded("c1@peer", "network", "no ACK for the answer") in out


def test_a_retransmitted_invite_gets_the_same_200_again():
    agent = UserAgent("127.0.0.1", 5070)
    answered(agent)
    again = sent(agent.receive(invite(), PEER, 0.2))
    assert [m.status for m in again] == [200]


def test_cancel_while_ringing_gets_200_then_487_and_ends_the_call():
    agent = UserAgent("127.0.0.1", 5070)
    agent.receive(invite(), PEER, 0.0)
    agent.ringing("c1@peer", 0.0)
    out = agent.receive(request("CANCEL", branch="z9hG4bKaaa", cseq=1), PEER, 0.1)
    assert [(m.status, m.get("CSeq")) for m in sent(out)] == [(200, "1 CANCEL"), (487, "1 INVITE")]
    assert any(isinstance(o, CallEnded) and o.by == "caller" for o in out)
    assert sent(agent.tick(0.6))[0].status == 487  # until the ACK
    agent.receive(request("ACK", branch="z9hG4bKaaa", cseq=1), PEER, 0.7)
    assert agent.tick(2.0) == []


def test_bye_from_the_caller_is_answered_and_ends_the_call():
    agent = UserAgent("127.0.0.1", 5070)
    tag = answered(agent)
    agent.receive(request("ACK", cseq=1, to_tag=tag), PEER, 0.1)
    out = agent.receive(request("BYE", to_tag=tag), PEER, 1.0)
    assert sent(out)[0].status == 200 and CallEnded("c1@peer", "caller", "the caller hung up") in out
    again = agent.receive(request("BYE", to_tag=tag), PEER, 1.2)  # the 200 was lost: the same 200 again
    assert [m.status for m in sent(again)] == [200]
    assert sent(agent.receive(request("BYE", call_id="nobody", branch="z9hG4bKccc"), PEER, 2.0))[0].status == 481


def test_the_appliance_hangs_up_with_a_bye_in_the_dialog_retransmitted_until_200():
    agent = UserAgent("127.0.0.1", 5070)
    tag = answered(agent)
    agent.receive(request("ACK", cseq=1, to_tag=tag), PEER, 0.1)
    out = agent.hangup("c1@peer", 1.0)
    bye = sent(out)[0]
    assert bye.method == "BYE" and bye.uri == "sip:ann@127.0.0.1:5061" and bye.get("To").endswith(";tag=t1")
    assert "tag=" in bye.get("From") and bye.get("CSeq") == "2 BYE"
    assert sent(agent.tick(1.5))[0].method == "BYE"
    ok = Response(200, "OK", [(n, v) for n, v in bye.headers if n in ("Via", "From", "To", "Call-ID", "CSeq")])
    assert agent.receive(ok.to_bytes(), PEER, 1.6) == [RequestDone("c1@peer", "BYE", 200, "OK")]
    assert agent.tick(5.0) == []


def test_options_is_answered_with_what_the_appliance_allows():
    reply = sent(UserAgent("127.0.0.1", 5070).receive(request("OPTIONS", call_id="o1"), PEER, 0.0))[0]
    assert reply.status == 200 and "INVITE" in reply.get("Allow")


def test_options_say_503_with_retry_after_while_the_box_takes_no_call():
    """Kamailio's dispatcher probes each box with OPTIONS and takes a box that answers 503 out of its set."""
    slots = {"now": Capacity(2, 1)}
    agent = UserAgent("127.0.0.1", 5070, capacity=lambda: slots["now"])
    assert sent(agent.receive(request("OPTIONS", call_id="o1"), PEER, 0.0))[0].status == 200
    for capacity, retry_s in ((Capacity(2, 2), "30"), (Capacity(0), "300"), (Capacity(2, 0, stopping=True), "60")):
        slots["now"] = capacity
        reply = sent(agent.receive(request("OPTIONS", call_id=f"o-{capacity.why_not}"), PEER, 0.0))[0]
        assert (reply.status, reply.get("Retry-After"), capacity.accepting) == (503, retry_s, False)
        assert "INVITE" in reply.get("Allow")
    slots["now"] = Capacity(2, 1)  # a call ended: the next probe finds it free again
    assert sent(agent.receive(request("OPTIONS", call_id="o2"), PEER, 1.0))[0].status == 200


def test_a_refused_call_says_when_to_try_again_and_its_ack_ends_it():
    agent = UserAgent("127.0.0.1", 5070)
    agent.receive(invite(), PEER, 0.0)
    busy = sent(agent.reject("c1@peer", 486, 0.1, retry_after_s=30))[0]
    assert (busy.status, busy.get("Retry-After")) == (486, "30")
    tag = ";tag=" + busy.get("To").split("tag=")[1]
    assert agent.receive(request("ACK", cseq=1, to_tag=tag, branch="z9hG4bKaaa"), PEER, 0.2) == []
    assert agent.tick(5.0) == [] and not agent.dialogs


def test_an_address_that_is_not_allowed_gets_403():
    agent = UserAgent("127.0.0.1", 5070, allow="127.0.0.1, 10.1.0.0/16")
    assert any(isinstance(o, IncomingCall) for o in agent.receive(invite(), ("10.1.2.3", 5060), 0.0))
    out = agent.receive(invite(call_id="c2"), ("192.0.2.9", 5060), 0.0)
    assert sent(out)[0].status == 403 and Dropped("sip-forbidden", ("192.0.2.9", 5060)) in out


def test_malformed_datagrams_are_counted_and_dropped():
    agent = UserAgent("127.0.0.1", 5070)
    for junk in (b"", b"\x00\xff" * 50, b"INVITE sip:x SIP/2.0\r\n\r\n", invite()[:40]):
        assert [type(o) for o in agent.receive(junk, PEER, 0.0)] == [Dropped]
    assert agent.dropped == 4


def test_an_unknown_method_gets_405_with_allow():
    reply = sent(UserAgent("127.0.0.1", 5070).receive(request("SUBSCRIBE", call_id="s1"), PEER, 0.0))[0]
    assert reply.status == 405 and "BYE" in reply.get("Allow")


def test_info_dtmf_relay_is_a_key():
    agent = UserAgent("127.0.0.1", 5070)
    tag = answered(agent)
    out = agent.receive(request("INFO", to_tag=tag, body=b"Signal=5\r\nDuration=160\r\n",
                                extra="Content-Type: application/dtmf-relay\r\n"), PEER, 0.5)
    assert KeyReceived("c1@peer", "5") in out


def _respond(out_request: Request, status: int, reason: str, to_tag="r1", extra=()) -> bytes:
    response = Response(status, reason, [(n, v) for n, v in out_request.headers
                                         if n in ("Via", "From", "Call-ID", "CSeq")])
    response.add("To", out_request.get("To") + (f";tag={to_tag}" if to_tag else ""))
    response.add("Contact", "<sip:agent@127.0.0.1:5090>")
    for name, value in extra:
        response.add(name, value)
    return response.to_bytes()


def test_a_placed_call_rings_is_answered_and_acked():
    agent = UserAgent("127.0.0.1", 5070)
    call_id, out = agent.invite("sip:+15550123@127.0.0.1:5090", b"v=0\r\n", ("127.0.0.1", 5090), 0.0)
    sent_invite = sent(out)[0]
    assert sent_invite.method == "INVITE" and sent_invite.body == b"v=0\r\n"
    assert sent(agent.tick(0.5))[0].method == "INVITE"  # timer A
    assert agent.receive(_respond(sent_invite, 180, "Ringing"), ("127.0.0.1", 5090), 0.6) == [Ringing(call_id)]
    assert agent.tick(2.0) == []  # a provisional answer stops the retransmissions
    out = agent.receive(_respond(sent_invite, 200, "OK", extra=[("Content-Type", "application/sdp")]),
                        ("127.0.0.1", 5090), 1.0)
    ack = sent(out)[0]
    assert ack.method == "ACK" and ack.uri == "sip:agent@127.0.0.1:5090" and ack.get("CSeq") == "1 ACK"
    assert CallConnected(call_id, b"") in out


def test_a_busy_callee_is_acked_and_ends_the_call_with_its_status():
    agent = UserAgent("127.0.0.1", 5070)
    call_id, out = agent.invite("sip:+15550123@127.0.0.1:5090", b"v=0\r\n", ("127.0.0.1", 5090), 0.0)
    out = agent.receive(_respond(sent(out)[0], 486, "Busy Here"), ("127.0.0.1", 5090), 0.3)
    assert sent(out)[0].method == "ACK"
    assert any(isinstance(o, CallEnded) and o.status == 486 for o in out)


def test_a_challenged_invite_is_sent_again_with_digest_credentials():
    agent = UserAgent("127.0.0.1", 5070, credentials=DigestClient("box", "secret"))
    _, out = agent.invite("sip:200@pbx.example", b"v=0\r\n", ("127.0.0.1", 5090), 0.0)
    out = agent.receive(_respond(sent(out)[0], 401, "Unauthorized", extra=[
        ("WWW-Authenticate", 'Digest realm="pbx", nonce="abc", algorithm=MD5, qop="auth"')]), ("127.0.0.1", 5090), 0.2)
    methods = [(m.method, m.get("CSeq")) for m in sent(out)]
    assert methods == [("ACK", "1 ACK"), ("INVITE", "2 INVITE")]
    assert sent(out)[1].get("Authorization").startswith('Digest username="box", realm="pbx"')


def test_a_blind_transfer_sends_refer_and_reads_the_notify():
    agent = UserAgent("127.0.0.1", 5070)
    tag = answered(agent)
    agent.receive(request("ACK", cseq=1, to_tag=tag), PEER, 0.1)
    refer = sent(agent.refer("c1@peer", "sip:201@pbx.example", 1.0))[0]
    assert refer.method == "REFER" and refer.get("Refer-To") == "<sip:201@pbx.example>"
    assert agent.receive(_respond(refer, 202, "Accepted", to_tag=""), PEER, 1.1) == [
        RequestDone("c1@peer", "REFER", 202, "Accepted")]
    out = agent.receive(request("NOTIFY", to_tag=tag, cseq=3, body=b"SIP/2.0 200 OK\r\n",
                                extra="Event: refer\r\nContent-Type: message/sipfrag\r\n"), PEER, 2.0)
    assert sent(out)[0].status == 200 and Notified("c1@peer", "refer", "SIP/2.0 200 OK") in out


def test_register_answers_the_challenge_and_refreshes_before_it_runs_out():
    agent = UserAgent("192.0.2.10", 5060, credentials=DigestClient("box", "secret"))
    pbx = ("192.0.2.1", 5060)
    first = sent(agent.register(pbx, 0.0, expires=300))[0]
    assert first.method == "REGISTER" and first.get("Expires") == "300" and "Authorization" not in dict(first.headers)
    challenge = _respond(first, 401, "Unauthorized", to_tag="", extra=[
        ("WWW-Authenticate", 'Digest realm="pbx", nonce="n1", algorithm=MD5, qop="auth"')])
    second = sent(agent.receive(challenge, pbx, 0.1))[0]
    assert second.get("CSeq") == "2 REGISTER" and second.get("Authorization").startswith('Digest username="box"')
    assert agent.receive(_respond(second, 200, "OK", to_tag=""), pbx, 0.2) == [
        RequestDone(second.get("Call-ID"), "REGISTER", 200, "OK", 300)]  # no Expires in the 200: what was asked
    assert agent.tick(100.0) == []
    assert agent.tick(260.0) == []
    refreshed = sent(agent.tick(271.0))  # 30 s before it runs out
    assert refreshed and refreshed[0].method == "REGISTER" and refreshed[0].get("Call-ID") == first.get("Call-ID")


def test_a_registrar_that_grants_less_time_is_refreshed_before_its_own_expiry():
    agent = UserAgent("192.0.2.10", 5060)
    pbx = ("192.0.2.1", 5060)
    first = sent(agent.register(pbx, 0.0, expires=300))[0]
    granted = _respond(first, 200, "OK", to_tag="", extra=[
        ("Contact", "<sip:support@192.0.2.99:5060>;expires=3600"),  # the extension's desk phone
        ("Contact", "<sip:support@192.0.2.10:5060>;expires=60"), ("Expires", "300")])
    assert agent.receive(granted, pbx, 0.0) == [RequestDone(first.get("Call-ID"), "REGISTER", 200, "OK", 60)]
    assert agent.tick(47.0) == []
    assert sent(agent.tick(48.0))[0].method == "REGISTER"  # at 80 % of the 60 s granted


def test_an_unanswered_call_the_appliance_gives_up_on_stops_retransmitting_its_480_at_the_ack():
    agent = UserAgent("127.0.0.1", 5070)
    agent.receive(invite(), PEER, 0.0)
    out = agent.hangup("c1@peer", 0.1)
    assert sent(out)[0].status == 480 and any(isinstance(o, CallEnded) for o in out)
    agent.receive(request("ACK", branch="z9hG4bKaaa", cseq=1), PEER, 0.2)
    assert agent.tick(5.0) == [] and not agent.dialogs
