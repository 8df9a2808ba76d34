"""The SIP user agent's core, with no I/O: datagrams and the clock go in, datagrams and call events come out.

RFC 3261 as a phone appliance needs it, over UDP: the server side of INVITE (100, 180, 200 with SDP,
the 2xx retransmitted until the ACK, CANCEL → 487), BYE from either side, OPTIONS (200, or 503 while the
box takes no call), INFO keys, and the client side for what the appliance starts itself: INVITE for
callbacks and warm transfers (with digest authentication), REFER for blind transfers, REGISTER to a PBX.
Every retransmission runs off `tick(now)` with the RFC's timers (T1 0.5 s doubling to T2 4 s, given up
after 64·T1).

In-dialog requests go to the address the dialog's first message came from (or was sent to): the trunk,
PBX or gateway in front of the box, which is where a caller's BYE comes from too.

Who is heard. A datagram is parsed only when it comes from an address in `[line] sip_allow`, or from a far end the
appliance itself is talking to (a call it placed, a request waiting for its answer, the registrar), and from such a
far end only its answers and the requests in its own dialogs are taken. Anything else is judged by its source
address before it is read (appliance.sip.forbidden): a few a second are refused with 403, the rest are dropped
unread, ACK and BYE and CANCEL as much as INVITE, and nothing of them is kept but bounded counters.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass, field

from appliance.errors import ApplianceError
from appliance.sip.digest import DigestClient, choose
from appliance.sip.forbidden import ForbiddenSources
from appliance.sip.message import (CSeq, NameAddr, Request, Response, SipUri, Via, new_branch, new_call_id, new_tag,
                                   parse, response_to)

log = logging.getLogger("appliance.sip")

T1, T2 = 0.5, 4.0
TIMEOUT_S = 64 * T1
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, REFER"
USER_AGENT = "appliance"
KEEP_RESPONSES_S = TIMEOUT_S  # how long a non-INVITE response is kept to answer a retransmitted request


# What the core emits besides datagrams.

@dataclass
class Send:
    """A datagram to send."""

    data: bytes
    addr: tuple[str, int]


@dataclass
class IncomingCall:
    """An INVITE to answer (`answer`) or refuse (`reject`)."""

    call_id: str
    caller_id: str | None
    display_name: str | None
    offer: bytes
    addr: tuple[str, int]
    to_user: str | None


@dataclass
class Ringing:
    """A call the appliance placed is ringing."""

    call_id: str


@dataclass
class CallConnected:
    """A call is up: the ACK came for the appliance's 200, or a placed call was answered (`answer` is its SDP)."""

    call_id: str
    answer: bytes = b""


@dataclass
class CallEnded:
    """A call is over: `by` is "caller" (the other side), "appliance" or "network" (no ACK, a timeout)."""

    call_id: str
    by: str
    reason: str
    status: int | None = None


@dataclass
class KeyReceived:
    """A key sent with SIP INFO (application/dtmf-relay) rather than in the audio."""

    call_id: str
    key: str


@dataclass
class RequestDone:
    """A non-INVITE request the appliance sent got its final answer (REFER 202, NOTIFY, REGISTER...)."""

    call_id: str
    method: str
    status: int
    reason: str = ""
    expires_s: int | None = None  # a REGISTER's 2xx: how long the registrar keeps the binding


@dataclass
class Notified:
    """A NOTIFY in a dialog, e.g. how a REFER went (`body` is a sipfrag: `SIP/2.0 200 OK`)."""

    call_id: str
    event: str
    body: str


@dataclass
class MediaOffered:
    """A re-INVITE in a call offers new SDP (another address or port, hold): take it up, then `answer_reoffer`."""

    call_id: str
    offer: bytes


@dataclass
class Dropped:
    """A datagram that was not acted on: malformed, or a request refused with 403 for the address it came from (the
    datagrams from such addresses that are dropped unread make no event; `UserAgent.forbidden` counts them)."""

    reason: str
    addr: tuple[str, int]


@dataclass
class Dialog:
    """One call's SIP state."""

    call_id: str
    local_tag: str
    local_uri: str  # the appliance's side (From of what it sends), without the tag
    remote_uri: str  # the other side, without the tag
    peer: tuple[str, int]
    outgoing: bool
    remote_tag: str | None = None
    remote_target: str = ""
    route_set: list[str] = field(default_factory=list)
    local_cseq: int = 1
    remote_cseq: int | None = None
    state: str = "early"  # early → confirmed → ended
    invite: Request | None = None  # the INVITE it started with (received, or sent)
    invite_branch: str = ""
    local_sdp: bytes = b""
    final_sent: Response | None = None
    auth_tried: bool = False
    reoffer: tuple[Request, tuple[str, int]] | None = None  # a re-INVITE's offer being taken up, and its sender


@dataclass
class _Retransmit:
    data: bytes
    addr: tuple[str, int]
    next_at: float
    interval: float
    until: float
    cap: float | None  # T2 for responses and non-INVITE requests; None: INVITE doubles without a cap
    call_id: str
    what: str  # "2xx", "final", "invite", or the method of a non-INVITE request


def _allowed(networks: list, host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def names_host(networks: list, host: str) -> bool:
    """Whether `host` is one of the single addresses the allow list names (not merely inside a network on it)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(network.num_addresses == 1 and network.network_address == address for network in networks)


def parse_networks(text: str) -> list:
    """`127.0.0.1, 10.0.0.0/8` → networks; a bad entry is a settings error that names it."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ApplianceError("sip-allow-invalid", f"[line] sip_allow: {item!r} is not an address or a "
                                     "network like 10.0.0.0/8") from None
    return networks


def caller_of(request: Request) -> tuple[str | None, str | None]:
    """(number or user, display name) of who calls: P-Asserted-Identity when the trunk vouches for it, else From."""
    for header in ("P-Asserted-Identity", "From"):
        value = request.get(header)
        if value:
            try:
                who = NameAddr.parse(value.split(",")[0])
            except ApplianceError:
                continue
            user = who.uri.user or (who.uri.host if who.uri.scheme == "tel" else None)
            if user and user.lower() not in ("anonymous", "unknown", "restricted"):
                return user, who.display_name
    return None, None


class UserAgent:
    """The appliance's SIP endpoint: `receive` datagrams, `tick` the clock, and the call-control methods."""

    def __init__(self, host: str, port: int, user: str = "support", allow: str = "127.0.0.1, ::1",
                 credentials: DigestClient | None = None, capacity=None):
        self.host = host
        self.port = port
        self.user = user
        self.networks = parse_networks(allow)
        self.credentials = credentials
        self.dialogs: dict[str, Dialog] = {}
        self.timers: dict[tuple, _Retransmit] = {}
        self.responses: dict[tuple, tuple[bytes, float]] = {}  # (call-id, branch, method) → (response, kept until)
        self.dropped = 0  # malformed datagrams from the addresses served, and requests refused with 403
        self.forbidden = ForbiddenSources()  # datagrams from other addresses: counted, a few read, the rest not
        self.registration: dict | None = None
        # capacity() says whether the box takes another call now (appliance.line.capacity.Capacity), for OPTIONS;
        # None: always.
        self.capacity = capacity or (lambda: None)

    # The wire.

    @property
    def contact(self) -> str:
        return f"<sip:{self.user}@{self._hostport()}>"

    def _hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def receive(self, data: bytes, addr: tuple[str, int], now: float) -> list:
        """Everything one datagram causes."""
        allowed = _allowed(self.networks, addr[0])
        if not allowed and addr[0] not in self._peers():
            return self._forbidden(data, addr, now)  # judged by its address alone, before it is read
        try:
            message = parse(data)
            if isinstance(message, Response):
                return self._response(message, addr, now)
            if not allowed and not self._peer_request(message, addr[0]):
                return self._forbidden(data, addr, now, message)
            return self._request(message, addr, now)
        except ApplianceError as exc:
            self.dropped += 1
            log.info("%s from %s:%s: dropped", exc, *addr[:2])
            return [Dropped(exc.code, addr)]

    def _peers(self) -> set[str]:
        """Addresses the appliance itself talks to: the far ends of the calls it placed, where its requests and
        retransmissions go, and its registrar."""
        hosts = {dialog.peer[0] for dialog in self.dialogs.values() if dialog.outgoing}
        hosts.update(timer.addr[0] for timer in self.timers.values())
        if self.registration:
            hosts.add(self.registration["registrar"][0])
        return hosts

    def _peer_request(self, request: Request, host: str) -> bool:
        """Whether a request from `host`, not on the allow list, belongs to a call the appliance placed to it."""
        dialog = self.dialogs.get(request.get("Call-ID"))
        return (dialog is not None and dialog.outgoing and dialog.peer[0] == host
                and NameAddr.parse(request.get("To")).tag == dialog.local_tag)

    def _forbidden(self, data: bytes, addr, now: float, message: Request | None = None) -> list:
        """A datagram from an address the appliance does not serve: a request is refused with 403 while its
        address is within the rate, and anything else (ACK, a response, garbage, the rest of a flood) is dropped
        unread. No state is kept for it: the 403 is neither cached nor retransmitted."""
        if not self.forbidden.admit(addr[0], now):
            return []
        try:
            message = parse(data) if message is None else message
        except ApplianceError:
            return []
        if not isinstance(message, Request) or message.method == "ACK":  # an ACK is never answered
            return []
        self.forbidden.count_refused()
        self.dropped += 1
        response = response_to(message, 403, headers=[("User-Agent", USER_AGENT)])
        return [Send(response.to_bytes(), addr), Dropped("sip-forbidden", addr)]

    def tick(self, now: float) -> list:
        """Retransmissions due by `now`, and what their timeouts mean."""
        out: list = []
        for key, timer in list(self.timers.items()):
            if now >= timer.until:
                del self.timers[key]
                out += self._timed_out(timer, now)
                continue
            if timer.next_at > now:
                continue
            out.append(Send(timer.data, timer.addr))
            timer.interval = timer.interval * 2 if timer.cap is None else min(timer.interval * 2, timer.cap)
            timer.next_at = now + timer.interval
        self.responses = {k: v for k, v in self.responses.items() if v[1] > now}
        if self.registration and now >= self.registration["refresh_at"]:
            out += self.register(self.registration["registrar"], now, self.registration["expires"])
        summary = self.forbidden.summary(now)
        if summary:
            log.warning(summary)
        return out

    def _start_timer(self, key: tuple, data: bytes, addr, now: float, call_id: str, what: str,
                     cap: float | None = T2) -> None:
        self.timers[key] = _Retransmit(data, addr, now + T1, T1, now + TIMEOUT_S, cap, call_id, what)

    def _timed_out(self, timer: _Retransmit, now: float) -> list:
        dialog = self.dialogs.get(timer.call_id)
        if timer.what == "2xx" and dialog and dialog.state != "ended":  # answered, never ACKed: the caller is gone
            return self._send_bye(dialog, now) + [self._end(dialog, "network", "no ACK for the answer")]
        if timer.what == "invite" and dialog and dialog.state != "ended":
            return [self._end(dialog, "network", "no answer from the far end", 408)]
        if timer.what == "final" and dialog and dialog.state == "ended":  # a refusal never ACKed: forget the call
            self.dialogs.pop(timer.call_id, None)
        if timer.what == "REGISTER" and self.registration:
            self.registration["refresh_at"] = now + 60  # no answer at all: try again in a minute
        if timer.what not in ("2xx", "final", "invite"):
            return [RequestDone(timer.call_id, timer.what, 408, "no response")]
        return []

    def _end(self, dialog: Dialog, by: str, reason: str, status: int | None = None) -> CallEnded:
        dialog.state = "ended"
        for key in [k for k, t in self.timers.items() if t.call_id == dialog.call_id and t.what in ("2xx", "invite")]:
            del self.timers[key]
        self.dialogs.pop(dialog.call_id, None)
        return CallEnded(dialog.call_id, by, reason, status)

    def _reply(self, request: Request, addr, status: int, reason: str | None = None, to_tag: str | None = None,
               headers=(), body: bytes = b"", now: float = 0.0) -> Send:
        response = response_to(request, status, reason, to_tag=to_tag, headers=[("User-Agent", USER_AGENT), *headers])
        if body:
            response.set("Content-Type", "application/sdp")
            response.body = body
        data = response.to_bytes()
        if request.method not in ("INVITE", "ACK"):
            self.responses[(request.get("Call-ID"), _branch(request), request.method)] = (data, now + KEEP_RESPONSES_S)
        return Send(data, addr)

    # Requests that come in.

    def _request(self, request: Request, addr, now: float) -> list:
        call_id = request.get("Call-ID")
        if request.method == "ACK":
            return self._ack(request)
        kept = self.responses.get((call_id, _branch(request), request.method))
        if kept:
            return [Send(kept[0], addr)]  # a retransmitted request gets the same answer again
        handler = {"INVITE": self._invite, "CANCEL": self._cancel, "BYE": self._bye, "OPTIONS": self._options,
                   "INFO": self._info, "NOTIFY": self._notify}.get(request.method)
        if handler is None:
            return [self._reply(request, addr, 405, headers=[("Allow", ALLOW)], now=now)]
        return handler(request, addr, now)

    def _in_dialog(self, request: Request) -> Dialog | None:
        dialog = self.dialogs.get(request.get("Call-ID"))
        if dialog is None:
            return None
        to_tag = NameAddr.parse(request.get("To")).tag
        return dialog if to_tag in (None, dialog.local_tag) else None

    def _invite(self, request: Request, addr, now: float) -> list:
        call_id = request.get("Call-ID")
        to = NameAddr.parse(request.get("To"))
        dialog = self.dialogs.get(call_id)
        if to.tag is not None:  # a re-INVITE: hold, a new address or codec, a session refresh
            if dialog is None or to.tag != dialog.local_tag:
                return [self._reply(request, addr, 481, now=now)]
            if not request.body:  # no offer: the appliance's SDP is the offer again (the ACK brings the answer)
                return [self._reply(request, addr, 200, headers=[("Contact", self.contact)], body=dialog.local_sdp,
                                    now=now)]
            if dialog.reoffer is not None:  # one offer at a time (RFC 3261 §14.2); the same one again waits too
                waiting = _branch(dialog.reoffer[0]) == _branch(request)
                return [self._reply(request, addr, 100 if waiting else 491, now=now)]
            dialog.reoffer = (request, addr)
            return [self._reply(request, addr, 100, now=now), MediaOffered(call_id, request.body)]
        if dialog is not None:  # the same INVITE again: the same answer again
            if dialog.final_sent is not None:
                return [Send(dialog.final_sent.to_bytes(), addr)]
            return [self._reply(request, addr, 100, now=now)]
        sender = NameAddr.parse(request.get("From"))
        contact = request.get("Contact")
        dialog = Dialog(call_id, new_tag(), str(NameAddr(to.uri, to.display_name)),
                        str(NameAddr(sender.uri, sender.display_name)), addr, outgoing=False,
                        remote_tag=sender.tag, remote_target=str(NameAddr.parse(contact).uri) if contact else str(sender.uri),
                        route_set=request.get_all("Record-Route"), remote_cseq=CSeq.parse(request.get("CSeq")).number,
                        invite=request, invite_branch=_branch(request))
        self.dialogs[call_id] = dialog
        caller, display = caller_of(request)
        return [self._reply(request, addr, 100, now=now),
                IncomingCall(call_id, caller, display, request.body, addr, to.uri.user)]

    def _ack(self, request: Request) -> list:
        self.timers.pop(("final", request.get("Call-ID")), None)  # a refusal's ACK, its dialog maybe gone already
        dialog = self.dialogs.get(request.get("Call-ID"))
        if dialog is None or dialog.outgoing:
            return []
        if dialog.state == "ended":  # the ACK of a refusal (487 to a CANCEL, 486, 488...): the call is over
            self.dialogs.pop(dialog.call_id, None)
            return []
        if self.timers.pop(("2xx", dialog.call_id), None) is not None or dialog.state == "early":
            if dialog.final_sent is not None and dialog.final_sent.status < 300:
                dialog.state = "confirmed"
                return [CallConnected(dialog.call_id)]
        return []

    def _cancel(self, request: Request, addr, now: float) -> list:
        dialog = self.dialogs.get(request.get("Call-ID"))
        if dialog is None or dialog.outgoing or dialog.invite_branch != _branch(request):
            return [self._reply(request, addr, 481, now=now)]
        out = [self._reply(request, addr, 200, now=now)]
        if dialog.final_sent is None:
            out += self._final(dialog, 487, now)
            out.append(CallEnded(dialog.call_id, "caller", "cancelled before it was answered"))
            dialog.state = "ended"
        return out

    def _bye(self, request: Request, addr, now: float) -> list:
        dialog = self._in_dialog(request)
        if dialog is None:
            return [self._reply(request, addr, 481, now=now)]
        self.timers.pop(("2xx", dialog.call_id), None)
        return [self._reply(request, addr, 200, now=now), self._end(dialog, "caller", "the caller hung up")]

    def _options(self, request: Request, addr, now: float) -> list:
        """200 while the box has a free call slot; 503 with Retry-After when it is full, drained or stopping, so that a
        proxy probing its boxes (Kamailio's dispatcher) sends calls to another one meanwhile."""
        headers = [("Allow", ALLOW), ("Accept", "application/sdp")]
        capacity = self.capacity()
        if capacity is not None and not capacity.accepting:
            return [self._reply(request, addr, 503, headers=[("Retry-After", str(capacity.retry_after_s)), *headers],
                                now=now)]
        return [self._reply(request, addr, 200, headers=headers, now=now)]

    def _info(self, request: Request, addr, now: float) -> list:
        dialog = self._in_dialog(request)
        if dialog is None:
            return [self._reply(request, addr, 481, now=now)]
        found = re.search(rb"(?im)^\s*signal\s*=\s*([0-9*#A-D])", request.body)
        out = [self._reply(request, addr, 200, now=now)]
        if found:
            out.append(KeyReceived(dialog.call_id, found.group(1).decode().upper()))
        return out

    def _notify(self, request: Request, addr, now: float) -> list:
        dialog = self._in_dialog(request)
        if dialog is None:
            return [self._reply(request, addr, 481, now=now)]
        return [self._reply(request, addr, 200, now=now),
                Notified(dialog.call_id, request.get("Event") or "", request.body.decode("utf-8", "replace").strip())]

    # Answering and ending calls.

    def ringing(self, call_id: str, now: float) -> list:
        """Tell the caller it rings (180)."""
        dialog = self.dialogs.get(call_id)
        if dialog is None or dialog.final_sent is not None:
            return []
        return [self._reply(dialog.invite, dialog.peer, 180, to_tag=dialog.local_tag,
                            headers=[("Contact", self.contact)], now=now)]

    def answer(self, call_id: str, sdp: bytes, now: float) -> list:
        """Answer with 200 and the SDP answer; it is retransmitted until the ACK comes."""
        dialog = self.dialogs.get(call_id)
        if dialog is None or dialog.final_sent is not None:
            return []
        dialog.local_sdp = sdp
        response = response_to(dialog.invite, 200, to_tag=dialog.local_tag,
                               headers=[("Contact", self.contact), ("Allow", ALLOW), ("User-Agent", USER_AGENT),
                                        ("Content-Type", "application/sdp")])
        for route in dialog.route_set:
            response.add("Record-Route", route)
        response.body = sdp
        dialog.final_sent = response
        data = response.to_bytes()
        self._start_timer(("2xx", call_id), data, dialog.peer, now, call_id, "2xx")
        return [Send(data, dialog.peer)]

    def answer_reoffer(self, call_id: str, taken: bool, now: float) -> list:
        """Answer a re-INVITE's offer once the line has taken it up: 200 with the appliance's SDP as it was (RFC 3264
        §8 lets an answer stay the same), or 488 when it could not be taken up (the call goes on as it was, RFC 3261
        §14.2). The answer is kept to answer a retransmission of the re-INVITE."""
        dialog = self.dialogs.get(call_id)
        if dialog is None or dialog.reoffer is None:
            return []
        (request, addr), dialog.reoffer = dialog.reoffer, None
        if taken:
            send = self._reply(request, addr, 200, headers=[("Contact", self.contact)], body=dialog.local_sdp, now=now)
        else:
            send = self._reply(request, addr, 488, now=now)
        self.responses[(call_id, _branch(request), "INVITE")] = (send.data, now + KEEP_RESPONSES_S)
        return [send]

    def reject(self, call_id: str, status: int, now: float, retry_after_s: int | None = None) -> list:
        """Refuse a call not yet answered (486 busy, 488 no common codec, 503...), saying when to try again if given."""
        dialog = self.dialogs.get(call_id)
        if dialog is None or dialog.final_sent is not None:
            return []
        out = self._final(dialog, status, now, [("Retry-After", str(retry_after_s))] if retry_after_s else [])
        dialog.state = "ended"
        return out

    def _final(self, dialog: Dialog, status: int, now: float, headers=()) -> list:
        response = response_to(dialog.invite, status, to_tag=dialog.local_tag,
                               headers=[("User-Agent", USER_AGENT), *headers])
        dialog.final_sent = response
        data = response.to_bytes()
        self._start_timer(("final", dialog.call_id), data, dialog.peer, now, dialog.call_id, "final")
        return [Send(data, dialog.peer)]

    def hangup(self, call_id: str, now: float) -> list:
        """End a call from the appliance's side: BYE once it is up, CANCEL while a placed call rings,
        480 for an incoming call not yet answered."""
        dialog = self.dialogs.get(call_id)
        if dialog is None or dialog.state == "ended":
            return []
        if dialog.state == "confirmed" or (not dialog.outgoing and dialog.final_sent is not None):
            return self._send_bye(dialog, now) + [self._end(dialog, "appliance", "the appliance hung up")]
        if dialog.outgoing:
            return self._cancel_invite(dialog, now)
        return self._final(dialog, 480, now) + [self._end(dialog, "appliance", "not answered")]

    def _request_in_dialog(self, dialog: Dialog, method: str, headers=(), body: bytes = b"",
                           content_type: str | None = None) -> tuple[Request, str]:
        dialog.local_cseq += 1
        branch = new_branch()
        request = Request(method, dialog.remote_target or dialog.remote_uri)
        request.add("Via", f"SIP/2.0/UDP {self._hostport()};branch={branch};rport")
        request.add("Max-Forwards", "70")
        for route in reversed(dialog.route_set) if not dialog.outgoing else dialog.route_set:
            request.add("Route", route)
        request.add("From", f"{dialog.local_uri};tag={dialog.local_tag}")
        request.add("To", dialog.remote_uri + (f";tag={dialog.remote_tag}" if dialog.remote_tag else ""))
        request.add("Call-ID", dialog.call_id)
        request.add("CSeq", f"{dialog.local_cseq} {method}")
        request.add("Contact", self.contact)
        request.add("User-Agent", USER_AGENT)
        for name, value in headers:
            request.add(name, value)
        if body:
            request.add("Content-Type", content_type or "application/sdp")
            request.body = body
        return request, branch

    def _send_bye(self, dialog: Dialog, now: float) -> list:
        request, branch = self._request_in_dialog(dialog, "BYE")
        data = request.to_bytes()
        self._start_timer(("client", branch), data, dialog.peer, now, dialog.call_id, "BYE")
        return [Send(data, dialog.peer)]

    def refer(self, call_id: str, target: str, now: float) -> list:
        """Blind transfer: ask the other side (the PBX) to call `target` (a SIP URI) instead (RFC 3515)."""
        dialog = self.dialogs.get(call_id)
        if dialog is None or dialog.state != "confirmed":
            raise ApplianceError("sip-no-dialog", f"call {call_id} is not up; nothing to transfer")
        request, branch = self._request_in_dialog(dialog, "REFER", headers=[
            ("Refer-To", f"<{target}>"), ("Referred-By", f"<sip:{self.user}@{self._hostport()}>")])
        data = request.to_bytes()
        self._start_timer(("client", branch), data, dialog.peer, now, call_id, "REFER")
        return [Send(data, dialog.peer)]

    # Calls the appliance places.

    def invite(self, target: str, sdp: bytes, addr: tuple[str, int], now: float,
               display_name: str | None = None) -> tuple[str, list]:
        """Call `target` (a SIP URI) through `addr` (the trunk or PBX); returns the new call's Call-ID."""
        uri = SipUri.parse(target)
        call_id = new_call_id(self.host)
        local = f"\"{display_name}\" <sip:{self.user}@{self._hostport()}>" if display_name else \
            f"<sip:{self.user}@{self._hostport()}>"
        dialog = Dialog(call_id, new_tag(), local, f"<{uri}>", addr, outgoing=True, remote_target=str(uri),
                        local_cseq=0, local_sdp=sdp)
        self.dialogs[call_id] = dialog
        return call_id, self._send_invite(dialog, now)

    def _send_invite(self, dialog: Dialog, now: float, authorization: tuple[str, str] | None = None) -> list:
        dialog.local_cseq += 1
        branch = new_branch()
        request = Request("INVITE", dialog.remote_target)
        request.add("Via", f"SIP/2.0/UDP {self._hostport()};branch={branch};rport")
        request.add("Max-Forwards", "70")
        request.add("From", f"{dialog.local_uri};tag={dialog.local_tag}")
        request.add("To", dialog.remote_uri)
        request.add("Call-ID", dialog.call_id)
        request.add("CSeq", f"{dialog.local_cseq} INVITE")
        request.add("Contact", self.contact)
        request.add("Allow", ALLOW)
        request.add("User-Agent", USER_AGENT)
        if authorization:
            request.add(*authorization)
        request.add("Content-Type", "application/sdp")
        request.body = dialog.local_sdp
        dialog.invite, dialog.invite_branch = request, branch
        data = request.to_bytes()
        self._start_timer(("invite", branch), data, dialog.peer, now, dialog.call_id, "invite", cap=None)
        return [Send(data, dialog.peer)]

    def _cancel_invite(self, dialog: Dialog, now: float) -> list:
        invite = dialog.invite
        request = Request("CANCEL", invite.uri)
        request.add("Via", invite.get("Via"))
        request.add("Max-Forwards", "70")
        for name in ("From", "To", "Call-ID"):
            request.add(name, invite.get(name))
        request.add("CSeq", f"{CSeq.parse(invite.get('CSeq')).number} CANCEL")
        data = request.to_bytes()
        self.timers.pop(("invite", dialog.invite_branch), None)
        self._start_timer(("client", dialog.invite_branch, "CANCEL"), data, dialog.peer, now, dialog.call_id, "CANCEL")
        dialog.state = "cancelling"
        return [Send(data, dialog.peer)]

    def _ack_for(self, dialog: Dialog, response: Response, success: bool) -> bytes:
        """ACK a final response to the appliance's INVITE: a new transaction for 2xx, the INVITE's for others."""
        invite = dialog.invite
        number = CSeq.parse(invite.get("CSeq")).number
        uri = dialog.remote_target if success else invite.uri
        request = Request("ACK", uri)
        request.add("Via", f"SIP/2.0/UDP {self._hostport()};branch={new_branch()};rport" if success
                    else invite.get("Via"))
        request.add("Max-Forwards", "70")
        for route in dialog.route_set if success else ():
            request.add("Route", route)
        request.add("From", invite.get("From"))
        request.add("To", response.get("To"))
        request.add("Call-ID", dialog.call_id)
        request.add("CSeq", f"{number} ACK")
        return request.to_bytes()

    # Responses to what the appliance sent.

    def _response(self, response: Response, addr, now: float) -> list:
        branch = Via.parse(response.get_all("Via")[0]).branch if response.get_all("Via") else None
        method = CSeq.parse(response.get("CSeq")).method
        call_id = response.get("Call-ID")
        dialog = self.dialogs.get(call_id)
        if method == "INVITE":
            return self._invite_response(response, dialog, branch, now)
        if method == "REGISTER":
            return self._register_response(response, branch, now)
        if response.status < 200:
            timer = self.timers.get(("client", branch)) or self.timers.get(("client", branch, method))
            if timer is not None:
                timer.next_at, timer.interval = now + T2, T2  # a provisional answer: retransmit only every T2
            return []
        found = self.timers.pop(("client", branch), None) or self.timers.pop(("client", branch, method), None)
        if found is None:
            return []  # a retransmitted final response, already handled
        return [RequestDone(call_id, method, response.status, response.reason)]

    def _invite_response(self, response: Response, dialog: Dialog | None, branch: str | None, now: float) -> list:
        if dialog is None or not dialog.outgoing or branch != dialog.invite_branch:
            if dialog is not None and dialog.outgoing and response.status < 300 and dialog.state == "confirmed":
                return [Send(self._ack_for(dialog, response, True), dialog.peer)]  # the 200 again: ACK again
            return []
        self.timers.pop(("invite", branch), None)
        if response.status < 200:
            if dialog.state == "cancelling":
                return []
            if dialog.state == "early" and response.status in (180, 183):
                return [Ringing(dialog.call_id)]
            return []
        if response.status < 300:
            dialog.remote_tag = NameAddr.parse(response.get("To")).tag
            contact = response.get("Contact")
            if contact:
                dialog.remote_target = str(NameAddr.parse(contact).uri)
            dialog.route_set = list(reversed(response.get_all("Record-Route")))
            ack = self._ack_for(dialog, response, True)
            if dialog.state == "cancelling":  # answered as the CANCEL crossed it: take the call down
                dialog.state = "confirmed"
                return [Send(ack, dialog.peer)] + self._send_bye(dialog, now) + [
                    self._end(dialog, "appliance", "cancelled")]
            dialog.state = "confirmed"
            return [Send(ack, dialog.peer), CallConnected(dialog.call_id, response.body)]
        out = [Send(self._ack_for(dialog, response, False), dialog.peer)]
        if response.status in (401, 407) and self.credentials is not None and not dialog.auth_tried:
            dialog.auth_tried = True
            header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
            challenge = choose(response.get_all(header))
            value = self.credentials.authorization(challenge, "INVITE", dialog.remote_target)
            name = "Authorization" if response.status == 401 else "Proxy-Authorization"
            return out + self._send_invite(dialog, now, (name, value))
        by = "appliance" if dialog.state == "cancelling" else "network"
        return out + [self._end(dialog, by, f"{response.status} {response.reason}", response.status)]

    # Registration with a PBX.

    def register(self, registrar: tuple[str, int], now: float, expires: int = 300,
                 authorization: tuple[str, str] | None = None, domain: str | None = None) -> list:
        """REGISTER the appliance's Contact with a PBX at `registrar` (an address); refreshed before it runs out.
        `domain` is the PBX's name in the REGISTER's URIs (by default the registrar's address, or as last given)."""
        state = self.registration or {"call_id": new_call_id(self.host), "cseq": 0, "tag": new_tag()}
        state.update(registrar=registrar, expires=expires, refresh_at=now + max(expires * 0.8, expires - 30),
                     domain=domain or state.get("domain") or registrar[0])
        state["cseq"] += 1
        user = self.credentials.username if self.credentials else self.user
        domain = state["domain"]
        request = Request("REGISTER", f"sip:{domain}")
        branch = new_branch()
        state["branch"] = branch
        request.add("Via", f"SIP/2.0/UDP {self._hostport()};branch={branch};rport")
        request.add("Max-Forwards", "70")
        request.add("From", f"<sip:{user}@{domain}>;tag={state['tag']}")
        request.add("To", f"<sip:{user}@{domain}>")
        request.add("Call-ID", state["call_id"])
        request.add("CSeq", f"{state['cseq']} REGISTER")
        request.add("Contact", f"<sip:{user}@{self._hostport()}>;expires={expires}")
        request.add("Expires", str(expires))
        request.add("User-Agent", USER_AGENT)
        if authorization:
            request.add(*authorization)
        state["auth_tried"] = authorization is not None
        self.registration = state
        data = request.to_bytes()
        self._start_timer(("register", branch), data, registrar, now, state["call_id"], "REGISTER")
        return [Send(data, registrar)]

    def registering(self) -> bool:
        """Whether a REGISTER is waiting for its final answer."""
        return any(key[0] == "register" for key in self.timers)

    def _register_response(self, response: Response, branch: str | None, now: float) -> list:
        state = self.registration
        if state is None or branch != state.get("branch") or response.status < 200:
            return []
        self.timers.pop(("register", branch), None)
        if response.status in (401, 407) and self.credentials is not None and not state["auth_tried"]:
            header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
            value = self.credentials.authorization(choose(response.get_all(header)), "REGISTER",
                                                   f"sip:{state['domain']}")
            name = "Authorization" if response.status == 401 else "Proxy-Authorization"
            return self.register(state["registrar"], now, state["expires"], (name, value))
        if response.status >= 300:
            state["refresh_at"] = now + 60  # try again in a minute
            log.error("sip-register-failed: %s answered %s %s", state["registrar"][0], response.status, response.reason)
            return [RequestDone(state["call_id"], "REGISTER", response.status, response.reason)]
        granted = _granted_expires(response, state["expires"], self._hostport()) or state["expires"]
        state["refresh_at"] = now + max(granted * 0.8, granted - 30)  # the registrar may keep it for less
        return [RequestDone(state["call_id"], "REGISTER", response.status, response.reason, granted)]


def _granted_expires(response: Response, asked: int, mine: str) -> int:
    """How long a REGISTER's 2xx keeps the binding: the expires of the Contact at `mine` (HOST:PORT; the PBX lists
    the extension's other phones too), else the Expires header, else what was asked."""
    for contact in response.get_all("Contact"):
        if mine not in contact:
            continue
        found = re.search(r";\s*expires\s*=\s*(\d+)", contact, re.IGNORECASE)
        if found:
            return int(found.group(1))
    value = (response.get("Expires") or "").strip()
    return int(value) if value.isdigit() else asked


def _branch(request: Request) -> str | None:
    vias = request.get_all("Via")
    return Via.parse(vias[0]).branch if vias else None
