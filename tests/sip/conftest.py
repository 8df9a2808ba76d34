"""SIP messages as they arrive on the wire, written after sipp, Linphone and Asterisk captures, as fixtures."""

import pytest

SDP_OFFER = (b"v=0\r\n"
             b"o=user1 53655765 2353687637 IN IP4 192.168.1.20\r\n"
             b"s=-\r\n"
             b"c=IN IP4 192.168.1.20\r\n"
             b"t=0 0\r\n"
             b"m=audio 6000 RTP/AVP 0 8 101\r\n"
             b"a=rtpmap:0 PCMU/8000\r\n"
             b"a=rtpmap:101 telephone-event/8000\r\n"
             b"a=fmtp:101 0-16\r\n")

INVITE = (b"INVITE sip:service@192.168.1.10:5060 SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 192.168.1.20:5061;branch=z9hG4bK-4242-1-0\r\n"
          b"From: sipp <sip:sipp@192.168.1.20:5061>;tag=4242SIPpTag001\r\n"
          b"To: service <sip:service@192.168.1.10:5060>\r\n"
          b"Call-ID: 1-4242@192.168.1.20\r\n"
          b"CSeq: 1 INVITE\r\n"
          b"Contact: sip:sipp@192.168.1.20:5061\r\n"
          b"Max-Forwards: 70\r\n"
          b"Subject: Performance Test\r\n"
          b"Content-Type: application/sdp\r\n"
          b"Content-Length: %d\r\n"
          b"\r\n" % len(SDP_OFFER)) + SDP_OFFER

OK = (b"SIP/2.0 200 OK\r\n"
      b"Via: SIP/2.0/UDP 192.168.1.20:5061;branch=z9hG4bK-4242-1-0;received=192.168.1.20;rport=5061\r\n"
      b"From: sipp <sip:sipp@192.168.1.20:5061>;tag=4242SIPpTag001\r\n"
      b"To: service <sip:service@192.168.1.10:5060>;tag=as6c2b1f4e\r\n"
      b"Call-ID: 1-4242@192.168.1.20\r\n"
      b"CSeq: 1 INVITE\r\n"
      b"Server: Asterisk PBX 18.10.0\r\n"
      b"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH, MESSAGE\r\n"
      b"Supported: replaces, timer\r\n"
      b"Contact: <sip:service@192.168.1.10:5060>\r\n"
      b"Content-Type: application/sdp\r\n"
      b"Content-Length: 0\r\n"
      b"\r\n")

ACK = (b"ACK sip:service@192.168.1.10:5060 SIP/2.0\r\n"
       b"Via: SIP/2.0/UDP 192.168.1.20:5061;branch=z9hG4bK-4242-1-5\r\n"
       b"From: sipp <sip:sipp@192.168.1.20:5061>;tag=4242SIPpTag001\r\n"
       b"To: service <sip:service@192.168.1.10:5060>;tag=as6c2b1f4e\r\n"
       b"Call-ID: 1-4242@192.168.1.20\r\n"
       b"CSeq: 1 ACK\r\n"
       b"Contact: sip:sipp@192.168.1.20:5061\r\n"
       b"Max-Forwards: 70\r\n"
       b"Content-Length: 0\r\n"
       b"\r\n")

BYE = (b"BYE sip:service@192.168.1.10:5060 SIP/2.0\r\n"
       b"Via: SIP/2.0/UDP 192.168.1.20:5061;branch=z9hG4bK-4242-1-7\r\n"
       b"From: sipp <sip:sipp@192.168.1.20:5061>;tag=4242SIPpTag001\r\n"
       b"To: service <sip:service@192.168.1.10:5060>;tag=as6c2b1f4e\r\n"
       b"Call-ID: 1-4242@192.168.1.20\r\n"
       b"CSeq: 2 BYE\r\n"
       b"Max-Forwards: 70\r\n"
       b"Content-Length: 0\r\n"
       b"\r\n")

CANCEL = (b"CANCEL sip:service@192.168.1.10:5060 SIP/2.0\r\n"
          b"Via: SIP/2.0/UDP 192.168.1.20:5061;branch=z9hG4bK-4242-1-0\r\n"
          b"From: sipp <sip:sipp@192.168.1.20:5061>;tag=4242SIPpTag001\r\n"
          b"To: service <sip:service@192.168.1.10:5060>\r\n"
          b"Call-ID: 1-4242@192.168.1.20\r\n"
          b"CSeq: 1 CANCEL\r\n"
          b"Max-Forwards: 70\r\n"
          b"Content-Length: 0\r\n"
          b"\r\n")

OPTIONS = (b"OPTIONS sip:192.168.1.10 SIP/2.0\r\n"
           b"Via: SIP/2.0/UDP 192.168.1.1:5060;branch=z9hG4bK7f3a.0f1c2e3d;rport\r\n"
           b"From: \"Kamailio\" <sip:keepalive@192.168.1.1>;tag=8f2e93a1\r\n"
           b"To: <sip:192.168.1.10>\r\n"
           b"Call-ID: 3c26700857a9-9b2f@192.168.1.1\r\n"
           b"CSeq: 10 OPTIONS\r\n"
           b"Max-Forwards: 70\r\n"
           b"Accept: application/sdp\r\n"
           b"Content-Length: 0\r\n"
           b"\r\n")

REGISTER = (b"REGISTER sip:pbx.example.net SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bKPj8b1c5a7e\r\n"
            b"Max-Forwards: 70\r\n"
            b"From: <sip:2001@pbx.example.net>;tag=1e2f3a4b\r\n"
            b"To: <sip:2001@pbx.example.net>\r\n"
            b"Call-ID: 5b0c8e2a-91f3-4d8e-a6b1-0c7d2e4f6a8b\r\n"
            b"CSeq: 27154 REGISTER\r\n"
            b"Contact: <sip:2001@10.0.0.5:5060;ob>;expires=300;"
            b"+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>\"\r\n"
            b"Expires: 300\r\n"
            b"Allow: PRACK, INVITE, ACK, BYE, CANCEL, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE, OPTIONS\r\n"
            b"User-Agent: appliance\r\n"
            b"Content-Length:  0\r\n"
            b"\r\n")

UNAUTHORIZED = (b"SIP/2.0 401 Unauthorized\r\n"
                b"Via: SIP/2.0/UDP 10.0.0.5:5060;rport=5060;received=10.0.0.5;branch=z9hG4bKPj8b1c5a7e\r\n"
                b"From: <sip:2001@pbx.example.net>;tag=1e2f3a4b\r\n"
                b"To: <sip:2001@pbx.example.net>;tag=z9hG4bK.5e2d8c1a\r\n"
                b"Call-ID: 5b0c8e2a-91f3-4d8e-a6b1-0c7d2e4f6a8b\r\n"
                b"CSeq: 27154 REGISTER\r\n"
                b"WWW-Authenticate: Digest realm=\"pbx.example.net\", nonce=\"Yv3kZ2L8c1l0Qm9uY2U\", "
                b"opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", algorithm=MD5, qop=\"auth\"\r\n"
                b"Content-Length: 0\r\n"
                b"\r\n")

# The RFC 3261 §24.2 INVITE written the way Linphone-era phones send it: compact names and a folded line.
COMPACT_INVITE = (b"INVITE sip:bob@biloxi.com SIP/2.0\n"
                  b"v: SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1,\n"
                  b" SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bKnashds8;received=192.0.2.1\n"
                  b"Max-Forwards: 69\n"
                  b"t: Bob <sip:bob@biloxi.com>\n"
                  b"f: Alice <sip:alice@atlanta.com>;tag=1928301774\n"
                  b"i: a84b4c76e66710\n"
                  b"CSeq: 314159 INVITE\n"
                  b"m: <sip:alice@pc33.atlanta.com>\n"
                  b"c: application/sdp\n"
                  b"Subject: lunch\n"
                  b"\ttomorrow?\n"
                  b"l: 4\n"
                  b"\n"
                  b"v=0\nthe rest is not ours")

ALL = {"INVITE": INVITE, "200": OK, "ACK": ACK, "BYE": BYE, "CANCEL": CANCEL, "OPTIONS": OPTIONS,
       "REGISTER": REGISTER, "401": UNAUTHORIZED, "compact": COMPACT_INVITE}


@pytest.fixture
def captures() -> dict[str, bytes]:
    """Every capture above by name: the SIP messages the tests start from."""
    return dict(ALL)
