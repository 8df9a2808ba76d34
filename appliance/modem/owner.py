"""The one process that holds the GSM modem's serial port: texts out for everyone, what the modem says unasked heard.

A serial port has one reader, so exactly one process opens the modem: `appliance serve` when it answers calls on
the modem (`[modem] owner`, see `holder`), else the queue worker. The owner keeps the modem open, opens it again
after it vanishes (with backoff), hands incoming texts, STOP replies and delivery reports to the SMS handlers,
call events to whoever answers calls (`on_call_event`), and writes the status report for the panel
(modem.report). Another process sends a text through the owner's socket, `data_dir/modem.sock`, one JSON object
a line each way:

    {"op": "send_sms", "number": "+15551234567", "text": "Hello"}  ->  {"ok": true, "references": [17]}
                                                                   or  {"ok": false, "error": "...", "permanent": false}
    {"op": "status"}  ->  {"ok": true, "open": true, "report": {"device": ..., "sim": ..., ...}}
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import asdict
from pathlib import Path
from typing import Awaitable, Callable, Literal

from appliance.actions.channels import DeliveryError
from appliance.errors import ApplianceError
from appliance.modem.driver import (DeliveryReport, Modem, ModemError, ModemLost, NetworkChanged, SmsReceived, Status,
                                    open_serial)
from appliance.modem.report import REPORT_EVERY_S, ModemReport, write_report
from appliance.settings import Modem as ModemSettings
from appliance.settings import Settings

log = logging.getLogger(__name__)

MODEM_SOCKET = "modem.sock"  # in [paths] data_dir, while serve holds the modem
REOPEN_FIRST_S = 1.0  # the first wait before opening a vanished modem again; each later wait doubles
REOPEN_WAIT_S = 5.0  # how long one try at reopening waits for the port to come back and answer
LINE_MAX = 64 * 1024  # the longest request line the socket takes (a text is at most a few KiB)
GONE = frozenset({"modem-io", "modem-timeout", "modem-gone"})  # errors after which the port is opened again
SMS_EVENTS = (SmsReceived, DeliveryReport, NetworkChanged)  # the rest (IncomingCall, CallEnded, ...) are calls'


def holder(settings: Settings) -> Literal["serve", "worker"]:
    """Which process holds the modem: `[modem] owner`, where auto is serve when `[line] listen` has a modem:// line."""
    if settings.modem.owner != "auto":
        return settings.modem.owner
    lines = [uri.strip() for uri in settings.line.listen.split(",")]
    return "serve" if any(uri.startswith("modem://") for uri in lines) else "worker"


def _sms_handler():
    from appliance.actions.sms import heard

    return heard


class ModemOwner:
    """Holds the modem on `[modem] device` open for this process, on the event loop it is used from.

    `send_sms` sends a text; `modem` is the driver, for the voice line (None until it first opens; a port that
    vanishes is opened again on the same driver with Modem.reopen, so it stays the same object); `on_call_event
    (event)` is given every event that is not about texts (IncomingCall, CallStarted, CallEnded, KeyPressed,
    ModemLost, ...), on the loop, and `on_reopened()` is awaited (as a task of its own) each time a lost port
    answers again (ModemLineServer.modem_back). Texts in, delivery reports and network changes go to `on_event` (default:
    actions.sms.heard) on a thread of their own, in order, so the database never holds up the loop. With
    `socket_path`, `start()` also serves other processes there. Closed, it is not used again.
    """

    def __init__(self, settings: ModemSettings, *, on_event: Callable[[object], None] | None = None,
                 report_path: Path | None = None, socket_path: Path | None = None,
                 report_every_s: float = REPORT_EVERY_S, reopen_first_s: float = REOPEN_FIRST_S,
                 reopen_wait_s: float = REOPEN_WAIT_S, dialect: str = "sim7600"):
        self.settings = settings
        self.dialect = dialect  # sim7600 or quectel: how its calls are answered (driver.DIALECTS)
        self.on_event = on_event or _sms_handler()
        self.on_call_event: Callable[[object], None] | None = None
        self.on_reopened: Callable[[], Awaitable[None]] | None = None
        self.report_path = report_path
        self.socket_path = socket_path
        self.report_every_s = report_every_s
        self.reopen_first_s = reopen_first_s
        self.reopen_wait_s = reopen_wait_s
        self.report: ModemReport | None = None
        self.modem: Modem | None = None
        self.gone = False  # the port failed: `modem` answers nothing until it is opened again
        self._handlers = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modem-events")
        self._opening = asyncio.Lock()  # the watch, a send and the voice line all open the modem: one of them does
        self._lost = asyncio.Event()  # set when the open modem failed: the watch opens it again at once
        self._watching: asyncio.Task | None = None
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.Task] = set()
        self._busy: set[asyncio.Task] = set()  # clients with a request in hand
        self._closing = False
        self._tasks: set[asyncio.Task] = set()  # on_reopened, running

    # Holding the modem

    def _record(self, status: Status | None = None, error: str = "") -> None:
        """Keep what the modem said (or why it could not be asked) in the report file."""
        if status is not None:
            self.report = ModemReport(self.settings.device, status.sim, status.registration, status.signal_dbm)
        else:
            self.report = ModemReport(self.settings.device, error=error)
        if self.report_path is not None:
            try:
                write_report(self.report_path, self.report)
            except OSError as exc:  # the report is for the panel; texts go on without it
                log.warning("modem report %s: %s", self.report_path, exc)

    def _event(self, event) -> None:
        """What the modem says unasked, from the driver: texts' events to `on_event`, the rest (and the network's
        changes) to `on_call_event`."""
        if isinstance(event, SMS_EVENTS):
            if isinstance(event, NetworkChanged) and self.report is not None and not self.report.error:
                self._record(Status(self.report.sim, event.registration, self.report.signal_dbm))
            with suppress(RuntimeError):  # closed: the handlers' thread has stopped
                self._handlers.submit(self._handle, event)
            if not isinstance(event, NetworkChanged):  # the network's state is the voice line's business too
                return
        if isinstance(event, ModemLost):
            log.warning("modem: lost: %s", event.reason)
            self.lose(event.reason)
        if self.on_call_event is not None:
            try:
                self.on_call_event(event)
            except Exception:  # a failing call handler must not stop the modem being heard
                log.exception("modem: handling %r", event)
        elif not isinstance(event, ModemLost):
            log.debug("modem: %s (no calls are answered on the modem in this process)", event)

    def _handle(self, event) -> None:
        try:
            self.on_event(event)
        except Exception:  # a bad report must not stop the modem being heard
            log.exception("handling %r", event)

    async def opened(self) -> Modem:
        """The open modem, opening it now if it is not open or its port was lost (texts and reports stored
        meanwhile are read then); ModemError when it cannot be opened or its SIM is not ready."""
        async with self._opening:
            if self.modem is not None and self.gone:
                status = await self.modem.reopen(timeout_s=self.reopen_wait_s)
                self.gone = False
                self._record(status)
                if not status.sim_ready:
                    await self._drop()
                    raise ModemError("modem-sim", f"the SIM is {status.sim}")
                log.warning("modem %s open again: %s, signal %s dBm", self.settings.device, status.registration,
                            status.signal_dbm)
                if self.on_reopened is not None:
                    task = asyncio.create_task(self.on_reopened())
                    self._tasks.add(task)
                    task.add_done_callback(self._reopened)
            if self.modem is None:
                modem = open_serial(self.settings.device, self.settings.baudrate, sms_timeout_s=self.settings.timeout_s,
                                    on_event=self._event, dialect=self.dialect)
                try:
                    status = await modem.open()
                except BaseException:
                    await modem.close()
                    raise
                self._record(status)
                if not status.sim_ready:
                    await modem.close()
                    raise ModemError("modem-sim", f"the SIM is {status.sim}")
                log.info("modem %s open: %s, signal %s dBm", self.settings.device, status.registration,
                         status.signal_dbm)
                self.modem = modem
            return self.modem

    def _reopened(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("modem: after reopening: %s", task.exception())

    async def _drop(self) -> None:
        modem, self.modem, self.gone = self.modem, None, False
        if modem is not None:
            await modem.close()

    def lose(self, reason: str) -> None:
        """The modem's port failed or the modem stopped answering (`reason`): open it again soon (the watch does,
        then after each failure waits twice as long); until then, sends try it themselves."""
        if self.modem is not None:
            self.gone = True
        self._record(error=reason)
        self._lost.set()

    async def _refresh(self) -> bool:
        """Ask the modem how it is (opening it if it is not open) and report it; a failure is reported too."""
        try:
            self._record(await (await self.opened()).status())
            return True
        except ModemError as exc:
            if exc.code != "modem-sim":  # a SIM that is not ready was reported as it is
                if self.report is None or self.report.error != exc.message:  # once, not every minute
                    log.warning("modem: %s", exc.message)
                self._record(error=exc.message)
            if self.modem is not None:  # it answered once: its port is opened again on the same driver
                self.gone = True
            return False

    async def _watch(self) -> None:
        """Report the modem's status every `report_every_s`; one that cannot be opened is tried again after
        `reopen_first_s`, then twice as long each time, up to `report_every_s`."""
        retry_s = self.reopen_first_s
        while True:
            self._lost.clear()
            if await self._refresh():
                retry_s, wait_s = self.reopen_first_s, self.report_every_s
            else:
                retry_s, wait_s = min(retry_s * 2, self.report_every_s), retry_s
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._lost.wait(), wait_s)

    async def start(self) -> None:
        """Open the modem now (or keep trying), so texts and reports are heard before the first send, report its
        status from then on, and serve `socket_path` (mode 0660) if there is one."""
        if self.settings.device and self._watching is None:
            self._watching = asyncio.create_task(self._watch())
            self._watching.add_done_callback(
                lambda done: not done.cancelled() and done.exception() and log.error("modem: %s", done.exception()))
        if self.socket_path is not None and self._server is None:
            path = Path(self.socket_path)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._server = await asyncio.start_unix_server(self._client, path=str(path), limit=LINE_MAX)
                os.chmod(path, 0o660)
            except OSError as exc:
                raise ApplianceError("modem-socket-failed", f"cannot serve the modem on {path}: "
                                                            f"{exc.strerror or exc}") from None
            log.info("modem: serving texts for other processes on %s", path)

    async def send_sms(self, number: str, text: str) -> list[int]:
        """Send a text; returns its parts' message references. DeliveryError, permanent when sending the same
        again cannot work (a bad number, a rejected message), else temporary (no modem, no network, no answer)."""
        if not self.settings.device:
            raise DeliveryError("no modem is configured ([modem] device)", permanent=False)
        modem = None
        try:
            modem = await self.opened()
            status = await modem.status()
            self._record(status)
            if not status.registered:
                raise DeliveryError(f"no network: the modem is {status.registration} "
                                    f"(signal {status.signal_dbm} dBm)", permanent=False)
            return await modem.send_sms(number, text)
        except ModemError as exc:
            if modem is None and exc.code != "modem-sim":
                self._record(error=exc.message)  # it could not be opened (a SIM that is not ready was reported)
            elif exc.code in GONE:  # gone or hung; a refused text leaves the modem (and a call on it) as it is
                self.lose(exc.message)
            raise DeliveryError(f"modem: {exc.message}", permanent=exc.permanent) from None

    async def close(self) -> None:
        """Stop serving (the requests in hand are answered first), let go of the modem and stop the handlers."""
        self._closing = True
        if self._server is not None:
            self._server.close()
            for client in self._clients - self._busy:  # waiting for a request: nothing is lost
                client.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)
            with suppress(OSError):
                os.unlink(self.socket_path)
            self._server = None
        if self._watching is not None:
            self._watching.cancel()
            await asyncio.gather(self._watching, return_exceptions=True)
            self._watching = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._drop()
        await asyncio.to_thread(self._handlers.shutdown)  # the events already heard are handled

    # The socket

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._clients.add(task)
        try:
            while not self._closing:
                try:
                    line = await reader.readline()
                except ValueError:  # over LINE_MAX
                    writer.write(_line({"ok": False, "error": "the request is too long", "permanent": True}))
                    break
                if not line:
                    break
                self._busy.add(task)
                try:
                    writer.write(_line(await self._answer(line)))
                    await writer.drain()
                finally:
                    self._busy.discard(task)
        except ConnectionError:
            pass
        finally:
            self._clients.discard(task)
            writer.close()

    async def _answer(self, line: bytes) -> dict:
        try:
            request = json.loads(line)
        except ValueError:
            return {"ok": False, "error": "the request is not JSON", "permanent": True}
        op = request.get("op") if isinstance(request, dict) else None
        if op == "status":
            return {"ok": True, "open": self.modem is not None,
                    "report": asdict(self.report) if self.report is not None else None}
        if op != "send_sms":
            return {"ok": False, "error": f"unknown op {op!r}: send_sms or status", "permanent": True}
        number, text = request.get("number"), request.get("text")
        if not isinstance(number, str) or not isinstance(text, str):
            return {"ok": False, "error": "send_sms needs a number and a text, both strings", "permanent": True}
        try:
            return {"ok": True, "references": await self.send_sms(number, text)}
        except DeliveryError as exc:
            return {"ok": False, "error": str(exc), "permanent": exc.permanent}


def _line(message: dict) -> bytes:
    return json.dumps(message).encode() + b"\n"


async def request(path: Path, message: dict, timeout_s: float) -> dict:
    """One request to the modem's owner on its socket at `path`, and its answer. A temporary DeliveryError when
    the owner is not there or does not answer, so a text is tried again later."""
    who = "the call service, which holds the modem,"
    try:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=LINE_MAX)
    except FileNotFoundError:
        raise DeliveryError(f"{who} is not running (no {path})", permanent=False) from None
    except ConnectionRefusedError:
        raise DeliveryError(f"{who} is not running (nothing answers on {path})", permanent=False) from None
    except OSError as exc:
        raise DeliveryError(f"cannot reach the call service, which holds the modem, on {path}: "
                            f"{exc.strerror or exc}", permanent=False) from None
    try:
        writer.write(_line(message))
        answer = await asyncio.wait_for(reader.readline(), timeout_s)
    except asyncio.TimeoutError:
        raise DeliveryError(f"{who} did not answer on {path} within {timeout_s:g} s", permanent=False) from None
    except (OSError, ValueError) as exc:
        raise DeliveryError(f"{who} broke off on {path}: {exc}", permanent=False) from None
    finally:
        writer.close()
    if not answer:
        raise DeliveryError(f"{who} closed {path} before it answered (stopping?)", permanent=False)
    try:
        decoded = json.loads(answer)
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        raise DeliveryError(f"{who} answered on {path} with something that is not a JSON object",
                            permanent=False)
    return decoded
