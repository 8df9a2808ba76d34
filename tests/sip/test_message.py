"""SIP messages from byte captures: parsing, the wire form, header values and responses built per RFC 3261."""

from __future__ import annotations

import re

import pytest

from appliance.errors import ApplianceError
from appliance.sip.message import (CSeq, Headers, NameAddr, Request, Response, SipUri, Via, new_branch,
                                   new_call_id, new_tag, parse, parse_params, response_to)

NAMES = ["INVITE", "200", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "401", "compact"]


@pytest.mark.parametrize("name", NAMES)
def test_every_capture_survives_a_round_trip(captures, name):
    message = parse(captures[name])
    again = parse(message.to_bytes())
    assert again == message
    assert again.to_bytes() == message.to_bytes()


@pytest.mark.parametrize("name", ["INVITE", "200", "ACK", "BYE", "CANCEL", "OPTIONS", "401"])
def test_a_capture_in_full_form_comes_back_byte_for_byte(captures, name):
    assert parse(captures[name]).to_bytes() == captures[name]


def test_the_invite_from_sipp(captures):
    invite = parse(captures["INVITE"])
    assert isinstance(invite, Request)
    assert (invite.method, invite.uri) == ("INVITE", "sip:service@192.168.1.10:5060")
    assert invite.get("call-id") == "1-4242@192.168.1.20"
    assert CSeq.parse(invite.get("CSeq")) == CSeq(1, "INVITE")
    assert invite.body.startswith(b"v=0\r\n") and invite.body.endswith(b"a=fmtp:101 0-16\r\n")
    assert NameAddr.parse(invite.get("From")).tag == "4242SIPpTag001"
    assert NameAddr.parse(invite.get("To")).tag is None


def test_the_200_from_asterisk(captures):
    ok = parse(captures["200"])
    assert isinstance(ok, Response)
    assert (ok.status, ok.reason) == (200, "OK")
    assert ok.get_all("Allow")[:3] == ["INVITE", "ACK", "CANCEL"] and len(ok.get_all("Allow")) == 11
    assert ok.get_all("Supported") == ["replaces", "timer"]
    via = Via.parse(ok.get("Via"))
    assert (via.received, via.rport, via.branch) == ("192.168.1.20", 5061, "z9hG4bK-4242-1-0")


def test_compact_names_folding_and_bare_lf(captures):
    invite = parse(captures["compact"])
    assert [name for name, _ in invite.headers] == ["Via", "Max-Forwards", "To", "From", "Call-ID", "CSeq",
                                                    "Contact", "Content-Type", "Subject", "Content-Length"]
    assert invite.get("Subject") == "lunch tomorrow?"
    assert invite.get("i") == "a84b4c76e66710"
    vias = [Via.parse(value) for value in invite.get_all("Via")]
    assert [via.host for via in vias] == ["bigbox3.site3.atlanta.com", "pc33.atlanta.com"]
    assert vias[1].received == "192.0.2.1"
    assert invite.body == b"v=0\n"  # cut to Content-Length
    assert invite.to_bytes().count(b"\r\n") == 12


def test_register_contact_keeps_its_quoted_instance(captures):
    register = parse(captures["REGISTER"])
    contact = NameAddr.parse(register.get("Contact"))
    assert contact.uri.params == {"ob": None}
    assert contact.params == {"expires": "300", "+sip.instance": '"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"'}
    assert register.get("Content-Length") == "0"
    assert Via.parse(register.get("Via")).params == {"rport": None, "branch": "z9hG4bKPj8b1c5a7e"}


def test_crlfs_before_the_start_line_are_ignored(captures):
    assert parse(b"\r\n\r\n" + captures["BYE"]) == parse(captures["BYE"])


def test_a_body_without_content_length_runs_to_the_end(captures):
    data = re.sub(rb"Content-Length: \d+\r\n", b"", captures["INVITE"])
    assert b"Content-Length" not in data
    assert parse(data).body == parse(captures["INVITE"]).body


def test_lists_split_only_outside_quotes_and_brackets():
    headers = Headers([("Contact", '"Smith, J" <sip:j@h;x="a,b">;q=0.5, <sip:k@h>'), ("m", "sip:l@h"),
                       ("Route", "<sip:p1@h;lr>,<sip:p2@h;lr>"), ("Subject", "a, b")])
    assert headers.get_all("contact") == ['"Smith, J" <sip:j@h;x="a,b">;q=0.5', "<sip:k@h>", "sip:l@h"]
    assert headers.get_all("Route") == ["<sip:p1@h;lr>", "<sip:p2@h;lr>"]
    assert headers.get_all("Subject") == ["a, b"]
    assert headers.get("X-Missing") is None and headers.get_all("X-Missing") == []


def test_set_add_and_remove_keep_the_order():
    headers = Headers([("Via", "a"), ("To", "t"), ("via", "b")])
    headers.set("Via", "c")
    assert headers == [("Via", "c"), ("To", "t")]
    headers.add("l", "0")
    assert headers[-1] == ("Content-Length", "0")
    headers.remove("to")
    assert headers == [("Via", "c"), ("Content-Length", "0")]
    with pytest.raises(ApplianceError) as error:
        headers.add("Subject", "hi\r\nVia: injected")
    assert error.value.code == "sip-header-invalid"


def test_the_wire_form_carries_the_right_content_length():
    request = Request("MESSAGE", "sip:a@h", [("Content-Length", "999"), ("Content-Type", "text/plain")], b"hello")
    assert request.to_bytes() == (b"MESSAGE sip:a@h SIP/2.0\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n"
                                  b"\r\nhello")
    assert Response(180, "Ringing").serialize() == b"SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize("text, display, uri, params", [
    ('"Alice" <sip:alice@host;transport=udp>;tag=abc', "Alice", "sip:alice@host;transport=udp", {"tag": "abc"}),
    ("sip:bob@host;tag=x", None, "sip:bob@host", {"tag": "x"}),
    ("Bob Smith <sip:bob@host:5070>", "Bob Smith", "sip:bob@host:5070", {}),
    ('"Say \\"hi\\"" <sips:c@[2001:db8::1]:5061>', 'Say "hi"', "sips:c@[2001:db8::1]:5061", {}),
    ("<tel:+15551234567;phone-context=example.com>;tag=9", None, "tel:+15551234567;phone-context=example.com",
     {"tag": "9"}),
    ("<sip:proxy.example.com;lr>", None, "sip:proxy.example.com;lr", {}),
])
def test_name_addr_forms(text, display, uri, params):
    address = NameAddr.parse(text)
    assert (address.display_name, str(address.uri), address.params) == (display, uri, params)
    assert NameAddr.parse(str(address)) == address


def test_sip_uri_parts():
    uri = SipUri.parse("SIP:alice:secret@[2001:db8::7]:5080;transport=tcp;lr?subject=hi")
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == ("sip", "alice", "secret", "2001:db8::7", 5080)
    assert uri.params == {"transport": "tcp", "lr": None} and uri.headers == "subject=hi"
    assert str(uri) == "sip:alice:secret@[2001:db8::7]:5080;transport=tcp;lr?subject=hi"
    assert SipUri.parse("sip:10.0.0.1") == SipUri("sip", "10.0.0.1")
    assert SipUri.parse("tel:+4930123").user == "+4930123"


@pytest.mark.parametrize("text", ["http://x", "sip:", "sip:@host", "sip:a@host:99999", "sip:a@2001:db8::1",
                                  "sip:a@[nothex]", "sip:a@ho st", "sip:a@host;=x", "tel:abc!"])
def test_bad_uris(text):
    with pytest.raises(ApplianceError) as error:
        SipUri.parse(text)
    assert error.value.code == "sip-malformed"


def test_via_parts():
    via = Via.parse("SIP / 2.0 / tcp [::1]:5062 ;branch=z9hG4bKabc;received=::1;rport=5062")
    assert (via.transport, via.host, via.port, via.branch, via.received, via.rport) == \
        ("TCP", "::1", 5062, "z9hG4bKabc", "::1", 5062)
    assert str(via) == "SIP/2.0/TCP [::1]:5062;branch=z9hG4bKabc;received=::1;rport=5062"
    for bad in ("SIP/3.0/UDP host", "SIP/2.0/UDP", "SIP/2.0 UDP host", "SIP/2.0/UDP host;;"):
        with pytest.raises(ApplianceError):
            Via.parse(bad)


def test_params():
    assert parse_params(';tag=1;LR;x="a;b"') == {"tag": "1", "lr": None, "x": '"a;b"'}
    assert parse_params("") == {}
    with pytest.raises(ApplianceError):
        parse_params("tag=1")


def test_response_to_copies_what_rfc_3261_asks(captures):
    invite = parse(captures["compact"])
    ringing = response_to(invite, 180, to_tag="as1", headers=[("Contact", "<sip:appliance@10.0.0.2>")])
    assert (ringing.status, ringing.reason) == (180, "Ringing")
    assert ringing.headers == [
        ("Via", "SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1, SIP/2.0/UDP "
                "pc33.atlanta.com;branch=z9hG4bKnashds8;received=192.0.2.1"),
        ("From", "Alice <sip:alice@atlanta.com>;tag=1928301774"),
        ("To", "Bob <sip:bob@biloxi.com>;tag=as1"),
        ("Call-ID", "a84b4c76e66710"),
        ("CSeq", "314159 INVITE"),
        ("Contact", "<sip:appliance@10.0.0.2>"),
    ]
    assert parse(ringing.to_bytes()) == Response(180, "Ringing", ringing.headers + [("Content-Length", "0")])


def test_response_to_keeps_a_tag_that_is_there(captures):
    bye = parse(captures["BYE"])
    ok = response_to(bye, 200, to_tag="other")
    assert ok.get("To") == "service <sip:service@192.168.1.10:5060>;tag=as6c2b1f4e"
    assert response_to(bye, 200).get("To") == bye.get("To")


@pytest.mark.parametrize("status, reason", [(100, "Trying"), (183, "Session Progress"), (401, "Unauthorized"),
                                            (481, "Call/Transaction Does Not Exist"), (488, "Not Acceptable Here"),
                                            (603, "Decline"), (499, "Client Error")])
def test_reason_phrases(captures, status, reason):
    assert response_to(parse(captures["OPTIONS"]), status).reason == reason


def test_fresh_identifiers():
    assert new_branch().startswith("z9hG4bK") and new_branch() != new_branch()
    assert len(new_tag()) >= 8 and new_tag() != new_tag()
    assert new_call_id("10.0.0.2").endswith("@10.0.0.2")


MALFORMED = {
    b"": "empty",
    b"\r\n\r\n": "empty",
    b"INVITE sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n": "empty line",
    b"INVITE sip:a@h SIP/3.0\r\n\r\n": "version",
    b"SIP/2.0 2OO OK\r\n\r\n": "status code",
    b"SIP/2.0 800 Odd\r\n\r\n": "status code",
    b"INVITE sip:a@h\r\n\r\n": "start line",
    b"INVITE nothing SIP/2.0\r\n\r\n": "scheme",
    b"INV<ITE sip:a@h SIP/2.0\r\n\r\n": "token",
}
REQUEST_HEADERS = (b"Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\n"
                   b"Call-ID: c1\r\nCSeq: 1 OPTIONS\r\n")


@pytest.mark.parametrize("data, reason", list(MALFORMED.items()))
def test_malformed_start(data, reason):
    with pytest.raises(ApplianceError, match=reason) as error:
        parse(data)
    assert error.value.code == "sip-malformed"


@pytest.mark.parametrize("change, reason", [
    ((b"Call-ID: c1\r\n", b""), "Call-ID header is missing"),
    ((b"Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n", b""), "Via header is missing"),
    ((b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE"), "does not match"),
    ((b"CSeq: 1 OPTIONS", b"CSeq: one OPTIONS"), "CSeq"),
    ((b"Call-ID: c1\r\n", b"Call-ID: c1\r\nGarbage\r\n"), "no colon"),
    ((b"To: <sip:b@h>", b"To <sip:b@h>"), "not a token"),
    ((b"To: <sip:b@h>", b"To: <sip:b@h"), "closing"),
    ((b"Call-ID: c1\r\n", b"Call-ID: c1\r\nCall-ID: c2\r\n"), "appears 2 times"),
    ((b"Call-ID: c1\r\n", b"Call-ID: c1\r\nContent-Length: 10\r\n"), "only 4 body bytes"),
    ((b"Call-ID: c1\r\n", b"Call-ID: c1\r\nContent-Length: -1\r\n"), "not a number"),
    ((b"Call-ID: c1\r\n", b"Call-ID: c1\r\nContent-Length: " + b"9" * 5000 + b"\r\n"), "not a number"),
    ((b"Call-ID: c1", b"Call-ID: c\xff1"), "UTF-8"),
    ((b"Call-ID: c1", b"Call-ID: c\x001"), "control"),
    ((b"Via: SIP", b" folded\r\nVia: SIP"), "continuation"),
    ((b"Via: SIP/2.0/UDP h;", b"Via: SIP/2.0/UDP [::1;"), "bracket"),
])
def test_malformed_requests(change, reason):
    data = b"OPTIONS sip:a@h SIP/2.0\r\n" + REQUEST_HEADERS + b"\r\nbody"
    assert isinstance(parse(data), Request)
    old, new = change
    assert old in data
    with pytest.raises(ApplianceError, match=reason) as error:
        parse(data.replace(old, new, 1))
    assert error.value.code == "sip-malformed"


def test_a_datagram_over_64_kib_is_refused():
    data = b"OPTIONS sip:a@h SIP/2.0\r\n" + REQUEST_HEADERS + b"\r\n" + b"x" * 65536
    with pytest.raises(ApplianceError, match="limit"):
        parse(data)


def test_not_bytes_is_malformed_too():
    with pytest.raises(ApplianceError):
        parse("OPTIONS sip:a@h SIP/2.0")  # type: ignore[arg-type]
