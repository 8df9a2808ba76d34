"""SDP offer/answer for one G.711 audio stream: what the appliance answers, offers and accepts."""

from __future__ import annotations

import pytest

from appliance.errors import ApplianceError
from appliance.sip.sdp import accept_answer, answer, offer, parse_sdp


def sdp(*media_lines: str, session: str = "c=IN IP4 192.0.2.10\r\n") -> str:
    """An offer from a phone at 192.0.2.10 with the given media section lines."""
    return ("v=0\r\no=- 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\n" + session + "t=0 0\r\n"
            + "".join(line + "\r\n" for line in media_lines))


def test_a_pcmu_only_offer_from_sipp():
    offered = sdp("m=audio 6000 RTP/AVP 0", "a=rtpmap:0 PCMU/8000")
    result = answer(offered, "192.0.2.1", 40000, 7)
    assert (result.codec, result.payload_type, result.telephone_event) == ("PCMU", 0, None)
    assert result.remote == ("192.0.2.10", 6000)
    assert (result.ptime_ms, result.direction) == (20, "sendrecv")
    assert result.sdp == ("v=0\r\no=appliance 7 7 IN IP4 192.0.2.1\r\ns=appliance\r\nc=IN IP4 192.0.2.1\r\n"
                          "t=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n")


def test_pcma_first_wins_and_telephone_events_keep_their_type():
    offered = sdp("m=audio 49170 RTP/AVP 8 0 96", "a=rtpmap:96 telephone-event/8000", "a=fmtp:96 0-15",
                  "a=ptime:30")
    result = answer(offered, "192.0.2.1", 40000, 7)
    assert (result.codec, result.payload_type, result.telephone_event, result.ptime_ms) == ("PCMA", 8, 96, 30)
    assert "m=audio 40000 RTP/AVP 8 96\r\n" in result.sdp
    assert "a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-16\r\n" in result.sdp
    assert parse_sdp(result.sdp).audio().payload_types == [8, 96]


def test_static_types_need_no_rtpmap_and_dynamic_ones_match_by_name():
    result = answer(sdp("m=audio 5004 RTP/AVP 18 97 101", "a=rtpmap:97 pcmu/8000", "a=rtpmap:101 telephone-event/8000",
                        "a=fmtp:101 0-16"), "192.0.2.1", 40000, 7)
    assert (result.codec, result.payload_type, result.telephone_event) == ("PCMU", 97, 101)


def test_telephone_event_at_another_rate_is_not_ours():
    result = answer(sdp("m=audio 5004 RTP/AVP 0 100 101", "a=rtpmap:100 telephone-event/48000",
                        "a=rtpmap:101 telephone-event/8000"), "192.0.2.1", 40000, 7)
    assert result.telephone_event == 101


def test_no_common_codec():
    with pytest.raises(ApplianceError) as error:
        answer(sdp("m=audio 5004 RTP/AVP 18 9 96", "a=rtpmap:96 opus/48000/2"), "192.0.2.1", 40000, 7)
    assert error.value.code == "sdp-no-common-codec"
    assert error.value.message == "the offer has only G729, G722, opus; the appliance speaks PCMU and PCMA"


def test_an_srtp_only_offer_has_no_audio_for_us():
    with pytest.raises(ApplianceError) as error:
        answer(sdp("m=audio 5004 RTP/SAVP 0"), "192.0.2.1", 40000, 7)
    assert error.value.code == "sdp-no-common-codec"


def test_media_level_connection_wins_over_session_level():
    offered = sdp("m=audio 7078 RTP/AVP 0", "c=IN IP4 198.51.100.7")
    assert answer(offered, "192.0.2.1", 40000, 7).remote == ("198.51.100.7", 7078)
    only_media = sdp("m=audio 7078 RTP/AVP 0", "c=IN IP6 2001:db8::9", session="")
    result = answer(only_media, "2001:db8::1", 40000, 7)
    assert result.remote == ("2001:db8::9", 7078)
    assert "c=IN IP6 2001:db8::1\r\n" in result.sdp


def test_no_connection_anywhere_is_malformed():
    with pytest.raises(ApplianceError) as error:
        answer(sdp("m=audio 7078 RTP/AVP 0", session=""), "192.0.2.1", 40000, 7)
    assert error.value.code == "sdp-malformed"


@pytest.mark.parametrize("line, ours", [("a=sendonly", "recvonly"), ("a=recvonly", "sendonly"),
                                        ("a=inactive", "inactive"), ("a=sendrecv", "sendrecv")])
def test_direction_is_mirrored(line, ours):
    result = answer(sdp("m=audio 6000 RTP/AVP 0", line), "192.0.2.1", 40000, 7)
    assert result.direction == ours and result.sdp.endswith(f"a={ours}\r\n")


def test_session_level_direction_and_old_style_hold():
    assert answer(sdp("m=audio 6000 RTP/AVP 0", session="c=IN IP4 192.0.2.10\r\na=sendonly\r\n"),
                  "192.0.2.1", 40000, 7).direction == "recvonly"
    assert answer(sdp("m=audio 6000 RTP/AVP 0", session="c=IN IP4 0.0.0.0\r\n"),
                  "192.0.2.1", 40000, 7).direction == "inactive"


def test_a_port_zero_stream_is_answered_with_port_zero():
    result = answer(sdp("m=audio 0 RTP/AVP 0"), "192.0.2.1", 40000, 7, version=8)
    assert result.direction == "inactive" and result.remote == ("192.0.2.10", 0)
    assert "m=audio 0 RTP/AVP 0\r\n" in result.sdp and "o=appliance 7 8 IN IP4" in result.sdp


def test_other_streams_are_refused_in_place():
    offered = sdp("m=video 6002 RTP/AVP 96", "a=rtpmap:96 H264/90000", "m=audio 6000 RTP/AVP 0")
    described = parse_sdp(answer(offered, "192.0.2.1", 40000, 7).sdp)
    assert [(m.media, m.port) for m in described.media] == [("video", 0), ("audio", 40000)]


def test_parse_reads_what_a_phone_sends():
    described = parse_sdp(sdp("m=audio 6000/2 RTP/AVP 0 101", "a=rtpmap:101 telephone-event/8000",
                              "a=fmtp:101 0-16", "a=ptime:20", "a=sendonly").encode())
    audio = described.audio()
    assert (described.origin[1], described.connection) == ("2890844526", "192.0.2.10")
    assert (audio.port, audio.payload_types, audio.fmtp, audio.ptime_ms, audio.direction) == \
        (6000, [0, 101], {101: "0-16"}, 20, "sendonly")
    assert audio.codec(0).encoding == "PCMU" and audio.codec(101).encoding == "telephone-event"


@pytest.mark.parametrize("text, reason", [
    ("", "v=0"),
    ("o=- 1 1 IN IP4 h\r\n", "v=0"),
    (sdp("m=audio 6000 RTP/AVP 0").replace("o=- 2890844526 2890844526 IN IP4 192.0.2.10\r\n", ""), "o="),
    (sdp("m=audio port RTP/AVP 0"), "port"),
    (sdp("m=audio 6000 RTP/AVP zero"), "payload types"),
    (sdp("m=audio 6000 RTP/AVP 0", "a=rtpmap:0 PCMU"), "rtpmap"),
    (sdp("m=audio 6000 RTP/AVP 0", "a=ptime:soon"), "ptime"),
    (sdp("m=audio 6000 RTP/AVP 0", session="c=IN IP4\r\n"), "connection"),
    (sdp("m=audio 6000 RTP/AVP 0", "junk"), "x=value"),
    (b"v=0\r\n\xff", "UTF-8"),
])
def test_malformed_sdp(text, reason):
    with pytest.raises(ApplianceError, match=reason) as error:
        parse_sdp(text)
    assert error.value.code == "sdp-malformed"


def test_the_appliance_offer_and_an_answer_from_asterisk():
    sent = offer("192.0.2.1", 40000, 11, 12)
    assert sent == ("v=0\r\no=appliance 11 12 IN IP4 192.0.2.1\r\ns=appliance\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
                    "m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
                    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n")
    reply = ("v=0\r\no=root 1 2 IN IP4 203.0.113.5\r\ns=Asterisk\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n"
             "m=audio 12000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
             "a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n")
    result = accept_answer(sent, reply)
    assert (result.codec, result.payload_type, result.telephone_event) == ("PCMA", 8, 101)
    assert (result.remote, result.direction, result.sdp) == (("203.0.113.5", 12000), "sendrecv", sent)
    assert accept_answer(parse_sdp(sent), reply) == result


def test_an_answer_that_refuses_audio_or_picks_another_codec():
    sent = offer("192.0.2.1", 40000, 11, 12)
    for media in ("m=audio 0 RTP/AVP 0", "m=audio 12000 RTP/AVP 18"):
        with pytest.raises(ApplianceError) as error:
            accept_answer(sent, sdp(media))
        assert error.value.code == "sdp-no-common-codec"
    assert accept_answer(sent, sdp("m=audio 12000 RTP/AVP 0", "a=recvonly")).direction == "sendonly"
