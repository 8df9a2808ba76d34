"""Who may use the panel: scrypt password hashes, signed session cookies, CSRF tokens and the login limit.

A session is a signed cookie (HMAC-SHA256 with a key kept in `data_dir/panel.key`) holding the admin's
name, its expiry, a random nonce and the admin's session generation; an anonymous visitor gets one too, with
no name, so the login form has a CSRF token as well. A CSRF token is the HMAC of the session's nonce: it
cannot be made without the key, and a new login (a new nonce) makes the old tokens worthless. A new password
raises the admin's generation in the database, and a session of an older generation no longer counts: every
browser signed in with the old password is signed out.

The login limit lives in the records database (`login_attempt`), so a restart does not reset it, and an
attempt is recorded before its password is checked, so guesses sent all at once are counted all the same.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import ApplianceError
from appliance.records.models import Admin, AuditLog, LoginAttempt, RevokedSession, database

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
    """Create the admin `name`, or set a new password for it and sign out all its sessions; returns whether it
    was created."""
    name = name.strip()
    if not name:
        raise ApplianceError("panel-admin-name-empty", "an admin needs a name")
    if not password:
        raise ApplianceError("panel-password-empty", "the password is empty; nothing was changed")
    hashed = hash_password(password)
    with database.atomic():
        created = not Admin.update(password_hash=hashed, session_generation=Admin.session_generation + 1).where(
            Admin.name == name).execute()
        if created:
            Admin.create(name=name, password_hash=hashed)
        audit(who, f"created admin {name}" if created else
              f"set a new password for admin {name} (their sessions were signed out)")
    return created


def check_login(name: str, password: str) -> Admin | None:
    """The admin `name` if `password` is theirs; None for a wrong password or an unknown name."""
    admin = Admin.get_or_none(Admin.name == name)
    matched = verify_password(password, admin.password_hash if admin else _dummy_hash())
    return admin if admin is not None and matched else None


def revoke(session: Session, now: float) -> None:
    """Sign a session out on the server: its cookie, replayed, is refused. Expired revocations are dropped."""
    with database.atomic():
        RevokedSession.delete().where(RevokedSession.expires <= now).execute()
        RevokedSession.insert(nonce=session.nonce, expires=session.expires).on_conflict_ignore().execute()


def session_live(session: Session) -> bool:
    """Whether a signed session still counts: its admin exists, has not set a new password since it signed in,
    and did not sign this session out."""
    return (Admin.select().where((Admin.name == session.admin)
                                 & (Admin.session_generation == session.generation)).exists()
            and not RevokedSession.select().where(RevokedSession.nonce == session.nonce).exists())


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
    """A visitor's session: `admin` is empty until they log in; `generation` is the admin's when they did."""

    admin: str
    expires: float
    nonce: str
    generation: int = 0


class Sessions:
    """Signs sessions into cookie values and reads them back; CSRF tokens are tied to the session."""

    def __init__(self, key: bytes):
        self._key = key

    def _mac(self, purpose: str, data: bytes) -> str:
        return hmac.new(self._key, purpose.encode() + b"\0" + data, hashlib.sha256).hexdigest()

    def new(self, admin: str, now: float, lifetime_s: float, generation: int = 0) -> Session:
        return Session(admin, now + lifetime_s, secrets.token_urlsafe(16), generation)

    def dump(self, session: Session) -> str:
        """The cookie value: the session as base64 JSON, a dot, its signature."""
        data = base64.urlsafe_b64encode(json.dumps(
            {"a": session.admin, "e": session.expires, "n": session.nonce, "g": session.generation}).encode())
        return f"{data.decode()}.{self._mac('session', data)}"

    def load(self, value: str | None, now: float) -> Session | None:
        """The session in a cookie value, or None if it is missing, forged, malformed or expired."""
        if not value or not value.isascii() or value.count(".") != 1:
            return None
        data, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac("session", data.encode())):
            return None
        try:
            fields = json.loads(base64.urlsafe_b64decode(data.encode()))
            session = Session(str(fields["a"]), float(fields["e"]), str(fields["n"]), int(fields["g"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > now else None

    def csrf_token(self, session: Session) -> str:
        """The token every form of this session carries."""
        return self._mac("csrf", session.nonce.encode())

    def csrf_ok(self, session: Session | None, token) -> bool:
        """Whether `token` (a form's field: text, a file or None) is this session's."""
        return (session is not None and isinstance(token, str) and token.isascii()
                and hmac.compare_digest(self.csrf_token(session), token))


class LoginLimiter:
    """At most `failures` login attempts per client address within `window_s`, counted in the records database;
    `now` is given, never read. Call on the database thread.

    An attempt is recorded before its password is checked (`reserve`) and forgotten when the password was right
    (`succeeded`), so what is left in the window is the wrong ones and those still being checked: a burst of
    guesses sent at once gets `failures` tries, not one each."""

    def __init__(self, failures: int, window_s: float):
        self.failures, self.window_s = max(failures, 1), window_s  # 0 would shut every admin out

    def reserve(self, address: str, now: float) -> float:
        """Record an attempt from `address` and return 0; or, when it has used up its attempts, record nothing
        and return the seconds until it may try again. Attempts that left the window are dropped."""
        with database.atomic():  # an IMMEDIATE transaction: counting and recording are one step
            LoginAttempt.delete().where(LoginAttempt.at <= now - self.window_s).execute()
            times = [row.at for row in LoginAttempt.select(LoginAttempt.at).where(LoginAttempt.address == address)
                     .order_by(LoginAttempt.at)]
            if len(times) >= self.failures:
                return times[-self.failures] + self.window_s - now
            LoginAttempt.create(address=address, at=now)
            return 0.0

    def succeeded(self, address: str) -> None:
        """The right password: the address starts afresh."""
        LoginAttempt.delete().where(LoginAttempt.address == address).execute()
