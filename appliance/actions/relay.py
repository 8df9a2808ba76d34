"""A small SMTP relay on loopback (aiosmtpd) that keeps what it accepts: the twin of the office's mail relay.

`appliance simulate` scores emails by what this relay accepted; the tests use it to take the relay down
and up, refuse recipients, or be slow; a technician can run `appliance relay` to see what the box
would send, with no mail server at hand. Accepted messages are kept in memory and, when a folder is
given, written to it as `.eml` files.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import ssl

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


@dataclass
class Received:
    """One accepted email, parsed."""

    sender: str
    recipients: list[str]
    message: email.message.EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"] or "")

    def text(self) -> str:
        """The plain-text body."""
        part = self.message.get_body(preferencelist=("plain", "html"))
        return part.get_content() if part else ""

    def attachments(self) -> dict[str, str]:
        """Attachment file names and their text."""
        found = {}
        for part in self.message.iter_attachments():
            payload = part.get_payload(decode=True) or b""
            found[part.get_filename()] = payload.decode("utf-8", "replace")
        return found


@dataclass
class RelayHandler:
    """What the relay does with each SMTP command: accept, refuse some recipients, or take its time."""

    refuse: dict[str, str] = field(default_factory=dict)  # recipient → the SMTP reply to give, e.g. "550 no such user"
    rcpt_delay_s: float = 0.0
    on_rcpt: object = None  # called with the recipient before it is answered (tests use it to kill a sender)
    folder: Path | None = None
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.on_rcpt:
            self.on_rcpt(address)
        if self.rcpt_delay_s:
            time.sleep(self.rcpt_delay_s)  # deliberately blocks: a slow relay holds the whole conversation
        if address.lower() in self.refuse:
            return self.refuse[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
            if self.folder:
                self.folder.mkdir(parents=True, exist_ok=True)
                (self.folder / f"{len(self.received):05d}.eml").write_bytes(envelope.original_content or b"")
        return "250 Message accepted for delivery"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LoopbackRelay:
    """An SMTP server on 127.0.0.1 that can be stopped and started again on the same port."""

    def __init__(self, port: int | None = None, folder: Path | None = None, tls: tuple[Path, Path] | None = None,
                 login: tuple[str, str] | None = None):
        """`tls`: (certificate, key) PEM files, and STARTTLS is then required; `login`: the one user and
        password it accepts, and sending then needs them (over TLS)."""
        self.port = port or free_port()
        self.handler = RelayHandler(folder=folder)
        self.tls = tls
        self.login = login
        self._controller: Controller | None = None

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        given = (auth_data.login.decode(), auth_data.password.decode())
        return AuthResult(success=given == self.login, handled=False)  # unhandled: the server answers 535 itself

    def _options(self) -> dict:
        options = {}
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*map(str, self.tls))
            options.update(tls_context=context, require_starttls=True)
        if self.login:
            options.update(authenticator=self._authenticate, auth_required=True, auth_require_tls=bool(self.tls))
        return options

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def start(self) -> "LoopbackRelay":
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **self._options())
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "LoopbackRelay":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
