"""Settings: one INI file, a frozen dataclass per section, APPLIANCE_<SECTION>_<KEY> overrides."""

from __future__ import annotations

import ast
import configparser
import dataclasses
import inspect
import ipaddress
import json
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from appliance.errors import ApplianceError

ROOT = Path(__file__).resolve().parent.parent
CONFIG_PATHS = (Path("/etc/appliance/appliance.ini"), ROOT / "appliance.ini")
PANEL_FILE = "panel-settings.ini"  # in [paths] data_dir: what admins changed in the panel (see load())


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "appliance"


@dataclass(frozen=True)
class Company:
    """The company whose line this box answers."""

    name: str = "our company"
    """Said in the greeting and used in the prompt. Unset, each of these comes from the knowledge folder's
    company.json ({"name", "timezone", "default_country_code", "currency_words", "phone"}), where there is one."""
    timezone: str = "UTC"
    """IANA zone for the company's dates and times ("tomorrow at 10 AM")."""
    country_code: str = "+1"
    """Prefix that turns a caller's local number into E.164."""
    currency_words: str = ""
    """How amounts are said ("Australian dollars"); empty: from the symbol written before them (₹, $, £, €)."""
    greeting: str = ""
    """What every call hears first; `{company}` is replaced by the name. Empty: "Hello, thank you for calling
    {company}. How can I help you today?"""
    phone: str = ""
    """The company's own number, for people to call back on: said in the message a callback leaves on a voicemail.
    Unset, from company.json's "phone"; empty: the message asks them to call back without saying a number."""


@dataclass(frozen=True)
class Tickets:
    """The tickets a complaint opens."""

    issue_types: str = ("delivery_delay/high: an order or delivery that is late or has not arrived; "
                        "damaged/high: something arrived broken, damaged or faulty; "
                        "wrong_item/normal: the wrong item or quantity was sent; "
                        "billing/normal: a wrong charge, invoice or refund; "
                        "service/normal: unhappy with the service or a visit")
    """name/priority: description; ... A complaint gets the type whose description is closest in meaning."""


@dataclass(frozen=True)
class Handoff:
    """Who a caller is handed to."""

    unanswered_expertise: str = "technical"
    """The agent expertise for a question the knowledge base could not answer."""
    sales_expertise: str = "sales"
    """The agent expertise for everyone else (a caller who asks for a person)."""
    transfer: Literal["warm", "blind"] = "warm"
    """warm: the appliance calls the agent, tells them who is waiting and why, then connects the caller
    through the box (nobody answers: the caller is offered a callback); blind: a SIP REFER to the agent,
    for a PBX that takes one, and the box leaves the call."""


@dataclass(frozen=True)
class Paths:
    """Where the box keeps its files."""

    data_dir: Path = ROOT / "var"
    """Databases, the knowledge index, recordings and reply audio."""
    models_dir: Path = ROOT / "models"
    """The model manifest and the assembled model files."""
    knowledge_dir: Path = ROOT / "knowledge"
    """The company's documents, ingested into the knowledge index."""
    wheelhouse: Path = field(default_factory=lambda: _cache_dir() / "wheels")
    """Pinned model packages (wheels) that `appliance models install` assembles from."""


@dataclass(frozen=True)
class Vad:
    """Voice activity detection, end of turn, and a caller who goes quiet."""

    model: str = "vad"
    """Model role of the Silero VAD network."""
    threshold: float = 0.5
    """Speech probability (0..1) above which a frame counts as voiced."""
    start_ms: int = 60
    """Voiced audio needed before the caller counts as speaking."""
    end_silence_ms: int = 700
    """Silence after speech that ends the caller's turn when the end-of-turn model is off or fails."""
    turn_model: str = "turn"
    """Model role of the end-of-turn model (Smart Turn v3.2), which hears from the caller's words and intonation
    whether they have finished; empty: silence alone ends a turn, after `end_silence_ms`."""
    decide_after_ms: int = 200
    """Pause after which the end-of-turn model is asked whether the caller has finished (again at each later
    pause of the same turn)."""
    complete_at: float = 0.9
    """Probability (0..1) from the end-of-turn model at or above which the turn is finished and ends at once."""
    incomplete_silence_ms: int = 1200
    """Silence that ends a turn the end-of-turn model heard as unfinished (a caller reading out a number, or
    thinking of the next word)."""
    sure_words_at: float = 0.5
    """Speech recognition's confidence (0..1) below which the words heard in a pause are not trusted to show the
    caller has finished: the turn waits for `incomplete_silence_ms`, as one that stops mid-number does."""
    greet_after_ms: int = 800
    """Silence after the call connects before the appliance greets (the moment a line needs to carry audio both
    ways); a caller who speaks first is answered instead."""
    still_there_after_ms: int = 8000
    """Silence after the appliance stopped speaking before it asks, once, "Are you still there?"."""
    quiet_goodbye_after_ms: int = 6000
    """Silence after that question before the appliance says a short goodbye and hangs up; the call is recorded
    as ended by `silence` (the caller went quiet). Anything the caller says or keys before then goes on as usual."""


@dataclass(frozen=True)
class Stt:
    """Speech to text."""

    engine: Literal["whisper", "vosk"] = "whisper"
    """`whisper` (faster-whisper) or `vosk` (any provisioned Vosk model folder)."""
    model: str = "stt"
    """Model role of the speech model."""
    language: str = "en"
    """Language the caller speaks (a Whisper language code)."""
    beam_size: int = 1
    """Whisper beam width; 1 is greedy and fastest."""
    threads: int = 2
    """CPU threads for the speech model."""
    vocabulary: str = ""
    """Words callers use here that the knowledge base does not name, given to Whisper with the company's name and
    the names of its documents and offers (the knowledge base's own headings)."""


@dataclass(frozen=True)
class Llm:
    """The reply model."""

    backend: Literal["llama", "http"] = "llama"
    """`llama` runs a GGUF in this process; `http` asks an OpenAI-compatible server."""
    model: str = "llm"
    """Model role of the GGUF file (`llama` backend)."""
    url: str = "http://127.0.0.1:8080/v1"
    """Base URL of the OpenAI-compatible server (`http` backend)."""
    http_model: str = "default"
    """Model name sent to the server (`http` backend)."""
    threads: int = 2
    """CPU threads for generation."""
    context_tokens: int = 4096
    """Context window; the static prompt, passages and history must fit."""
    max_tokens: int = 512
    """Most tokens in one JSON reply; the schema's bounds fit in 512."""
    temperature: float = 0.1
    """Sampling temperature; low keeps the JSON and intents steady."""
    timeout_s: float = 30.0
    """How long the `http` backend waits for the server."""


@dataclass(frozen=True)
class Tts:
    """Text to speech."""

    model: str = "tts"
    """Model role of the Piper voice."""
    length_scale: float = 1.0
    """Speaking rate: above 1 is slower."""


@dataclass(frozen=True)
class Knowledge:
    """Retrieval over the company's documents."""

    model: str = "embed"
    """Model role of the sentence embedding network."""
    top_k: int = 3
    """Passages given to the reply model."""
    min_score: float = 0.35
    """Cosine similarity (0..1) below which a passage is not used."""
    prompt_chars: int = 10000
    """A knowledge base this small (characters of all passages) goes whole into the warm prompt; 0: never."""
    quote_at: float = 0.5
    """A sentence of the documents this close in meaning (cosine, 0..1) to a question is said as its answer, at
    once and in the documents' own words; a question with none so close goes to the reply model. 1: always the
    model."""


@dataclass(frozen=True)
class Smtp:
    """The mail relay that emails leave through (on the box or in the office)."""

    host: str = "127.0.0.1"
    """Relay host name or address."""
    port: int = 25
    """Relay port: 25 for a local relay, 587 for submission."""
    starttls: bool = False
    """Upgrade the connection with STARTTLS before sending."""
    ca_file: str = ""
    """PEM file of the certificate authority (or the relay's own certificate) to trust; empty: the system's."""
    username: str = ""
    """Login name, when the relay wants one; empty for none."""
    password: str = ""
    """Password for `username`."""
    sender: str = "appliance@localhost"
    """The From address of every email."""
    timeout_s: float = 20.0
    """How long to wait for the relay before trying again later."""


@dataclass(frozen=True)
class Modem:
    """The GSM modem that text messages leave through."""

    device: str = ""
    """Serial device of the modem's AT port, e.g. /dev/ttyUSB2; empty when there is no modem."""
    baudrate: int = 115200
    """Serial speed."""
    timeout_s: float = 60.0
    """How long one command (an SMS send) may take before it is tried again later."""
    owner: Literal["auto", "serve", "worker"] = "auto"
    """Which process holds the modem's port (only one may read it): `serve`, which answers calls on it, or
    `worker`, which only sends texts; auto: serve when `[line] listen` has a modem:// line, else the worker.
    The other one sends its texts through `data_dir/modem.sock`. Restart both services after changing it."""


@dataclass(frozen=True)
class Whatsapp:
    """A WhatsApp gateway on the office network, if there is one."""

    gateway_url: str = ""
    """URL that takes POSTed {"to", "text"} JSON; empty for none (WhatsApp requests then go by SMS)."""
    timeout_s: float = 5.0
    """How long to wait for the gateway."""


@dataclass(frozen=True)
class Actions:
    """The outbox: retries and who may be written to."""

    max_attempts: int = 10
    """Tries before a message that keeps failing for a passing reason is marked failed."""
    retry_first_s: float = 30.0
    """Wait before the second try; each later wait doubles."""
    retry_max_s: float = 3600.0
    """Longest wait between tries."""
    callback_attempts: int = 3
    """How many times a callback is dialled before it is marked failed."""
    callback_voicemail: Literal["done", "retry"] = "done"
    """A callback that reaches a voicemail leaves a message (who calls, why, the company's `phone` to call back on).
    `done`: that is the callback done. `retry`: it is dialled again later, like a callback not answered, until
    `callback_attempts` are spent, hoping for the person; only the first voicemail gets a message."""


@dataclass(frozen=True)
class Privacy:
    """Whose data a caller may hear, and where the box may send things."""

    identify_by: str = "caller_id, detail"
    """What shows that an order is the caller's, comma-separated: `caller_id` (they call from the order's phone
    number), `detail` (calling from another number, they say the phone number on file for the order, which the
    box never says first; a name or an email address is no proof). Either one listed is enough; empty: no
    order's details are given on the phone. Texts and emails about an order go only to its contacts on file."""
    emails_per_call: int = 3
    """Emails one call may have sent to the caller (documents, order details); more are refused politely."""
    emails_per_address_per_day: int = 5
    """Emails to one address in a day (UTC), over all calls, so the box cannot be used to flood a mailbox."""


@dataclass(frozen=True)
class Line:
    """The phone lines `appliance serve` answers."""

    listen: str = "sip://0.0.0.0:5060"
    """Line URIs, comma-separated: `sip://HOST:PORT` (SIP over UDP), `audiosocket://HOST:PORT` (Asterisk),
    `modem://AT_PORT?audio=AUDIO_PORT[&dialect=quectel]` (calls on the GSM modem: SIMCom SIM7600 or Quectel EC25),
    `sound://DEVICE[?board=SERIAL_PORT]` (a sound device: a headset, or with the line board an analog phone line)."""
    callback_via: Literal["auto", "sip", "modem"] = "auto"
    """Which line dials due callbacks: `auto` takes the SIP line if one is open, else the modem line."""
    max_calls: int = 2
    """Calls answered at once; one more hears a short busy message (or is refused: `overflow`). On 2 cores, 2 keep
    answers quick. 0 drains the box for maintenance: no new calls, SIP OPTIONS answered 503."""
    overflow: Literal["message", "reject"] = "message"
    """A call over `max_calls`: `message` answers it with a short busy message (one box on its own); `reject` turns it
    away at once without a word (SIP: unanswered, 486 Busy Here, or 503 when drained; AudioSocket and the modem: hung
    up), so that Kamailio or the PBX in front of several boxes tries the next one (README, Several boxes)."""
    sip_allow: str = "127.0.0.1, ::1"
    """Addresses or networks (CIDR) whose INVITEs are answered; others get 403. The trunk, the PBX, the gateway."""
    sip_user: str = "support"
    """The user part of the appliance's own SIP address (its Contact, and who callbacks come from)."""
    sip_public_host: str = ""
    """The address put in SDP and Contact when it is not the listening one (empty: the listening address,
    or the one the box would use to reach the caller when listening on 0.0.0.0)."""
    sip_trunk: str = ""
    """Where calls the appliance places go (callbacks, warm transfers): `HOST:PORT` of the PBX or trunk. Empty:
    callbacks go to the registrar in registration mode, else to the last trunk that called in only if `sip_allow`
    names its address on its own (not just a network it is in); otherwise they fail until this is set."""
    registrar: str = ""
    """`HOST:PORT` of a PBX to REGISTER with (registration mode); empty: trunk mode, no registration."""
    sip_username: str = ""
    """Username for REGISTER and for digest challenges from the PBX or trunk."""
    sip_password: str = ""
    """Password for digest authentication."""
    register_expires_s: int = 300
    """Registration lifetime asked for; it is refreshed before it runs out."""
    rtp_ports: str = "10000-10999"
    """UDP ports for the calls' audio (RTP), `FIRST-LAST`; open these on the box's firewall."""
    ring_timeout_s: float = 30.0
    """How long a call the appliance places may ring before it counts as not answered."""
    rings: int = 2
    """Rings before a sound:// line's board answers an analog call; 2 lets North American caller ID, sent between
    the first and the second ring, arrive first."""


@dataclass(frozen=True)
class Recording:
    """Call recordings, played back in the panel."""

    mode: Literal["off", "on", "notice"] = "off"
    """off: no audio is kept; on: each call's audio is kept (caller and appliance, a stereo WAV); notice: kept,
    and the caller hears `notice` before the greeting."""
    notice: str = "This call is recorded so that we can check and improve our service."
    """Said first on every call when `mode` is notice."""
    retention_days: int = 30
    """Recordings older than this many days are deleted; 0 keeps them until an admin deletes them."""


@dataclass(frozen=True)
class Panel:
    """The admin panel (`appliance panel`): a web page on the office network."""

    listen: str = "0.0.0.0:8080"
    """`HOST:PORT` the panel serves on; the office network reaches it here."""
    certificate: str = ""
    """PEM certificate (chain) file; with `key` set too, the panel serves HTTPS. Empty: plain HTTP."""
    key: str = ""
    """PEM private key of `certificate`."""
    session_hours: float = 12.0
    """How long a login lasts before the admin signs in again."""
    login_failures: int = 5
    """Sign-in attempts from one address within `login_window_s` (counted before the password is checked, kept
    in the records database across restarts, cleared by a right one) before that address is refused (429)."""
    login_window_s: float = 300.0
    """The window over which wrong passwords are counted."""
    upload_max_mb: float = 10.0
    """The largest document (or scenario file) an admin may upload, in megabytes; a larger one is refused."""


@dataclass(frozen=True)
class Settings:
    """Every section, loaded once."""

    company: Company = field(default_factory=Company)
    paths: Paths = field(default_factory=Paths)
    vad: Vad = field(default_factory=Vad)
    stt: Stt = field(default_factory=Stt)
    llm: Llm = field(default_factory=Llm)
    tts: Tts = field(default_factory=Tts)
    knowledge: Knowledge = field(default_factory=Knowledge)
    smtp: Smtp = field(default_factory=Smtp)
    modem: Modem = field(default_factory=Modem)
    whatsapp: Whatsapp = field(default_factory=Whatsapp)
    actions: Actions = field(default_factory=Actions)
    privacy: Privacy = field(default_factory=Privacy)
    tickets: Tickets = field(default_factory=Tickets)
    handoff: Handoff = field(default_factory=Handoff)
    line: Line = field(default_factory=Line)
    recording: Recording = field(default_factory=Recording)
    panel: Panel = field(default_factory=Panel)


KIND_WORDS = {int: "a whole number (int)", float: "a number (float)"}
RANGES = {
    ("vad", "threshold"): (0.0, 1.0),
    ("vad", "complete_at"): (0.0, 1.0),
    ("vad", "sure_words_at"): (0.0, 1.0),
    ("knowledge", "min_score"): (-1.0, 1.0),
    ("llm", "temperature"): (0.0, 2.0),
}


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"the port {text!r} is not a number from 1 to 65535")
    return int(text)


def _host_port(value: str) -> None:
    """HOST:PORT, [v6]:PORT or a bare host; empty is allowed where the setting is optional."""
    text = value.strip()
    if not text:
        return
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ("" if not rest else None)
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if not host or port is None or any(c.isspace() for c in text):
        raise ValueError("must be HOST:PORT, e.g. 192.168.1.10:5060")
    if port:
        _port(port)


def _zone(value: str) -> None:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(value)
    except (ValueError, OSError, KeyError):
        raise ValueError("must be an IANA time zone, e.g. Europe/London or America/New_York") from None


def _country_code(value: str) -> None:
    if not re.fullmatch(r"\+[1-9][0-9]{0,3}", value.strip()):
        raise ValueError("must be + and 1 to 4 digits, e.g. +44")


def _port_range(value: str) -> None:
    first, _, last = value.strip().partition("-")
    low, high = _port(first.strip()), _port((last or first).strip())
    if low > high:
        raise ValueError("must be FIRST-LAST with FIRST no more than LAST, e.g. 10000-10999")


def _networks(value: str) -> None:
    for item in filter(None, (part.strip() for part in value.split(","))):
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not an address or a network (CIDR, e.g. 192.168.1.0/24)") from None


def _line_uris(value: str) -> None:
    uris = [part.strip() for part in value.split(",") if part.strip()]
    if not uris:
        raise ValueError("must name at least one line, e.g. sip://0.0.0.0:5060")
    for uri in uris:
        scheme, sep, rest = uri.partition("://")
        if sep and scheme in ("modem", "sound"):
            from appliance.line.modem import parse_modem_uri
            from appliance.line.sound import parse_sound_uri

            try:
                (parse_modem_uri if scheme == "modem" else parse_sound_uri)(uri)
            except ApplianceError as exc:
                raise ValueError(exc.message) from None
            continue
        if not sep or scheme not in ("sip", "audiosocket"):
            raise ValueError(f"{uri!r} is not sip://HOST:PORT, audiosocket://HOST:PORT, "
                             f"modem://AT_PORT?audio=AUDIO_PORT or sound://DEVICE")
        _host_port(rest)


def _email(value: str) -> None:
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", value.strip()):
        raise ValueError("must be an email address, e.g. support@example.com")


def _proofs(value: str) -> None:
    unknown = {part.strip() for part in value.split(",") if part.strip()} - {"caller_id", "detail"}
    if unknown:
        raise ValueError(f"{', '.join(sorted(unknown))}: must be caller_id, detail, both (comma-separated) or empty")


# Rules beyond the type, for the settings whose text has a shape: the same for the file, the environment and
# the panel's form. Each raises ValueError saying what the value must be.
SHAPES = {
    ("company", "timezone"): _zone,
    ("company", "country_code"): _country_code,
    ("smtp", "port"): lambda value: _port(str(value)),
    ("smtp", "sender"): _email,
    ("line", "listen"): _line_uris,
    ("line", "sip_allow"): _networks,
    ("line", "sip_trunk"): _host_port,
    ("line", "registrar"): _host_port,
    ("line", "rtp_ports"): _port_range,
    ("panel", "listen"): _host_port,
    ("privacy", "identify_by"): _proofs,
}


def _convert(section: str, key: str, kind, raw: str, where: str):
    name = f"[{section}] {key} ({where})"
    try:
        value = _typed(section, key, kind, raw)
    except ValueError as exc:
        message = str(exc) if str(exc).startswith("must") else f"must be {KIND_WORDS.get(kind, kind.__name__)}"
        raise ApplianceError("settings-invalid", f"{name} = {raw!r}: {message}") from None
    shape = SHAPES.get((section, key))
    try:
        if shape is not None:
            shape(value)
    except ValueError as exc:
        raise ApplianceError("settings-invalid", f"{name} = {raw!r}: {exc}") from None
    return value


def _typed(section: str, key: str, kind, raw: str):
    """`raw` as the setting's type; a ValueError whose message starts "must" says what it must be."""
    if typing.get_origin(kind) is Literal:
        allowed = typing.get_args(kind)
        if raw not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return raw
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ValueError("must be true or false")
        return lowered in ("1", "true", "yes", "on")
    if kind is int:
        value = int(raw)
        if value < 0:
            raise ValueError("must not be negative")
        return value
    if kind is float:
        value = float(raw)
        low, high = RANGES.get((section, key), (0.0, float("inf")))
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value
    if kind is Path:
        return Path(raw).expanduser()
    return raw


def config_path(explicit: str | os.PathLike | None = None) -> Path | None:
    """The INI file in force: the one given, $APPLIANCE_CONFIG, /etc/appliance, or the checkout's."""
    chosen = explicit or os.environ.get("APPLIANCE_CONFIG")
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise ApplianceError("settings-file-missing", f"{path} does not exist")
        return path
    return next((p for p in CONFIG_PATHS if p.is_file()), None)


def _read(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as file:
            parser.read_file(file)
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise ApplianceError("settings-file-invalid", f"{path}: {exc}") from None
    return parser


def from_panel(section: str, key: str) -> bool:
    """Whether an admin may change this setting in the panel: not the box's folders, the models, the panel's
    own address and certificate; the technician's file and the environment keep those."""
    return section not in ("paths", "stt", "llm", "tts", "panel") and not key.endswith("model")


def load(path: str | os.PathLike | None = None, environ: typing.Mapping[str, str] | None = None,
         panel_file: str | os.PathLike | None | bool = None) -> Settings:
    """Settings from the INI file in force, then what admins changed in the panel (`[paths] data_dir /
    panel-settings.ini`, or `panel_file`; False: not read), then environment overrides. Unknown keys are
    errors, and so is a setting in the panel's file that only the technician's file may hold."""
    environ = os.environ if environ is None else environ
    source = config_path(path)
    layers = [(source, _read(source))] if source else []
    sections = _sections(layers, environ)
    if panel_file is not False:
        changed = Path(panel_file) if panel_file else sections["paths"].data_dir / PANEL_FILE
        if changed.is_file():
            parser = _read(changed)
            for section in parser.sections():
                for key, _ in parser.items(section):
                    if not from_panel(section, key):
                        raise ApplianceError("settings-not-from-panel", f"[{section}] {key} in {changed}: only the "
                                             f"settings file ({source or CONFIG_PATHS[0]}) may set it")
            sections = _sections(layers + [(changed, parser)], environ)
    return Settings(**sections)


def _sections(layers: list[tuple[Path, configparser.ConfigParser]], environ) -> dict:
    """Each section's dataclass: the defaults, each file in turn over them, then the environment."""
    known = {top.name for top in dataclasses.fields(Settings)}
    for source, parser in layers:
        for section in parser.sections():
            if section not in known:
                raise ApplianceError("settings-unknown-section",
                                     f"[{section}] in {source} is not a section; known: {', '.join(known)}")
    sections = {}
    for top in dataclasses.fields(Settings):
        cls = top.default_factory
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        values = {}
        for source, parser in layers:
            if parser.has_section(top.name):
                for key, raw in parser.items(top.name):
                    if key not in names:
                        raise ApplianceError("settings-unknown-key", f"[{top.name}] {key} in {source} is not a "
                                                                     f"setting; known: {', '.join(sorted(names))}")
                    values[key] = _convert(top.name, key, hints[key], raw, str(source))
        for key in names:
            variable = env_name(top.name, key)
            if variable in environ:
                values[key] = _convert(top.name, key, hints[key], environ[variable], variable)
        sections[top.name] = cls(**values)
    given = {key for key in COMPANY_FILE_KEYS if env_name("company", key) in environ
             or any(parser.has_option("company", key) for _, parser in layers)}
    sections["company"] = company_from_file(sections["company"], sections["paths"].knowledge_dir, given)
    return sections


def env_name(section: str, key: str) -> str:
    """The environment variable that overrides a setting: APPLIANCE_SMTP_HOST."""
    return f"APPLIANCE_{section}_{key}".upper()


# company.json's keys (the fixtures' company block, FORMAT.md) for each [company] setting.
COMPANY_FILE_KEYS = {"name": "name", "timezone": "timezone", "country_code": "default_country_code",
                     "currency_words": "currency_words", "phone": "phone"}


def company_from_file(company: Company, knowledge_dir: Path, given: set[str] = frozenset()) -> Company:
    """The company settings with what the knowledge folder's company.json says, except the keys `given` elsewhere."""
    path = Path(knowledge_dir) / "company.json"
    if not path.is_file():
        return company
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ApplianceError("settings-company-invalid", f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise ApplianceError("settings-company-invalid", f"{path}: not a JSON object")
    values = {key: str(data[name]) for key, name in COMPANY_FILE_KEYS.items()
              if key not in given and data.get(name) not in (None, "")}
    return dataclasses.replace(company, **values)


def describe() -> list[tuple[str, str, object, str]]:
    """(section, key, default, docstring) for every setting, read from this module's source."""
    rows = []
    for top in dataclasses.fields(Settings):
        cls = top.default_factory
        docs = {}
        body = ast.parse(inspect.getsource(cls)).body[0].body
        for node, after in zip(body, body[1:]):
            if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
                docs[node.target.id] = after.value.value
        default = cls()
        for f in dataclasses.fields(cls):
            rows.append((top.name, f.name, getattr(default, f.name), docs.get(f.name, "")))
    return rows
