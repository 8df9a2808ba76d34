"""Digest authentication for the appliance as a client (RFC 7616, RFC 2617, RFC 3261 §22): answering 401 and 407.

A registrar or proxy challenges with `WWW-Authenticate` or `Proxy-Authenticate`; the request is
sent again with `Authorization` or `Proxy-Authorization` from `DigestClient.authorization()`, which
counts each nonce's uses (nc) so a server can reuse one nonce for many requests.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Iterable

from appliance.errors import ApplianceError

HASHES = {"MD5": "md5", "SHA-256": "sha256"}  # RFC 7616 §3.3; each also comes in a -sess variant
PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,"]*)\s*(?:,|$)')


def malformed(reason: str) -> ApplianceError:
    """The error for a challenge that does not follow the grammar."""
    return ApplianceError("sip-malformed", reason)


@dataclass(frozen=True)
class Challenge:
    """One digest challenge from a `WWW-Authenticate` or `Proxy-Authenticate` header."""

    realm: str
    nonce: str
    opaque: str | None = None
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    stale: bool = False

    @classmethod
    def parse(cls, value: str) -> Challenge:
        """`Digest realm="x", nonce="y", qop="auth", algorithm=MD5` to a Challenge."""
        scheme, rest = (value.strip().split(None, 1) + ["", ""])[:2]
        if scheme.lower() != "digest":
            raise ApplianceError("sip-auth-unsupported", f"the {scheme[:20]!r} scheme is not Digest")
        params = auth_params(rest)
        if "realm" not in params or "nonce" not in params:
            raise malformed("the digest challenge has no realm or no nonce")
        algorithm = params.get("algorithm", "MD5")
        if algorithm.upper().removesuffix("-SESS") not in HASHES:
            raise ApplianceError("sip-auth-unsupported", f"the digest algorithm {algorithm[:30]!r} is not "
                                 "MD5, MD5-sess, SHA-256 or SHA-256-sess")
        qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
        return cls(params["realm"], params["nonce"], params.get("opaque"), algorithm, qop,
                   params.get("stale", "").lower() == "true")


def auth_params(text: str) -> dict[str, str]:
    """`a="x", b=y` to {"a": "x", "b": "y"}: names lower-cased, quotes and escapes taken off."""
    params: dict[str, str] = {}
    position = 0
    text = text.strip()
    while position < len(text):
        match = PARAM.match(text, position)
        if match is None or match.end() == position:
            raise malformed(f"the auth parameters {text[position:position + 60]!r} are not name=value")
        name, value = match.group(1).lower(), match.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[name] = value
        position = match.end()
    return params


def choose(values: Iterable[str]) -> Challenge:
    """The first challenge among several headers that the appliance can answer (RFC 7616 §3.7)."""
    unsupported: ApplianceError | None = None
    for value in values:
        try:
            return Challenge.parse(value)
        except ApplianceError as error:
            if error.code != "sip-auth-unsupported":
                raise
            unsupported = error
    raise unsupported or ApplianceError("sip-auth-unsupported", "the response has no digest challenge")


def _hash(algorithm: str, text: str) -> str:
    return hashlib.new(HASHES[algorithm.upper().removesuffix("-SESS")], text.encode("utf-8")).hexdigest()


def digest_response(challenge: Challenge, username: str, password: str, method: str, uri: str,
                    cnonce: str = "", nc: int = 1, body: bytes = b"") -> tuple[str, str | None]:
    """(the hex `response`, the qop used or None) for one request (RFC 7616 §3.4.1)."""
    algorithm = challenge.algorithm
    ha1 = _hash(algorithm, f"{username}:{challenge.realm}:{password}")
    if algorithm.upper().endswith("-SESS"):
        ha1 = _hash(algorithm, f"{ha1}:{challenge.nonce}:{cnonce}")
    qop = "auth" if "auth" in challenge.qop else "auth-int" if "auth-int" in challenge.qop else None
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += ":" + hashlib.new(HASHES[algorithm.upper().removesuffix("-SESS")], body).hexdigest()
    ha2 = _hash(algorithm, a2)
    if qop is None:  # RFC 2069 compatibility: a server that asks for no qop
        return _hash(algorithm, f"{ha1}:{challenge.nonce}:{ha2}"), None
    return _hash(algorithm, f"{ha1}:{challenge.nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}"), qop


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class DigestClient:
    """One account's credentials, and how many times each nonce has been used."""

    username: str
    password: str
    uses: dict[tuple[str, str], int] = field(default_factory=dict)  # (realm, nonce) -> nc so far

    def authorization(self, challenge: Challenge, method: str, uri: str, body: bytes = b"",
                      cnonce: str | None = None) -> str:
        """The `Authorization` (or `Proxy-Authorization`) value answering `challenge` for this request."""
        key = (challenge.realm, challenge.nonce)
        self.uses = {k: v for k, v in self.uses.items() if k[0] != challenge.realm or k == key}
        nc = self.uses.get(key, 0) + 1
        self.uses[key] = nc
        cnonce = cnonce if cnonce is not None else secrets.token_hex(8)
        response, qop = digest_response(challenge, self.username, self.password, method, uri, cnonce, nc, body)
        parts = [f"username={_quoted(self.username)}", f"realm={_quoted(challenge.realm)}",
                 f"nonce={_quoted(challenge.nonce)}", f"uri={_quoted(uri)}", f"response={_quoted(response)}",
                 f"algorithm={challenge.algorithm}"]
        if challenge.opaque is not None:
            parts.append(f"opaque={_quoted(challenge.opaque)}")
        if qop is not None:
            parts += [f"qop={qop}", f"nc={nc:08x}", f"cnonce={_quoted(cnonce)}"]
        elif challenge.algorithm.upper().endswith("-SESS"):
            parts.append(f"cnonce={_quoted(cnonce)}")
        return "Digest " + ", ".join(parts)
