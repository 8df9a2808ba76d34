"""Who may use the panel: scrypt password hashes, signed session cookies, CSRF tokens and the login limit.

A session is a signed cookie (HMAC-SHA256 with a key kept in `data_dir/panel.key`) holding the admin's
name, its expiry and a random nonce; an anonymous visitor gets one too, with no name, so the login form
has a CSRF token as well. A CSRF token is the HMAC of the session's nonce: it cannot be made without
the key, and a new login (a new nonce) makes the old tokens worthless.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import secrets
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import ApplianceError
from appliance.records.models import Admin, AuditLog, RevokedSession, database

SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_BYTES = 2 ** 14, 8, 1, 32
_MAX_MEM = 64 * 1024 * 1024


def hash_password(password: str) -> str:
    """A self-describing scrypt hash: `scrypt$N$r$p$salt$hash`, salt and hash in hex."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=SCRYPT_BYTES, maxmem=_MAX_MEM)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches a hash made by `hash_password` (with whatever parameters it names)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(digest)
        actual = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected), maxmem=_MAX_MEM)
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def _dummy_hash() -> str:
    """Checked for an unknown name, so that it takes as long as a known one."""
    return hash_password(secrets.token_hex(8))


def audit(who: str, what: str) -> None:
    """Record one change and who made it."""
    AuditLog.create(who=who, what=what)


def add_admin(name: str, password: str, who: str = "technician (appliance panel add-admin)") -> bool:
    """Create the admin `name`, or set a new password for it; returns whether it was created."""
    name = name.strip()
    if not name:
        raise ApplianceError("panel-admin-name-empty", "an admin needs a name")
    if not password:
        raise ApplianceError("panel-password-empty", "the password is empty; nothing was changed")
    hashed = hash_password(password)
    with database.atomic():
        created = not Admin.update(password_hash=hashed).where(Admin.name == name).execute()
        if created:
            Admin.create(name=name, password_hash=hashed)
        audit(who, f"{'created admin' if created else 'set a new password for admin'} {name}")
    return created


def check_login(name: str, password: str) -> bool:
    """Whether `name` is an admin and `password` is theirs."""
    admin = Admin.get_or_none(Admin.name == name)
    matched = verify_password(password, admin.password_hash if admin else _dummy_hash())
    return admin is not None and matched


def revoke(session: Session, now: float) -> None:
    """Sign a session out on the server: its cookie, replayed, is refused. Expired revocations are dropped."""
    with database.atomic():
        RevokedSession.delete().where(RevokedSession.expires <= now).execute()
        RevokedSession.insert(nonce=session.nonce, expires=session.expires).on_conflict_ignore().execute()


def session_live(admin: str, nonce: str) -> bool:
    """Whether a signed session still counts: its admin exists and it was not signed out."""
    return (Admin.select().where(Admin.name == admin).exists()
            and not RevokedSession.select().where(RevokedSession.nonce == nonce).exists())


def panel_key(data_dir: Path) -> bytes:
    """The key that signs sessions: made once, readable only by the appliance's user."""
    path = Path(data_dir) / "panel.key"
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_bytes(32))
    return path.read_bytes()


@dataclass(frozen=True)
class Session:
    """A visitor's session: `admin` is empty until they log in."""

    admin: str
    expires: float
    nonce: str


class Sessions:
    """Signs sessions into cookie values and reads them back; CSRF tokens are tied to the session."""

    def __init__(self, key: bytes):
        self._key = key

    def _mac(self, purpose: str, data: bytes) -> str:
        return hmac.new(self._key, purpose.encode() + b"\0" + data, hashlib.sha256).hexdigest()

    def new(self, admin: str, now: float, lifetime_s: float) -> Session:
        return Session(admin, now + lifetime_s, secrets.token_urlsafe(16))

    def dump(self, session: Session) -> str:
        """The cookie value: the session as base64 JSON, a dot, its signature."""
        data = base64.urlsafe_b64encode(json.dumps(
            {"a": session.admin, "e": session.expires, "n": session.nonce}).encode())
        return f"{data.decode()}.{self._mac('session', data)}"

    def load(self, value: str | None, now: float) -> Session | None:
        """The session in a cookie value, or None if it is missing, forged, malformed or expired."""
        if not value or value.count(".") != 1:
            return None
        data, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac("session", data.encode())):
            return None
        try:
            fields = json.loads(base64.urlsafe_b64decode(data.encode()))
            session = Session(str(fields["a"]), float(fields["e"]), str(fields["n"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > now else None

    def csrf_token(self, session: Session) -> str:
        """The token every form of this session carries."""
        return self._mac("csrf", session.nonce.encode())

    def csrf_ok(self, session: Session | None, token: str | None) -> bool:
        return bool(session and token) and hmac.compare_digest(self.csrf_token(session), str(token))


class LoginLimiter:
    """At most `failures` wrong passwords per client address within `window_s`; `now` is given, never read."""

    def __init__(self, failures: int, window_s: float, max_addresses: int = 10000):
        self.failures, self.window_s, self.max_addresses = failures, window_s, max_addresses
        self._failed: dict[str, deque] = {}

    def _recent(self, address: str, now: float) -> deque:
        times = self._failed.get(address, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def blocked(self, address: str, now: float) -> float:
        """Seconds until `address` may try again; 0 when it may now."""
        times = self._recent(address, now)
        if len(times) < self.failures:
            return 0.0
        return times[-self.failures] + self.window_s - now

    def failed(self, address: str, now: float) -> None:
        if address not in self._failed and len(self._failed) >= self.max_addresses:
            for stale in [a for a in self._failed if not self._recent(a, now)]:
                del self._failed[stale]
            if len(self._failed) >= self.max_addresses:
                self._failed.pop(next(iter(self._failed)))
        times = self._recent(address, now)
        times.append(now)
        self._failed[address] = times

    def succeeded(self, address: str) -> None:
        self._failed.pop(address, None)
