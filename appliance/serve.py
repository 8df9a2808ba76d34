"""`appliance serve`: the call service on the phone lines in `[line] listen`, until SIGTERM.

On SIGTERM or SIGINT the lines stop taking calls (OPTIONS and a new INVITE hear 503, a new AudioSocket
connection is closed), the calls in progress finish, and then the process exits; systemd is told READY, STOPPING
and fed its watchdog along the way. That is also how a box behind Kamailio is drained for maintenance: the proxy
sees the 503 and sends the next calls to the other boxes. When `[modem] owner` gives serve the GSM modem, serve
holds its port (modem.owner) from before the lines open until they have closed, and the worker's texts go through it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from typing import TYPE_CHECKING

from appliance.errors import ApplianceError
from appliance.line import status as line_status
from appliance.line.status import LineStatuses
from appliance.notify import keep_watchdog_fed, notify
from appliance.panel.events import publish_to_socket
from appliance.service import CallEvent, CallService
from appliance.settings import Settings
from appliance.sqlite import Error as SqliteError

if TYPE_CHECKING:
    from appliance.modem.owner import ModemOwner

log = logging.getLogger("appliance.serve")
KNOWLEDGE_CHECK_S = 5.0  # how often serve looks for a re-indexed knowledge base
UNWRITTEN_CHECK_S = 10.0  # how often the records of calls a full disk refused are tried again


def parse_line_uri(uri: str) -> tuple[str, str, int]:
    """`sip://0.0.0.0:5060` → ("sip", "0.0.0.0", 5060); the schemes `appliance serve` answers on."""
    scheme, sep, rest = uri.strip().partition("://")
    defaults = {"sip": 5060, "audiosocket": 9092}
    if sep and scheme in ("modem", "sound"):  # their paths are read by line.modem and line.sound
        return scheme, "", 0
    if not sep or scheme not in defaults:
        raise ApplianceError("line-uri-invalid", f"{uri!r}: a line is sip://HOST:PORT, audiosocket://HOST:PORT, "
                                                 f"modem://AT_PORT?audio=AUDIO_PORT or sound://DEVICE")
    from appliance.line.sip import parse_hostport

    try:
        host, port = parse_hostport(rest, defaults[scheme])
    except ValueError:
        raise ApplianceError("line-uri-invalid", f"{uri!r}: the port is not a number") from None
    return scheme, host or "0.0.0.0", port


async def open_modem_line(service: CallService, uri: str, on_call, statuses: LineStatuses):
    """Answer calls on the GSM modem of `uri` (modem://AT_PORT?audio=AUDIO_PORT): through the modem's owner in this
    process when serve holds the modem (texts go out through it too), else by opening the port itself."""
    from appliance.line.modem import HEALTH_FILE, ModemLineServer, parse_modem_uri

    parsed = parse_modem_uri(uri)
    owner = getattr(service, "modem_owner", None)
    health = service.settings.paths.data_dir / HEALTH_FILE
    if owner is None:
        server = ModemLineServer.open(parsed.at_path, parsed.audio_path, on_call, dialect=parsed.dialect, uri=uri,
                                      on_status=statuses.update, health_path=health)
    else:
        server = ModemLineServer(owner.modem, parsed.audio_path, on_call, open_modem=owner.opened,
                                 dialect=parsed.dialect, at_path=parsed.at_path, uri=uri, on_status=statuses.update,
                                 health_path=health)
        owner.on_call_event = server.handle_event
        owner.on_reopened = server.modem_back
    return await server.start()


async def open_sound_line(service: CallService, uri: str, on_call, statuses: LineStatuses):
    """Answer calls on the sound device of `uri` (sound://DEVICE[?board=SERIAL]), its health in data_dir too."""
    from appliance.line.sound import HEALTH_FILE, SoundLineServer, parse_sound_uri

    parsed = parse_sound_uri(uri)
    server = SoundLineServer(parsed.device, on_call, rate_hz=parsed.rate_hz, board_path=parsed.board,
                             rings=service.settings.line.rings, uri=uri, on_status=statuses.update,
                             health_path=service.settings.paths.data_dir / HEALTH_FILE)
    return await server.start()


async def open_lines(service: CallService, uris: list[str], on_call, statuses: LineStatuses | None = None) -> list:
    """Start a SIP, AudioSocket, GSM modem or sound-device line for each URI; each line's health goes to
    `statuses`."""
    statuses = statuses or LineStatuses()
    settings = service.settings.line
    servers = []
    for uri in uris:
        scheme, host, port = parse_line_uri(uri)
        if scheme in ("modem", "sound"):
            opener = open_modem_line if scheme == "modem" else open_sound_line
            server = await opener(service, uri, on_call, statuses)
            servers.append(server)
            log.warning("answering calls on %s", uri)
            continue
        try:
            if scheme == "sip":
                from appliance.line.sip import SipServer

                server = SipServer(host, port, on_call=on_call, user=settings.sip_user, allow=settings.sip_allow,
                                   public_host=settings.sip_public_host, rtp_ports=settings.rtp_ports,
                                   username=settings.sip_username, password=settings.sip_password,
                                   registrar=settings.registrar, register_expires_s=settings.register_expires_s,
                                   on_status=statuses.update, capacity=service.capacity)
                await server.start()
            else:
                from appliance.line.audiosocket import AudioSocketServer

                server = AudioSocketServer(host, port, on_call)
                await server.start()
                statuses.update(line_status.listening(f"audiosocket://{host}:{port}", f"listening on TCP {host}:"
                                                      f"{server.port} for Asterisk's AudioSocket()"))
        except OSError as exc:
            raise ApplianceError("line-listen-failed", f"{uri}: {exc.strerror or exc}") from None
        servers.append(server)
        log.warning("answering calls on %s://%s:%s", scheme, host, server.port)
    return servers


async def hold_modem(settings: Settings, uris: list[str] = ()) -> ModemOwner | None:
    """A started ModemOwner serving `data_dir/modem.sock` when `[modem] owner` gives serve the modem, or a `modem://`
    line is answered here (its AT port is then the modem's); else None (the worker holds it, as `appliance
    worker`)."""
    from appliance.line.modem import parse_modem_uri
    from appliance.modem.owner import MODEM_SOCKET, ModemOwner, holder
    from appliance.modem.report import MODEM_REPORT

    line = next((parse_modem_uri(uri) for uri in uris if uri.strip().startswith("modem://")), None)
    if holder(settings) != "serve" and line is None:
        return None
    modem = dataclasses.replace(settings.modem, device=line.at_path) if line else settings.modem
    data_dir = settings.paths.data_dir
    owner = ModemOwner(modem, report_path=data_dir / MODEM_REPORT, socket_path=data_dir / MODEM_SOCKET,
                       dialect=line.dialect if line else "sim7600")
    try:
        await owner.start()
    except BaseException:
        await owner.close()
        raise
    log.warning("holding the modem %s; the worker's texts come through %s", modem.device or "(none set)",
                owner.socket_path)
    if holder(settings) != "serve":  # only the command line names the modem line: the worker thinks it is its own
        log.error("modem-owner-unclear: %s is answered by serve, but the settings give the modem to the worker; put "
                  "the modem:// line in [line] listen (or set [modem] owner = serve) before starting the worker",
                  line.at_path)
    return owner


def slots(max_calls: int) -> str:
    """What `ready` says about the call slots."""
    if max_calls == 0:
        return "drained: [line] max_calls = 0 takes no calls; OPTIONS are answered 503"
    return f"up to {max_calls} calls at once"


def capacity_event(service: CallService) -> CallEvent:
    """The call slots as a bus event (`capacity`; call 0: it belongs to no call)."""
    return CallEvent("capacity", 0, data=service.capacity().to_dict())


def line_event(status: line_status.LineStatus) -> CallEvent:
    """A line's status as a bus event (`line-status`; call 0: it belongs to no call)."""
    return CallEvent("line-status", 0, at=status.at, data=status.to_dict())


def start_callbacks(service: CallService, servers: list) -> asyncio.Task | None:
    """Dial due callbacks (appliance.callbacks) through the line `[line] callback_via` names: the first SIP line
    (which also places warm transfers), or the GSM modem's (ATD; it carries one call, so it never transfers)."""
    from appliance.callbacks import CallbackDialer
    from appliance.line.sip import SipServer

    via = service.settings.line.callback_via
    sip = next((server for server in servers if isinstance(server, SipServer)), None)
    modem = next((server for server in servers if getattr(server, "dials_numbers", False)), None)
    if sip is not None:
        service.dialer = sip.place_call
    line = sip if via == "sip" else modem if via == "modem" else (sip or modem)
    if line is None:
        return None
    return asyncio.create_task(CallbackDialer(service, line, service.settings).run())


async def take_up_knowledge(service: CallService, every_s: float = KNOWLEDGE_CHECK_S) -> None:
    """Take up a re-indexed knowledge base (the panel's upload, `appliance knowledge ingest`, scripts/reindex)
    without a restart: checked every `every_s`, taken up between calls, so no call in progress has its prompt
    change under it."""
    while True:
        await asyncio.sleep(every_s)
        try:
            if service.active or not await asyncio.to_thread(service.knowledge_changed):
                continue
            passages = await asyncio.to_thread(service.take_up_knowledge)
        except (ApplianceError, *SqliteError) as exc:
            log.error("knowledge-reload-failed: %s", exc)
            continue
        log.warning("knowledge: took up the re-indexed knowledge base (%d passages)", passages)
        service.publish("knowledge-changed", 0, passages=passages)


async def index_knowledge(service: CallService, say) -> None:
    """Bring the index in line with the knowledge folder after serve is ready, so that a large document never
    holds up the lines (nor, under systemd's start timeout, puts serve in a restart loop); taken up at once when
    no call is in progress, else by take_up_knowledge between calls."""
    try:
        report = await asyncio.to_thread(service.index.ingest, service.settings.paths.knowledge_dir)
        if not service.active and await asyncio.to_thread(service.knowledge_changed):
            await asyncio.to_thread(service.take_up_knowledge)
    except (ApplianceError, *SqliteError) as exc:
        log.error("knowledge-index-failed: %s", exc)
        return
    say(f"knowledge: {report}")


async def write_unwritten(service: CallService, every_s: float = UNWRITTEN_CHECK_S) -> None:
    """Write the records of calls a full disk refused, once it has room again."""
    while True:
        await asyncio.sleep(every_s)
        if service.unwritten:
            waiting = await asyncio.to_thread(service.flush_unwritten)
            if not waiting:
                log.warning("records: every call the full disk refused is now written")


async def serve(settings: Settings, uris: list[str], say=print) -> int:
    """Run until a signal; returns the exit status."""
    service = await asyncio.to_thread(CallService, settings, None, None, say, False)
    closed = await asyncio.to_thread(service.close_abandoned_calls)
    if closed:
        log.warning("records: %d call(s) left in progress by a stopped process were closed", closed)
    # Each line's health, as an event on the bus for every change, and all of it again to a panel that connects.
    statuses = LineStatuses(lambda status: service.bus.publish(line_event(status)))
    # The admin panel, a process of its own, follows the calls live through this socket; on connecting it hears how
    # the lines and the call slots stand.
    relay = asyncio.create_task(publish_to_socket(
        service.bus, settings.paths.data_dir / "events.sock",
        current=lambda: [line_event(s) for s in statuses.current()] + [capacity_event(service)]))
    stopping = asyncio.Event()
    calls: set[asyncio.Task] = set()

    def stop() -> None:
        service.stop_taking_calls()  # from now on a new call is refused (503), OPTIONS too
        stopping.set()

    async def on_call(line) -> None:
        task = asyncio.current_task()
        calls.add(task)
        try:
            await service.answer(line)
        finally:
            calls.discard(task)

    # The modem, when serve holds it: texts for the worker, and (once a modem line answers) calls on it.
    service.modem_owner = await hold_modem(settings, uris)
    try:
        servers = await open_lines(service, uris, on_call, statuses)
    except BaseException:
        if service.modem_owner is not None:
            await service.modem_owner.close()
        raise
    dialling = start_callbacks(service, servers)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    watchdog = asyncio.create_task(keep_watchdog_fed())
    knowledge = asyncio.create_task(take_up_knowledge(service))
    writing = asyncio.create_task(write_unwritten(service))
    notify("READY=1", f"STATUS=answering on {', '.join(uris)}")
    service.bus.publish(capacity_event(service))
    say(f"ready: answering on {', '.join(uris)} ({slots(settings.line.max_calls)})")
    indexing = asyncio.create_task(index_knowledge(service, say))
    await stopping.wait()
    notify("STOPPING=1", f"STATUS=finishing {len(calls)} call(s)")
    say(f"stopping: finishing {len(calls)} call(s) in progress")
    if dialling is not None:  # no new callbacks; a callback call in progress finishes like the others
        dialling.cancel()
        await asyncio.gather(dialling, return_exceptions=True)
    for server in servers:  # a line whose calls no caller ends (a sound device with no board) ends them now
        if hasattr(server, "stopping"):
            await server.stopping()
    if calls:
        await asyncio.gather(*calls, return_exceptions=True)
    for server in servers:
        await server.close()
    if service.modem_owner is not None:
        await service.modem_owner.close()
    watchdog.cancel()
    knowledge.cancel()
    writing.cancel()
    indexing.cancel()
    await asyncio.gather(indexing, return_exceptions=True)  # its thread finishes the document it is on
    relay.cancel()
    await asyncio.to_thread(service.close)
    return 0
