"""SDP (RFC 4566) and the offer/answer model (RFC 3264) for one audio stream of G.711 and telephone-event.

The appliance speaks PCMU and PCMA at 8 kHz and hears DTMF as RFC 4733 telephone-events. `answer()`
picks from a caller's offer, `offer()` and `accept_answer()` do the same for calls the appliance
places; both end with a `Negotiated` that tells the RTP side where to send what.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from appliance.errors import ApplianceError

STATIC_TYPES = {0: ("PCMU", 8000), 3: ("GSM", 8000), 4: ("G723", 8000), 8: ("PCMA", 8000), 9: ("G722", 8000),
                13: ("CN", 8000), 18: ("G729", 8000)}  # RFC 3551 §6: these need no rtpmap
CODECS = ("PCMU", "PCMA")
EVENTS = "0-16"  # DTMF 0-9, *, #, A-D and flash (RFC 4733 §3.2)
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
REVERSED = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}
DEFAULT_PTIME_MS = 20


class SdpMalformed(ApplianceError):
    """SDP that does not follow RFC 4566: the one error `parse_sdp` raises."""

    def __init__(self, reason: str):
        super().__init__("sdp-malformed", reason)


def malformed(reason: str) -> SdpMalformed:
    """The one error for SDP that does not follow RFC 4566."""
    return SdpMalformed(reason)


@dataclass(frozen=True)
class RtpMap:
    """`a=rtpmap:101 telephone-event/8000`: what a payload type carries."""

    encoding: str
    clock_hz: int
    channels: int = 1


@dataclass
class MediaDescription:
    """One `m=` section and the lines under it."""

    media: str
    port: int
    proto: str
    formats: list[str]
    connection: str | None = None
    rtpmap: dict[int, RtpMap] = field(default_factory=dict)
    fmtp: dict[int, str] = field(default_factory=dict)
    ptime_ms: int | None = None
    direction: str | None = None
    attributes: list[tuple[str, str | None]] = field(default_factory=list)

    @property
    def payload_types(self) -> list[int]:
        """The formats as RTP payload types (for RTP/AVP and its kin)."""
        return [int(fmt) for fmt in self.formats if re.fullmatch(r"[0-9]{1,3}", fmt)]

    def codec(self, payload_type: int) -> RtpMap | None:
        """What `payload_type` carries: its rtpmap, else the RFC 3551 static assignment."""
        if payload_type in self.rtpmap:
            return self.rtpmap[payload_type]
        static = STATIC_TYPES.get(payload_type)
        return RtpMap(*static) if static else None


@dataclass
class SessionDescription:
    """A parsed SDP body: the session lines and each media section."""

    origin: tuple[str, ...]
    session_name: str
    connection: str | None = None
    direction: str | None = None
    ptime_ms: int | None = None
    media: list[MediaDescription] = field(default_factory=list)
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    text: str = ""  # the body as it arrived

    def audio(self) -> MediaDescription | None:
        """The first audio stream over plain RTP, or None."""
        return next((m for m in self.media if m.media == "audio" and m.proto.upper() == "RTP/AVP"), None)


@dataclass(frozen=True)
class Negotiated:
    """The outcome of offer/answer: the SDP the appliance sent, and how audio flows."""

    sdp: str
    codec: str  # "PCMU" or "PCMA"
    payload_type: int
    telephone_event: int | None  # the payload type of RFC 4733 DTMF, or None when the peer has none
    remote: tuple[str, int]  # where to send RTP
    ptime_ms: int
    direction: str  # from the appliance's side: "sendrecv", "sendonly" (peer holds us), "recvonly", "inactive"


def parse_sdp(text: str | bytes) -> SessionDescription:
    """An SDP body to a SessionDescription; `SdpMalformed` when it does not follow RFC 4566."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise malformed("the SDP is not UTF-8") from None
    if not isinstance(text, str):
        raise malformed(f"an SDP body is text or bytes, not {type(text).__name__}")
    lines = [line.rstrip("\r") for line in text.split("\n") if line.strip()]
    if not lines or lines[0].strip() != "v=0":
        raise malformed("the SDP does not start with v=0")
    session: SessionDescription | None = None
    origin: tuple[str, ...] | None = None
    name: str | None = None
    pending: list[tuple[str, str]] = []  # session lines seen before o= and s= are both known
    current: MediaDescription | None = None
    for line in lines[1:]:
        if not re.fullmatch(r"[a-z]=.*", line):
            raise malformed(f"the SDP line {line[:60]!r} is not 'x=value'")
        kind, value = line[0], line[2:]
        if kind == "o":
            origin = tuple(value.split())
            if len(origin) != 6:
                raise malformed(f"the origin {value[:60]!r} does not have six fields")
        elif kind == "s":
            name = value
        elif kind == "m":
            if session is None:
                if origin is None or name is None:
                    raise malformed("the SDP has an m= line before its o= and s= lines")
                session = SessionDescription(origin, name)
                _apply_all(session, pending)
            current = _media(value)
            session.media.append(current)
        elif current is not None:
            _apply(current, kind, value)
        else:
            pending.append((kind, value))
    if origin is None or name is None:
        raise malformed("the SDP has no o= or s= line")
    if session is None:
        session = SessionDescription(origin, name)
        _apply_all(session, pending)
    session.text = text
    return session


def _apply_all(session: SessionDescription, lines: list[tuple[str, str]]) -> None:
    """Session-level lines onto the session."""
    for kind, value in lines:
        _apply(session, kind, value)


def _media(value: str) -> MediaDescription:
    """`audio 49170 RTP/AVP 0 8 101` to a MediaDescription."""
    parts = value.split()
    if len(parts) < 4:
        raise malformed(f"the media line {value[:60]!r} is not 'media port proto format...'")
    media, port, proto, *formats = parts
    port = port.partition("/")[0]
    if not (re.fullmatch(r"[0-9]{1,5}", port) and int(port) <= 65535):
        raise malformed(f"the media port {port[:20]!r} is not a number from 0 to 65535")
    if "RTP" in proto.upper() and not all(re.fullmatch(r"[0-9]{1,3}", f) and int(f) <= 127 for f in formats):
        raise malformed(f"the RTP payload types {' '.join(formats)[:60]!r} are not numbers from 0 to 127")
    return MediaDescription(media, int(port), proto, formats)


def _apply(target: SessionDescription | MediaDescription, kind: str, value: str) -> None:
    """One c= or a= line onto the session or the media section it belongs to; other lines are kept unread."""
    if kind == "c":
        parts = value.split()
        if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6") or not parts[2]:
            raise malformed(f"the connection {value[:60]!r} is not 'IN IP4|IP6 address'")
        target.connection = parts[2].partition("/")[0]  # multicast TTL and count are not for us
        return
    if kind != "a":
        return
    name, colon, rest = value.partition(":")
    target.attributes.append((name, rest if colon else None))
    if name in DIRECTIONS:
        target.direction = name
    elif name == "ptime":
        if not re.fullmatch(r"[0-9]{1,4}(\.[0-9]+)?", rest.strip()):
            raise malformed(f"the ptime {rest[:20]!r} is not a number")
        target.ptime_ms = max(1, round(float(rest)))
    elif name in ("rtpmap", "fmtp") and isinstance(target, MediaDescription):
        match = re.fullmatch(r"([0-9]{1,3})\s+(.*)", rest.strip())
        if match is None:
            raise malformed(f"the {name} {rest[:60]!r} does not start with a payload type")
        payload_type, text = int(match.group(1)), match.group(2)
        if name == "fmtp":
            target.fmtp[payload_type] = text.strip()
            return
        rtpmap = re.fullmatch(r"([^/\s]+)/([0-9]{1,6})(?:/([0-9]{1,2}))?", text.strip())
        if rtpmap is None:
            raise malformed(f"the rtpmap {rest[:60]!r} is not 'type name/rate[/channels]'")
        encoding, rate, channels = rtpmap.groups()
        target.rtpmap[payload_type] = RtpMap(encoding, int(rate), int(channels or 1))


def _as_description(sdp: str | bytes | SessionDescription) -> SessionDescription:
    return sdp if isinstance(sdp, SessionDescription) else parse_sdp(sdp)


def _choose(audio: MediaDescription, side: str, offered: set[str] | None = None) -> tuple[str, int, int | None]:
    """(codec, its payload type, telephone-event type or None) from `audio`'s formats, in their order.

    `offered` limits an answer to the encodings the offer named (matched by name: RFC 3264 §6.1 only
    asks the answerer to keep the offer's payload type numbers, it need not).
    """
    chosen: tuple[str, int] | None = None
    events: int | None = None
    for payload_type in audio.payload_types:
        codec = audio.codec(payload_type)
        if codec is None or codec.clock_hz != 8000 or codec.channels != 1:
            continue
        if offered is not None and codec.encoding.upper() not in offered:
            continue
        if chosen is None and codec.encoding.upper() in CODECS:
            chosen = (codec.encoding.upper(), payload_type)
        elif events is None and codec.encoding.lower() == "telephone-event":
            events = payload_type
    if chosen is None:
        names = [c.encoding if (c := audio.codec(pt)) else str(pt) for pt in audio.payload_types]
        raise ApplianceError("sdp-no-common-codec",
                             f"the {side} has only {', '.join(names) or 'no codec'}; "
                             f"the appliance speaks PCMU and PCMA")
    return chosen[0], chosen[1], events


def _address_type(ip: str) -> str:
    return "IP6" if ":" in ip else "IP4"


def _body(ip: str, session_id: int, version: int, media_lines: list[str]) -> str:
    """An SDP body from the appliance at `ip` with the given media sections."""
    lines = ["v=0", f"o=appliance {session_id} {version} IN {_address_type(ip)} {ip}", "s=appliance",
             f"c=IN {_address_type(ip)} {ip}", "t=0 0", *media_lines]
    return "\r\n".join(lines) + "\r\n"


def _audio_lines(port: int, codec: str, payload_type: int, events: int | None, ptime_ms: int,
                 direction: str) -> list[str]:
    formats = f"{payload_type}" if events is None else f"{payload_type} {events}"
    lines = [f"m=audio {port} RTP/AVP {formats}", f"a=rtpmap:{payload_type} {codec}/8000"]
    if events is not None:
        lines += [f"a=rtpmap:{events} telephone-event/8000", f"a=fmtp:{events} {EVENTS}"]
    return lines + [f"a=ptime:{ptime_ms}", f"a={direction}"]


def _remote(session: SessionDescription, audio: MediaDescription) -> tuple[str, int]:
    """Where the peer takes RTP: the media-level c= before the session-level one."""
    address = audio.connection or session.connection
    if address is None:
        raise malformed("the audio stream has no c= connection address at media or session level")
    return address, audio.port


def _direction(session: SessionDescription, audio: MediaDescription) -> str:
    """The stream's direction as its sender wrote it; old-style hold (c=0.0.0.0) and port 0 are inactive."""
    if audio.port == 0 or (audio.connection or session.connection) in ("0.0.0.0", "::"):
        return "inactive"
    return audio.direction or session.direction or "sendrecv"


def answer(offer: str | bytes | SessionDescription, local_ip: str, local_port: int, session_id: int,
           version: int | None = None) -> Negotiated:
    """The appliance's answer to an offer (RFC 3264 §6): G.711 in the offer's order, DTMF events if offered."""
    session = _as_description(offer)
    audio = session.audio()
    if audio is None:
        raise ApplianceError("sdp-no-common-codec",
                             "the offer has no RTP/AVP audio stream; the appliance speaks PCMU and PCMA")
    codec, payload_type, events = _choose(audio, "offer")
    offered = _direction(session, audio)
    direction = REVERSED[offered]
    ptime_ms = audio.ptime_ms or session.ptime_ms or DEFAULT_PTIME_MS
    media_lines: list[str] = []
    for media in session.media:  # every offered stream gets a line; all but ours are refused with port 0
        if media is audio:
            port = 0 if audio.port == 0 else local_port
            media_lines += _audio_lines(port, codec, payload_type, events, ptime_ms, direction)
        else:
            media_lines.append(f"m={media.media} 0 {media.proto} {' '.join(media.formats)}")
    sdp = _body(local_ip, session_id, session_id if version is None else version, media_lines)
    return Negotiated(sdp, codec, payload_type, events, _remote(session, audio), ptime_ms, direction)


def offer(local_ip: str, local_port: int, session_id: int, version: int) -> str:
    """The appliance's offer for a call it places: PCMU, PCMA and telephone-event 101, 20 ms, sendrecv."""
    lines = [f"m=audio {local_port} RTP/AVP 0 8 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
             "a=rtpmap:101 telephone-event/8000", f"a=fmtp:101 {EVENTS}", f"a=ptime:{DEFAULT_PTIME_MS}",
             "a=sendrecv"]
    return _body(local_ip, session_id, version, lines)


def accept_answer(sent: str | bytes | SessionDescription, answer_sdp: str | bytes | SessionDescription) -> Negotiated:
    """How audio flows once the peer answered the appliance's offer `sent` (RFC 3264 §7)."""
    ours, theirs = _as_description(sent), _as_description(answer_sdp)
    our_audio, audio = ours.audio(), theirs.audio()
    if our_audio is None:
        raise malformed("the offer that was sent has no audio stream")
    if audio is None or audio.port == 0:
        raise ApplianceError("sdp-no-common-codec", "the answer refused the audio stream; "
                             "the appliance speaks PCMU and PCMA")
    offered = {codec.encoding.upper() for pt in our_audio.payload_types if (codec := our_audio.codec(pt))}
    codec, payload_type, events = _choose(audio, "answer", offered)
    direction = REVERSED[_direction(theirs, audio)]
    ptime_ms = audio.ptime_ms or theirs.ptime_ms or DEFAULT_PTIME_MS
    return Negotiated(ours.text, codec, payload_type, events, _remote(theirs, audio), ptime_ms, direction)


def reoffered(offer: str | bytes | SessionDescription, codec: str) -> tuple[str, int] | None:
    """Where RTP goes after a re-INVITE's offer that the appliance answers with its SDP unchanged (RFC 3264 §8): the
    offer must still carry the call's `codec`; None when it holds the call (c=0.0.0.0, port 0) and the address stays."""
    session = _as_description(offer)
    audio = session.audio()
    if audio is None:
        raise ApplianceError("sdp-no-common-codec", "the new offer has no RTP/AVP audio stream")
    offered = {found.encoding.upper() for pt in audio.payload_types if (found := audio.codec(pt))}
    if codec.upper() not in offered:
        raise ApplianceError("sdp-no-common-codec", f"the new offer no longer has {codec}, which the call uses")
    address, port = _remote(session, audio)
    if port == 0 or address in ("0.0.0.0", "::"):
        return None
    return address, port
