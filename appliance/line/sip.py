"""SIP over UDP: the user agent core on an asyncio socket, each call's audio on its own RTP line.

`SipServer` answers INVITEs from the allowed addresses with PCMU or PCMA and hands each call's
`RtpLine` to the call service; it places calls too (callbacks, warm transfers, the technicians'
softphone). Malformed or hostile datagrams are counted and logged by the core and never reach a call.

Names are looked up here, once, and the core and the RTP lines see only addresses: a trunk or registrar given by
name when the call is placed or the line starts, an SDP's connection address when the offer or answer is taken up
(one that does not resolve refuses the call with 488). A re-INVITE that moves the far end's media moves the line.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import re
import socket
import time

from appliance.errors import ApplianceError
from appliance.line import status as line_status
from appliance.line.rtp import RtpLine
from appliance.sip import sdp
from appliance.sip.agent import (CallConnected, CallEnded, IncomingCall, KeyReceived, MediaOffered, Notified,
                                 RequestDone, Ringing, Send, UserAgent, names_host)
from appliance.sip.digest import DigestClient

log = logging.getLogger("appliance.line.sip")

TICK_S = 0.05
RESOLVE_AGAIN_S = 60.0  # a registrar whose name does not resolve yet (a box up before its DNS) is looked up again


def parse_ports(text: str) -> range:
    """`10000-10999` → range(10000, 11000)."""
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        raise ApplianceError("line-rtp-ports-invalid", f"[line] rtp_ports {text!r} is not FIRST-LAST") from None
    if not 0 < low <= high < 65536:
        raise ApplianceError("line-rtp-ports-invalid", f"[line] rtp_ports {text!r} is not within 1-65535")
    return range(low, high + 1)


def parse_hostport(text: str, default_port: int = 5060) -> tuple[str, int]:
    """`HOST:PORT` (or `[v6]:PORT`, or a bare host) → (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest.lstrip(":") or default_port)
    host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    return host, int(port or default_port)


def _settle(waiting: dict[str, asyncio.Future], call_id: str, result) -> None:
    """Give the future a call's coroutine awaits (answered, REFER answered, transfer outcome) its result."""
    future = waiting.get(call_id)
    if future is not None and not future.done():
        future.set_result(result)


async def resolve(address: tuple[str, int], family: int = socket.AF_UNSPEC) -> tuple[str, int]:
    """(name or IP address, port) → (IP address, port), a name looked up once; `line-address-unresolved` if not."""
    host, port = address
    try:
        ipaddress.ip_address(host)
        return host, port
    except ValueError:
        pass
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, family=family, type=socket.SOCK_DGRAM)
    except (OSError, UnicodeError, ValueError) as exc:  # no such name, no DNS, a name that is not one
        raise ApplianceError("line-address-unresolved", f"{host!r} does not resolve: {exc}") from None
    if not found:
        raise ApplianceError("line-address-unresolved", f"{host!r} does not resolve")
    return found[0][4][0], port


def address_towards(peer: str) -> str:
    """The address of this box that `peer` reaches it on (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in peer else socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((peer, 9))
            return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"


class SipServer(asyncio.DatagramProtocol):
    """One SIP socket; `on_call(line)` runs each answered call to its end; `on_status(LineStatus)` hears how the
    line stands: listening (trunk mode), or registering, registered and failed with the PBX; `capacity()` whether the
    box takes another call (appliance.line.capacity), which OPTIONS answers."""

    def __init__(self, host: str, port: int, on_call=None, user: str = "support", allow: str = "127.0.0.1, ::1",
                 public_host: str = "", rtp_ports: str = "10000-10999", username: str = "", password: str = "",
                 registrar: str = "", register_expires_s: int = 300, on_status=None, capacity=None):
        self.bind_host, self.bind_port = host, port
        self.on_call = on_call
        self.on_status = on_status or (lambda status: None)
        self.status: line_status.LineStatus | None = None
        self.allow = allow
        self.public_host = public_host
        self.rtp_ports = parse_ports(rtp_ports)
        credentials = DigestClient(username, password) if username else None
        self.registrar = parse_hostport(registrar) if registrar else None
        # What goes in Via and Contact: the listening address, unless that is every address of the box.
        wildcard = host in ("0.0.0.0", "::", "")
        contact_host = public_host or (address_towards(self.registrar[0] if self.registrar else "192.0.2.1")
                                       if wildcard else host)
        self.agent = UserAgent(contact_host, port, user, allow, credentials, capacity)
        self.register_expires_s = register_expires_s
        self.transport: asyncio.DatagramTransport | None = None
        self.lines: dict[str, RtpLine] = {}
        self.tasks: set[asyncio.Task] = set()
        self._waiting: dict[str, asyncio.Future] = {}
        self._refers: dict[str, asyncio.Future] = {}
        self._transfers: dict[str, asyncio.Future] = {}  # call-id → the final status a REFER's NOTIFY reports
        self._ticker: asyncio.Task | None = None
        self.last_trunk: tuple[str, int] | None = None  # where the last call came from

    async def start(self) -> "SipServer":
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(self.bind_host, self.bind_port))
        self.agent.port = self.port
        self._ticker = asyncio.create_task(self._tick())
        if self.registrar:
            self._report(line_status.registering(self.uri, self._registrar_text()))
            self._spawn(self._register())
        else:
            self._report(line_status.listening(self.uri, f"listening on UDP {self.bind_host}:{self.port} for the "
                                               f"trunk's INVITEs (answers {self.allow})"))
        return self

    @property
    def uri(self) -> str:
        """The line's name, as `[line] listen` gives it: sip://HOST:PORT."""
        return f"sip://{self.bind_host}:{self.bind_port or self.port}"

    def _registrar_text(self) -> str:
        return f"{self.registrar[0]}:{self.registrar[1]}"

    async def _register(self) -> None:
        """REGISTER with the PBX at the address its name has (the core takes answers from addresses only), looking
        the name up again every minute until it resolves."""
        while True:
            try:
                address = await resolve(self.registrar, self.family)
            except ApplianceError as exc:
                self._report(line_status.unreachable(self.uri, self._registrar_text(), exc.message))
                await asyncio.sleep(RESOLVE_AGAIN_S)
                continue
            self._handle(self.agent.register(address, time.monotonic(), self.register_expires_s,
                                             domain=self.registrar[0]))
            return

    def callback_route(self) -> tuple[str, int]:
        """Where calls the box places go when `[line] sip_trunk` is empty: the registrar in registration mode, else the
        trunk that last called in, only if `[line] sip_allow` names that very address (an address merely inside an
        allowed network may be any box there); `line-no-trunk` says why not."""
        if self.registrar:
            return self.registrar
        if self.last_trunk is None:
            raise ApplianceError("line-no-trunk", "no trunk")
        if not names_host(self.agent.networks, self.last_trunk[0]):
            raise ApplianceError("line-no-trunk", f"no trunk: the last call came from {self.last_trunk[0]}, which "
                                 "[line] sip_allow allows but does not name; set [line] sip_trunk")
        return self.last_trunk

    def _still_unreachable(self, done: RequestDone) -> bool:
        """A REGISTER that timed out after the network said the registrar is unreachable: that says more."""
        last = self.status
        return done.status == 408 and last is not None and last.state == "failed" and last.status is None

    def _report(self, status) -> None:
        self.status = status
        try:
            self.on_status(status)
        except Exception:  # whoever listens must not stop the line
            log.exception("line status %r", status)

    @property
    def port(self) -> int:
        return self.transport.get_extra_info("sockname")[1]

    @property
    def family(self) -> int:
        """The SIP socket's address family (what a trunk's or registrar's name must resolve to)."""
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        return sock.family if sock is not None else socket.AF_UNSPEC

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self._handle(self.agent.receive(data, addr[:2], time.monotonic()))

    def error_received(self, exc: Exception) -> None:
        log.info("line-sip-socket: %s", exc)  # an ICMP unreachable from a peer that went away, or no route
        # The error does not say which peer it was for; while a REGISTER waits for its answer and the line is not
        # registered, it is most likely the registrar's (no route to it, where the OS says so at once; otherwise
        # the REGISTER times out and says "no answer").
        if self.registrar and self.agent.registering() and (self.status is None or self.status.state != "registered"):
            self._report(line_status.unreachable(self.uri, self._registrar_text(), exc.strerror or str(exc)))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self._handle(self.agent.tick(time.monotonic()))

    def _handle(self, outputs: list) -> None:
        for output in outputs:
            if isinstance(output, Send):
                if self.transport is not None and not self.transport.is_closing():
                    self.transport.sendto(output.data, output.addr)
            elif isinstance(output, IncomingCall):
                self._spawn(self._incoming(output))
            elif isinstance(output, CallEnded):
                _settle(self._transfers, output.call_id, None)
                line = self.lines.get(output.call_id)
                if line is not None and output.by != "appliance":
                    log.info("call %s ended by %s: %s", output.call_id, output.by, output.reason)
                    line.remote_hangup()
                _settle(self._waiting, output.call_id, output)
            elif isinstance(output, CallConnected):
                _settle(self._waiting, output.call_id, output)
            elif isinstance(output, KeyReceived) and output.call_id in self.lines:
                self.lines[output.call_id].key(output.key)
            elif isinstance(output, MediaOffered):
                self._spawn(self._take_reoffer(output))
            elif isinstance(output, Notified):
                found = re.match(r"SIP/2\.0\s+([1-6][0-9][0-9])\b", output.body)
                if output.event.partition(";")[0].strip().lower() == "refer" and found and int(found.group(1)) >= 200:
                    _settle(self._transfers, output.call_id, int(found.group(1)))
            elif isinstance(output, RequestDone):
                if output.method == "REFER":
                    _settle(self._refers, output.call_id, output.status)
                elif output.method == "REGISTER" and self.registrar and not self._still_unreachable(output):
                    self._report(line_status.registration_answered(
                        self.uri, self._registrar_text(), output.status, output.reason, output.expires_s,
                        self.agent.credentials is not None))
            elif isinstance(output, Ringing):
                log.info("call %s is ringing", output.call_id)

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _media_host(self, peer: str) -> str:
        if self.public_host:
            return self.public_host
        if self.bind_host not in ("0.0.0.0", "::", ""):
            return self.bind_host
        return address_towards(peer)

    async def _hangup(self, call_id: str) -> None:
        self._handle(self.agent.hangup(call_id, time.monotonic()))

    async def _refuse(self, call_id: str, status: int, retry_after_s: int | None) -> None:
        """Turn away a call not yet answered (the box is full or stopping), so the proxy in front tries another box."""
        log.info("call %s refused with %s", call_id, status)
        self._handle(self.agent.reject(call_id, status, time.monotonic(), retry_after_s))

    async def _incoming(self, call: IncomingCall) -> None:
        now = time.monotonic()
        self.last_trunk = call.addr
        host = self._media_host(call.addr[0])
        try:
            line = await RtpLine.open(self.bind_host, self.rtp_ports, caller_id=call.caller_id,
                                      close_call=lambda: self._hangup(call.call_id))
        except ApplianceError as exc:
            log.error("%s: call %s refused", exc, call.call_id)
            self._handle(self.agent.reject(call.call_id, 503, now))
            return
        try:
            agreed = sdp.answer(call.offer, host, line.local_port, session_id=random.randrange(1, 2**31))
            remote = await resolve(agreed.remote, line.family)
        except ApplianceError as exc:
            log.warning("%s: call %s from %s refused with 488", exc, call.call_id, call.addr[0])
            line.release()
            self._handle(self.agent.reject(call.call_id, 488, time.monotonic()))
            return
        dialog = self.agent.dialogs.get(call.call_id)
        if dialog is None or dialog.state == "ended":  # cancelled while the line was opening: no call to run
            line.release()
            return
        line.configure(agreed.codec, agreed.payload_type, remote, agreed.telephone_event)
        line.transfer = lambda target: self.transfer(call.call_id, target)
        line.refuse = lambda status, retry_after_s=None: self._refuse(call.call_id, status, retry_after_s)
        self.lines[call.call_id] = line
        self._handle(self.agent.ringing(call.call_id, time.monotonic()))
        line.on_answer = lambda: self._handle(self.agent.answer(call.call_id, agreed.sdp.encode(), time.monotonic()))
        log.info("call %s from %s ringing (%s, RTP %s:%s)", call.call_id, call.caller_id, agreed.codec, *remote)
        try:
            if self.on_call is not None:
                await self.on_call(line)
        except Exception:
            log.exception("call-failed: call %s", call.call_id)
        finally:
            await line.hangup()
            line.release()
            self.lines.pop(call.call_id, None)

    async def place_call(self, target: str, via: tuple[str, int] | None = None, ring_timeout_s: float = 30.0,
                         display_name: str | None = None, caller_id: str | None = None) -> RtpLine:
        """Call `target` (a SIP URI) and return its line once answered; `ApplianceError` says why not."""
        from appliance.sip.message import SipUri

        uri = SipUri.parse(target)
        via = await resolve(via or (uri.host, uri.port or 5060), self.family)
        host = self._media_host(via[0])
        line = await RtpLine.open(self.bind_host, self.rtp_ports, caller_id=caller_id)
        offered = sdp.offer(host, line.local_port, session_id=random.randrange(1, 2**31), version=1)
        call_id, outputs = self.agent.invite(target, offered.encode(), via, time.monotonic(), display_name)
        line.close_call = lambda: self._hangup(call_id)
        waiting = asyncio.get_running_loop().create_future()
        self._waiting[call_id] = waiting
        self._handle(outputs)
        try:
            event = await asyncio.wait_for(waiting, ring_timeout_s)
        except asyncio.TimeoutError:
            await self._hangup(call_id)
            line.release()
            raise ApplianceError("line-no-answer", f"{target} did not answer within {ring_timeout_s:.0f} s") from None
        except asyncio.CancelledError:  # not wanted any more (the caller of a transfer hung up): stop the ringing
            await self._hangup(call_id)
            line.release()
            raise
        finally:
            self._waiting.pop(call_id, None)
        if isinstance(event, CallEnded):
            line.release()
            code = "line-busy" if event.status in (486, 600) else "line-call-failed"
            raise ApplianceError(code, f"{target}: {event.reason}")
        try:
            agreed = sdp.accept_answer(offered, event.answer)
            remote = await resolve(agreed.remote, line.family)
        except ApplianceError:
            await self._hangup(call_id)
            line.release()
            raise
        line.configure(agreed.codec, agreed.payload_type, remote, agreed.telephone_event)
        line.call_id = call_id
        self.lines[call_id] = line
        line.on_release = lambda: self.lines.pop(call_id, None)  # whoever placed the call releases its line
        return line

    async def _take_reoffer(self, offered: MediaOffered) -> None:
        """A re-INVITE's offer: the call's RTP moves to the address it gives (looked up once, here), and the agent
        answers 200; an offer the line cannot take (no codec of the call's, a name that does not resolve) gets 488."""
        line = self.lines.get(offered.call_id)
        taken = True
        if line is not None:
            try:
                remote = sdp.reoffered(offered.offer, line.codec)
                if remote is not None:
                    remote = await resolve(remote, line.family)
            except ApplianceError as exc:
                log.warning("%s: call %s's re-INVITE refused with 488", exc, offered.call_id)
                taken = False
            else:
                if remote is not None and remote != line.remote:
                    log.info("call %s: RTP moves to %s:%s (re-INVITE)", offered.call_id, *remote)
                    line.send_to(remote)
        self._handle(self.agent.answer_reoffer(offered.call_id, taken, time.monotonic()))

    async def transfer(self, call_id: str, target: str, timeout_s: float = 10.0, outcome_timeout_s: float = 30.0
                       ) -> int | None:
        """Blind transfer of a call to `target` (REFER, RFC 3515), returning how it went: the final status that the
        far end's NOTIFY reports (200 once the target answered, 486 busy...), so that the call is left only then
        (RFC 5589); the REFER's own answer when it was refused, when the far end hung up first, or when no final
        NOTIFY came within `outcome_timeout_s`; None when the REFER got no answer."""
        loop = asyncio.get_running_loop()
        answered, outcome = loop.create_future(), loop.create_future()
        self._refers[call_id], self._transfers[call_id] = answered, outcome
        try:
            self._handle(self.agent.refer(call_id, target, time.monotonic()))
            try:
                status = await asyncio.wait_for(answered, timeout_s)
            except asyncio.TimeoutError:
                return None
            if 200 <= status < 300:
                try:
                    status = await asyncio.wait_for(outcome, outcome_timeout_s) or status
                except asyncio.TimeoutError:
                    pass
            return status
        finally:
            self._refers.pop(call_id, None)
            self._transfers.pop(call_id, None)

    async def close(self) -> None:
        """Hang up every call, then close the socket."""
        for call_id in list(self.lines):
            await self._hangup(call_id)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self._ticker is not None:
            self._ticker.cancel()
        await asyncio.sleep(0.05)  # let the BYEs leave
        if self.transport is not None:
            self.transport.close()
