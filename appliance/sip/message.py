"""SIP messages (RFC 3261 §7, §20) with no I/O: `parse(bytes)` gives a Request or Response, `to_bytes()` bytes.

Parsing is strict where a sloppy reading could mislead the layers above (a missing Call-ID, a
CSeq for another method, a Content-Length past the end of the datagram) and lenient where RFC 3261
asks for it (compact header names, folded lines, bare LF, CRLFs before the start line). Every
failure is `SipMalformed` (an ApplianceError with the code `sip-malformed`), whatever arrives.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass, field
from typing import Iterable

from appliance.errors import ApplianceError

MAX_MESSAGE_BYTES = 65536  # no UDP datagram is larger; a bigger "message" is an attack or a bug
MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 §8.1.1.7: a branch starting with it was made unique by its sender
VERSION = "SIP/2.0"

COMPACT = {"v": "Via", "f": "From", "t": "To", "i": "Call-ID", "m": "Contact", "l": "Content-Length",
           "c": "Content-Type", "k": "Supported", "s": "Subject", "e": "Content-Encoding", "o": "Event",
           "r": "Refer-To", "b": "Referred-By", "x": "Session-Expires", "u": "Allow-Events"}
# Headers whose grammar is a comma-separated list, so several values may share one line (RFC 3261 §7.3.1).
LIST_HEADERS = frozenset(name.lower() for name in (
    "Via", "Route", "Record-Route", "Contact", "Allow", "Supported", "Require", "Proxy-Require", "Unsupported",
    "Accept", "Accept-Encoding", "Accept-Language", "Allow-Events", "Content-Encoding", "Content-Language",
    "In-Reply-To", "Path", "Service-Route", "Alert-Info", "Call-Info", "Error-Info", "Reason"))
# Headers that a message may carry once at most: two of them leave it unclear what the message means.
SINGLE_HEADERS = frozenset(name.lower() for name in (
    "From", "To", "Call-ID", "CSeq", "Content-Length", "Max-Forwards", "Content-Type", "Expires"))
REQUIRED_HEADERS = ("Via", "From", "To", "Call-ID", "CSeq")  # RFC 3261 §8.1.1; responses copy them (§8.2.6.2)

REASONS = {100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued", 183: "Session Progress",
           200: "OK", 202: "Accepted", 301: "Moved Permanently", 302: "Moved Temporarily", 400: "Bad Request",
           401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout",
           413: "Request Entity Too Large", 415: "Unsupported Media Type", 416: "Unsupported URI Scheme",
           420: "Bad Extension", 423: "Interval Too Brief", 480: "Temporarily Unavailable",
           481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
           484: "Address Incomplete", 486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
           491: "Request Pending", 500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
           513: "Message Too Large", 600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
           606: "Not Acceptable"}
CLASS_REASONS = {1: "Provisional", 2: "Success", 3: "Redirection", 4: "Client Error", 5: "Server Error",
                 6: "Global Failure"}

TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.?")
USER = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+")  # RFC 3261 §25.1 user, escapes kept as written
PASSWORD = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,%]*")
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # anything below space but HTAB, and DEL
HEADERS_END = re.compile(rb"\r?\n\r?\n")


class SipMalformed(ApplianceError):
    """SIP text that does not follow the grammar: the one error `parse` and the header readers raise."""

    def __init__(self, reason: str):
        super().__init__("sip-malformed", reason)


def malformed(reason: str) -> SipMalformed:
    """The one error for SIP text that does not follow the grammar."""
    return SipMalformed(reason)


def full_name(name: str) -> str:
    """A header's full name: compact forms (`v`, `i`, ...) expanded, any other name as given."""
    return COMPACT.get(name.lower(), name) if len(name) == 1 else name


def split_outside(text: str, separator: str) -> list[str]:
    """`text` split at each `separator` that is neither inside double quotes nor inside angle brackets."""
    parts, start, quoted, depth, i = [], 0, False, 0, 0
    while i < len(text):
        char = text[i]
        if quoted:
            if char == "\\":
                i += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "<":
            depth += 1
        elif char == ">" and depth:
            depth -= 1
        elif char == separator and not depth:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    if quoted or depth:
        raise malformed(f"unbalanced quotes or angle brackets in {text[:80]!r}")
    parts.append(text[start:])
    return parts


class Headers(list[tuple[str, str]]):
    """A message's headers: an ordered list of (name, value) pairs, looked up without regard to case."""

    def get(self, name: str) -> str | None:
        """The first value of header `name`, or None when there is none."""
        wanted = full_name(name).lower()
        return next((value for key, value in self if full_name(key).lower() == wanted), None)

    def get_all(self, name: str) -> list[str]:
        """Every value of header `name` in order, with list headers (Via, Contact, ...) split at their commas."""
        wanted = full_name(name).lower()
        values = [value for key, value in self if full_name(key).lower() == wanted]
        if wanted not in LIST_HEADERS:
            return values
        return [part.strip() for value in values for part in split_outside(value, ",") if part.strip()]

    def set(self, name: str, value: str) -> None:
        """Header `name` replaced by one `value`, kept where the first one was (or appended)."""
        name = _checked(name, value)
        wanted = name.lower()
        at = next((i for i, (key, _) in enumerate(self) if full_name(key).lower() == wanted), len(self))
        self.remove(name)
        self.insert(min(at, len(self)), (name, value))

    def add(self, name: str, value: str) -> None:
        """One more header `name` at the end."""
        self.append((_checked(name, value), value))

    def remove(self, name: str) -> None:  # type: ignore[override]
        """Every header called `name` gone (none is fine)."""
        wanted = full_name(name).lower()
        self[:] = [(key, value) for key, value in self if full_name(key).lower() != wanted]


def _checked(name: str, value: str) -> str:
    """The full name of a header that is safe to send: a token name and a value on one line."""
    if not TOKEN.fullmatch(name):
        raise ApplianceError("sip-header-invalid", f"{name[:40]!r} is not a header name")
    if CONTROL.search(value):
        raise ApplianceError("sip-header-invalid", f"the {name} value has a line break or control character")
    return full_name(name)


class Message:
    """What requests and responses share: header lookups and the wire form."""

    headers: Headers
    body: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            self.headers = Headers(self.headers)

    def get(self, name: str) -> str | None:
        """The first value of header `name`, or None."""
        return self.headers.get(name)

    def get_all(self, name: str) -> list[str]:
        """Every value of header `name`, list headers split at their commas."""
        return self.headers.get_all(name)

    def set(self, name: str, value: str) -> None:
        """Header `name` replaced by one `value`."""
        self.headers.set(name, value)

    def add(self, name: str, value: str) -> None:
        """One more header `name` at the end."""
        self.headers.add(name, value)

    def remove(self, name: str) -> None:
        """Every header called `name` gone."""
        self.headers.remove(name)

    def start_line(self) -> str:
        """The first line on the wire."""
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """The message on the wire: CRLF line ends and a Content-Length that matches the body."""
        headers = Headers(self.headers)
        headers.set("Content-Length", str(len(self.body)))
        lines = [self.start_line(), *(f"{name}: {value}" for name, value in headers), "", ""]
        return "\r\n".join(lines).encode("utf-8") + self.body

    def serialize(self) -> bytes:
        """The same as `to_bytes()`."""
        return self.to_bytes()


@dataclass
class Request(Message):
    """A SIP request: `INVITE sip:bob@host SIP/2.0` and what follows."""

    method: str
    uri: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def start_line(self) -> str:
        """`METHOD uri SIP/2.0`."""
        return f"{self.method} {self.uri} {VERSION}"


@dataclass
class Response(Message):
    """A SIP response: `SIP/2.0 200 OK` and what follows."""

    status: int
    reason: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def start_line(self) -> str:
        """`SIP/2.0 status reason`."""
        return f"{VERSION} {self.status} {self.reason}"


def parse(data: bytes) -> Request | Response:
    """One SIP message from a datagram (or a stream's framed message); `sip-malformed` for anything else."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise malformed(f"a message is bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_MESSAGE_BYTES:
        raise malformed(f"the message is {len(data)} bytes, over the {MAX_MESSAGE_BYTES}-byte limit")
    data = data.lstrip(b"\r\n")  # RFC 3261 §7.5: CRLFs before the start line are ignored (keep-alives)
    if not data:
        raise malformed("no start line: the message is empty")
    end = HEADERS_END.search(data)
    if end is None:
        raise malformed("no empty line after the headers: the message is cut short")
    try:
        head = data[:end.start()].decode("utf-8")
    except UnicodeDecodeError as error:
        raise malformed(f"the start line or headers are not UTF-8 (byte {error.start})") from None
    lines = [line.removesuffix("\r") for line in head.split("\n")]
    message = _start(lines[0])
    message.headers = _headers(lines[1:])
    message.body = _body(message.headers, data[end.end():])
    _check(message)
    return message


def _start(line: str) -> Request | Response:
    """The empty message that a start line begins."""
    if CONTROL.search(line):
        raise malformed("the start line has a control character")
    if line.upper().startswith("SIP/"):
        version, _, rest = line.partition(" ")
        status, _, reason = rest.partition(" ")
        if version.upper() != VERSION:
            raise malformed(f"unsupported version {version[:20]!r} in the status line")
        if not (len(status) == 3 and status.isascii() and status.isdigit() and status[0] in "123456"):
            raise malformed(f"the status code {status[:20]!r} is not three digits from 100 to 699")
        return Response(int(status), reason.strip())
    parts = line.split(" ")
    if len(parts) != 3:
        raise malformed(f"the start line {line[:80]!r} is not 'METHOD URI SIP/2.0' nor 'SIP/2.0 code reason'")
    method, uri, version = parts
    if not TOKEN.fullmatch(method):
        raise malformed(f"the method {method[:40]!r} is not a token")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:\S+", uri):
        raise malformed(f"the Request-URI {uri[:80]!r} has no scheme")
    if version.upper() != VERSION:
        raise malformed(f"unsupported version {version[:20]!r} in the request line")
    return Request(method, uri)


def _headers(lines: list[str]) -> Headers:
    """Header lines to (full name, value) pairs, folded lines joined to the header they continue."""
    headers = Headers()
    for line in lines:
        if CONTROL.search(line):
            raise malformed("a header line has a control character")
        if line[:1] in (" ", "\t"):
            if not headers:
                raise malformed("a continuation line comes before any header")
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}".strip())
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon:
            raise malformed(f"the header line {line[:80]!r} has no colon")
        if not TOKEN.fullmatch(name):
            raise malformed(f"the header name {name[:80]!r} is not a token")
        headers.append((full_name(name), value.strip()))
    return headers


def _body(headers: Headers, rest: bytes) -> bytes:
    """The body: what follows the headers, cut to Content-Length when there is one."""
    length = headers.get("Content-Length")
    if length is None:
        return rest
    if not re.fullmatch(r"[0-9]{1,10}", length):
        raise malformed(f"the Content-Length {length[:40]!r} is not a number")
    if int(length) > len(rest):
        raise malformed(f"the Content-Length is {int(length)} but only {len(rest)} body bytes arrived")
    return rest[:int(length)]


def _check(message: Request | Response) -> None:
    """The headers every request and response must carry, each once where it may be there only once."""
    names = [name.lower() for name, _ in message.headers]
    for name in REQUIRED_HEADERS:
        if name.lower() not in names:
            raise malformed(f"the {name} header is missing")
    for name in SINGLE_HEADERS:
        if names.count(name) > 1:
            raise malformed(f"the {full_name(name)} header appears {names.count(name)} times")
    for value in message.get_all("Via"):
        Via.parse(value)
    NameAddr.parse(message.get("From") or "")
    NameAddr.parse(message.get("To") or "")
    cseq = CSeq.parse(message.get("CSeq") or "")
    if isinstance(message, Request) and cseq.method != message.method:
        raise malformed(f"the CSeq method {cseq.method} does not match the request method {message.method}")
    forwards = message.get("Max-Forwards")
    if forwards is not None and not (re.fullmatch(r"[0-9]{1,3}", forwards) and int(forwards) <= 255):
        raise malformed(f"Max-Forwards {forwards[:40]!r} is not a number from 0 to 255")


# ---- header values -------------------------------------------------------------------------------------------


def parse_params(text: str) -> dict[str, str | None]:
    """`;name=value;flag` to {"name": "value", "flag": None}: names lower-cased, values as written."""
    text = text.strip()
    if not text:
        return {}
    if not text.startswith(";"):
        raise malformed(f"parameters {text[:80]!r} do not start with ';'")
    params: dict[str, str | None] = {}
    for part in split_outside(text[1:], ";"):
        name, equals, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not TOKEN.fullmatch(name):
            raise malformed(f"the parameter name {name[:40]!r} is not a token")
        if equals and not re.fullmatch(r'"(?:[^"\\]|\\.)*"|[^\s";,]+', value):
            raise malformed(f"the value of parameter {name} is not a token or quoted string")
        params[name.lower()] = value if equals else None
    return params


def format_params(params: dict[str, str | None]) -> str:
    """{"tag": "x", "lr": None} to `;tag=x;lr`."""
    return "".join(f";{name}" if value is None else f";{name}={value}" for name, value in params.items())


def _host_port(text: str) -> tuple[str, int | None]:
    """`host`, `host:port` or `[v6]:port` to (host without brackets, port or None)."""
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        try:
            ipaddress.IPv6Address(inside)
        except ValueError:
            raise malformed(f"{inside[:60]!r} is not an IPv6 address") from None
        if not bracket or (rest and not rest.startswith(":")):
            raise malformed(f"the host {text[:60]!r} has no closing bracket")
        host, port = inside, rest[1:] if rest else None
    else:
        if text.count(":") > 1:
            raise malformed(f"the IPv6 host {text[:60]!r} must be in brackets")
        host, colon, port_text = text.partition(":")
        port = port_text if colon else None
        if not HOSTNAME.fullmatch(host):
            raise malformed(f"{host[:60]!r} is not a host name or address")
    if port is None:
        return host, None
    if not re.fullmatch(r"[0-9]{1,5}", port) or int(port) > 65535:
        raise malformed(f"the port {port[:20]!r} is not a number from 0 to 65535")
    return host, int(port)


def _format_host(host: str, port: int | None) -> str:
    """A host (brackets around IPv6) with its port when it has one."""
    host = f"[{host}]" if ":" in host else host
    return host if port is None else f"{host}:{port}"


@dataclass
class SipUri:
    """A sip:, sips: or tel: URI (RFC 3261 §19.1, RFC 3966); for tel: the number is `user` and `host` is empty."""

    scheme: str
    host: str
    user: str | None = None
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    password: str | None = None
    headers: str | None = None  # what follows '?', as written

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """`sip:alice@host:5060;transport=udp` to a SipUri."""
        scheme, colon, rest = text.strip().partition(":")
        scheme = scheme.lower()
        if not colon or scheme not in ("sip", "sips", "tel"):
            raise malformed(f"{text[:80]!r} is not a sip:, sips: or tel: URI")
        if re.search(r"[\s<>\"]", rest):
            raise malformed(f"the URI {text[:80]!r} has a space, quote or angle bracket")
        rest, question, uri_headers = rest.partition("?")
        if scheme == "tel":
            number, _, params = rest.partition(";")
            if not re.fullmatch(r"\+?[0-9A-Fa-f*#.()\-]+", number):
                raise malformed(f"{number[:40]!r} is not a telephone number")
            return cls("tel", "", number, None, parse_params(";" + params if params else ""))
        userinfo, at, hostpart = rest.rpartition("@")
        if at and not userinfo:
            raise malformed(f"the URI {text[:80]!r} has an empty user")
        user, colon, password = userinfo.partition(":")
        if at and not (USER.fullmatch(user) and PASSWORD.fullmatch(password)):
            raise malformed(f"the user part of {text[:80]!r} has characters a SIP URI cannot have")
        hostport, semicolon, params = hostpart.partition(";")
        host, port = _host_port(hostport)
        return cls(scheme, host, user if at else None, port, parse_params(";" + params if semicolon else ""),
                   password if colon else None, uri_headers if question else None)

    def __str__(self) -> str:
        if self.scheme == "tel":
            return f"tel:{self.user}{format_params(self.params)}"
        userinfo = "" if self.user is None else self.user
        if self.password is not None:
            userinfo += f":{self.password}"
        text = f"{self.scheme}:{userinfo}{'@' if self.user is not None else ''}{_format_host(self.host, self.port)}"
        text += format_params(self.params)
        return text if self.headers is None else f"{text}?{self.headers}"

    format = __str__


@dataclass
class NameAddr:
    """An address with its header parameters: `"Alice" <sip:alice@host>;tag=abc` or `sip:bob@host;tag=x`."""

    uri: SipUri
    display_name: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        """The `tag` parameter that names one side of a dialog."""
        return self.params.get("tag")

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        """A From, To, Contact, Route or Refer-To value to a NameAddr."""
        text = text.strip()
        display: str | None = None
        if text.startswith('"'):
            match = re.match(r'"((?:[^"\\]|\\.)*)"\s*', text)
            if match is None:
                raise malformed(f"the display name in {text[:80]!r} has no closing quote")
            display, text = re.sub(r"\\(.)", r"\1", match.group(1)), text[match.end():]
            if not text.startswith("<"):
                raise malformed("a quoted display name must be followed by <uri>")
        if "<" in text:
            before, _, rest = text.partition("<")
            if before.strip():
                if display is not None or not re.fullmatch(r"[A-Za-z0-9.!%*_+`'~\- \t]+", before):
                    raise malformed(f"the display name {before[:60]!r} must be quoted")
                display = " ".join(before.split())
            uri, bracket, params = rest.partition(">")
            if not bracket:
                raise malformed(f"{text[:80]!r} has no closing '>'")
            return cls(SipUri.parse(uri), display, parse_params(params))
        uri, semicolon, params = text.partition(";")
        return cls(SipUri.parse(uri), None, parse_params(";" + params if semicolon else ""))

    def __str__(self) -> str:
        name = ""
        if self.display_name is not None:
            escaped = self.display_name.replace("\\", "\\\\").replace('"', '\\"')
            name = f'"{escaped}" '
        return f"{name}<{self.uri}>{format_params(self.params)}"

    format = __str__


@dataclass
class Via:
    """One Via value: `SIP/2.0/UDP host:port;branch=z9hG4bK...;rport` (RFC 3261 §20.42, RFC 3581)."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    protocol: str = VERSION

    @property
    def branch(self) -> str | None:
        """The branch that names the transaction."""
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        """The address the previous hop saw the request come from."""
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        """The port the previous hop saw (None when absent, or asked for and not yet filled in)."""
        value = self.params.get("rport")
        return int(value) if value is not None and re.fullmatch(r"[0-9]{1,5}", value) else None

    @classmethod
    def parse(cls, text: str) -> Via:
        """One Via value (a Via header may hold several: split with `Headers.get_all`)."""
        match = re.fullmatch(r"\s*([^\s/]+)\s*/\s*([^\s/]+)\s*/\s*([^\s/]+)\s+([^;\s]+)\s*(;.*)?", text, re.S)
        if match is None:
            raise malformed(f"the Via {text[:80]!r} is not 'SIP/2.0/transport host[:port]'")
        name, version, transport, sent_by, params = match.groups()
        if f"{name}/{version}".upper() != VERSION or not TOKEN.fullmatch(transport):
            raise malformed(f"the Via {text[:80]!r} is not for SIP/2.0")
        host, port = _host_port(sent_by)
        return cls(transport.upper(), host, port, parse_params(params or ""))

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {_format_host(self.host, self.port)}{format_params(self.params)}"

    format = __str__


@dataclass(frozen=True)
class CSeq:
    """The command sequence: `314159 INVITE`."""

    number: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        """`1 INVITE` to CSeq(1, "INVITE")."""
        match = re.fullmatch(r"\s*([0-9]{1,10})\s+(\S+)\s*", text)
        if match is None or not TOKEN.fullmatch(match.group(2)):
            raise malformed(f"the CSeq {text[:60]!r} is not 'number METHOD'")
        number = int(match.group(1))
        if number >= 2**31:
            raise malformed(f"the CSeq number {number} is not below 2**31")
        return cls(number, match.group(2))

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


# ---- responses and identifiers -------------------------------------------------------------------------------


def reason_for(status: int) -> str:
    """The usual reason phrase for `status`, or the name of its class."""
    return REASONS.get(status) or CLASS_REASONS.get(status // 100, "Unknown")


def response_to(request: Request, status: int, reason: str | None = None, to_tag: str | None = None,
                headers: Iterable[tuple[str, str]] = ()) -> Response:
    """A response to `request` per RFC 3261 §8.2.6: Via, From, To (tagged), Call-ID and CSeq copied, then `headers`."""
    if not 100 <= status <= 699:
        raise ApplianceError("sip-status-invalid", f"{status} is not a status code from 100 to 699")
    copied = Headers()
    for name, value in request.headers:
        if full_name(name).lower() == "via" or (name.lower() == "timestamp" and status == 100):
            copied.append((name, value))
    for name in ("From", "To", "Call-ID", "CSeq"):
        value = request.get(name)
        if value is None:
            raise ApplianceError("sip-malformed", f"the request has no {name} header to copy")
        if name == "To" and to_tag and NameAddr.parse(value).tag is None:
            value = f"{value};tag={to_tag}"
        copied.append((name, value))
    response = Response(status, reason or reason_for(status), copied)
    for name, value in headers:
        response.add(name, value)
    return response


def new_branch() -> str:
    """A fresh Via branch, unique in space and time, starting with the RFC 3261 magic cookie."""
    return MAGIC_COOKIE + secrets.token_hex(10)


def new_tag() -> str:
    """A fresh From/To tag (64 random bits)."""
    return secrets.token_hex(8)


def new_call_id(host: str) -> str:
    """A fresh Call-ID, `random@host`."""
    return f"{secrets.token_hex(12)}@{host}"

