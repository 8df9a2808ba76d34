"""Each phone line's health as the call service sees it: listening (trunk mode), registering, registered with the
PBX (until when), or failed (why, and what to do). No I/O: the lines report here, the call service publishes it.

A line is named by its URI (`sip://0.0.0.0:5060`). `LineStatuses` keeps the latest status of each line and
calls `publish(status)` on every change, so the panel hears each change once, and `current()` gives all of
them again for a panel that connects later.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import ClassVar

HEALTH = {"listening": "ok", "registered": "ok", "registering": "warn", "failed": "fail"}  # state → check state
CREDENTIALS_FIX = "check [line] sip_username and sip_password against the extension on the PBX"


@dataclass(frozen=True)
class LineFault:
    """A fault of a line's hardware: `kind`, what was seen, when, and when the box was past it. A line's own
    subclass names its kinds for people in NAMES ("one-way audio")."""

    NAMES: ClassVar[dict[str, str]] = {}
    kind: str
    detail: str
    at: float  # time.time()
    recovered_at: float | None = None

    def describe(self) -> str:
        """One line for the health page and the line's check script."""
        when = time.strftime("%H:%M:%S", time.localtime(self.at))
        over = "" if self.recovered_at is None else ", recovered"
        return f"{self.NAMES.get(self.kind, self.kind)} at {when}{over}: {self.detail}"


@dataclass(frozen=True)
class LineStatus:
    """One line's state: listening, registering, registered or failed; `detail` says what was seen."""

    line: str  # the line's URI, e.g. sip://0.0.0.0:5060
    state: str
    detail: str
    fix: str = ""
    registrar: str = ""  # HOST:PORT in registration mode
    status: int | None = None  # the registrar's last SIP status
    expires_s: int | None = None  # how long the registrar keeps the binding (registered only)
    at: float = field(default_factory=time.time)

    @property
    def health(self) -> str:
        """ok (registered, or listening for a trunk), warn (registering), fail (registration failed)."""
        return HEALTH.get(self.state, "warn")

    def same(self, other: "LineStatus | None") -> bool:
        """Whether `other` says the same thing (its time aside): a refresh that changes nothing is not news."""
        return other is not None and asdict(self) | {"at": 0} == asdict(other) | {"at": 0}

    def to_dict(self) -> dict:
        return asdict(self)


def listening(line: str, detail: str) -> LineStatus:
    """A line that takes calls without registering: a SIP trunk sends its INVITEs here, or Asterisk connects."""
    return LineStatus(line, "listening", detail)


def registering(line: str, registrar: str) -> LineStatus:
    """REGISTER sent, no final answer yet."""
    return LineStatus(line, "registering", f"REGISTER sent to {registrar}, no answer yet",
                      "wait a few seconds; if it stays, check [line] registrar", registrar)


def registration_answered(line: str, registrar: str, status: int, reason: str, expires_s: int | None,
                          with_credentials: bool) -> LineStatus:
    """What the registrar's final answer (or 408 for no answer at all) means for the line."""
    if 200 <= status < 300:
        return LineStatus(line, "registered", f"registered with {registrar} for {expires_s} s", registrar=registrar,
                          status=status, expires_s=expires_s)
    answered = f"{registrar} answered {status} {reason}".rstrip()
    if status in (401, 407):
        if with_credentials:
            detail, fix = f"{answered} to the digest answer: the password was refused", CREDENTIALS_FIX
        else:
            detail, fix = f"{answered}: it asks for a password", "set [line] sip_username and sip_password"
    elif status == 403:
        detail, fix = (f"{answered}: the PBX refuses this extension",
                       CREDENTIALS_FIX + ", and that the PBX lets it register from this box's address")
    elif status == 404:
        detail, fix = f"{answered}: no such extension", "check [line] sip_username (the extension's user name)"
    elif status == 408 and reason == "no response":
        detail, fix = (f"no answer from {registrar} (REGISTER sent again for 32 s)",
                       "check [line] registrar (HOST:PORT), the network to the PBX and its firewall")
    else:
        detail, fix = answered, "see the PBX's log for why it refused the registration"
    return LineStatus(line, "failed", detail + "; tried again in a minute", fix, registrar, status)


def unreachable(line: str, registrar: str, error: str) -> LineStatus:
    """The network said the registrar cannot be reached (an ICMP error for the REGISTER)."""
    return LineStatus(line, "failed", f"{registrar} is unreachable: {error}",
                      "check [line] registrar (HOST:PORT) and that the PBX is running", registrar)


class LineStatuses:
    """The latest status of each line; `publish(status)` is called for every change."""

    def __init__(self, publish=lambda status: None):
        self.publish = publish
        self._lines: dict[str, LineStatus] = {}

    def update(self, status: LineStatus) -> None:
        """Keep `status` as its line's latest; publish it when it says something new."""
        changed = not status.same(self._lines.get(status.line))
        self._lines[status.line] = status
        if changed or status.state == "registered":  # every refresh too: it says when the binding now runs out
            self.publish(status)

    def current(self) -> list[LineStatus]:
        """Every line's latest status, in the order the lines started."""
        return list(self._lines.values())
