"""Text messages out through the GSM modem, which is kept open on a thread of its own.

Holding the port open between sends is what lets the box hear the network's delivery reports and the
texts people send back (STOP) as they arrive. Sends from the queue's tasks are handed to that thread;
a modem that has gone away is opened again at the next send. Since no other process may use the port, what
the modem says of its SIM, network and signal is written to a report file for the panel (modem.report).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import datetime, timezone
from pathlib import Path

from appliance.actions.channels import DeliveryError
from appliance.modem.driver import DeliveryReport, ModemError, NetworkChanged, SmsReceived, Status, open_serial
from appliance.modem.report import REPORT_EVERY_S, ModemReport, write_report
from appliance.records.models import Outbox
from appliance.settings import Modem as ModemSettings

log = logging.getLogger(__name__)


def record_report(report: DeliveryReport) -> None:
    """A delivery report: the text it belongs to is delivered once every part is, failed if any part failed."""
    # References wrap at 256, so the newest text that used this one is the one reported on.
    for row in Outbox.select().where((Outbox.channel == "sms") & (Outbox.state == "sent")
                                     & Outbox.reference.startswith("sms:")
                                     & Outbox.reference.contains(str(report.reference))).order_by(Outbox.id.desc()):
        parts = row.reference.removeprefix("sms:").split(",")
        if str(report.reference) not in parts:
            continue
        if report.state == "pending":
            return
        done = set(row.delivery.removeprefix("delivered:").split(",")) - {""} if row.delivery.startswith(
            "delivered:") else set()
        if report.state == "failed":
            delivery = "failed"
        else:
            done.add(str(report.reference))
            delivery = "delivered" if done >= set(parts) else "delivered:" + ",".join(sorted(done))
        Outbox.update(delivery=delivery, delivered_at=datetime.now(timezone.utc).isoformat(timespec="seconds")).where(
            Outbox.id == row.id).execute()
        log.info("sms %s to %s: %s", row.id, row.recipient, delivery)
        return


def heard(event) -> None:
    """What the modem says unasked: texts in (STOP opts out) and delivery reports."""
    from appliance.actions.queue import incoming_sms

    if isinstance(event, SmsReceived):
        incoming_sms(event.number, event.text)
    elif isinstance(event, DeliveryReport):
        record_report(event)


class ModemTexter:
    """Sends outbox rows of the sms channel through the modem on `[modem] device`; what the modem says of its SIM,
    network and signal goes to the report at `report_path` (none: not written)."""

    def __init__(self, modem: ModemSettings, on_event=heard, report_path: Path | None = None,
                 report_every_s: float = REPORT_EVERY_S):
        self.settings = modem
        self.on_event = on_event
        self.report_path = report_path
        self.report_every_s = report_every_s
        self.report: ModemReport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._modem = None
        self._lock = threading.Lock()
        self._watching: asyncio.Future | None = None
        self._opening: asyncio.Lock | None = None  # the watch and a send both open the modem: one of them does

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

    def _thread_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._opening = asyncio.Lock()  # one per loop: a lock is bound to the loop it is first used on
                threading.Thread(target=self._loop.run_forever, name="modem", daemon=True).start()
            return self._loop

    def _event(self, event) -> None:
        if isinstance(event, NetworkChanged) and self.report is not None and not self.report.error:
            self._record(Status(self.report.sim, event.registration, self.report.signal_dbm))
        try:
            self.on_event(event)
        except Exception:  # a bad report must not stop the modem being heard
            log.exception("handling %r", event)

    async def _opened(self):
        async with self._opening:
            return await self._open_once()

    async def _open_once(self):
        if self._modem is None:
            modem = open_serial(self.settings.device, self.settings.baudrate, sms_timeout_s=self.settings.timeout_s,
                                on_event=self._event)
            try:
                status = await modem.open()
            except BaseException:
                await modem.close()
                raise
            self._record(status)
            if not status.sim_ready:
                await modem.close()
                raise ModemError("modem-sim", f"the SIM is {status.sim}")
            log.info("modem %s open: %s, signal %s dBm", self.settings.device, status.registration, status.signal_dbm)
            self._modem = modem
        return self._modem

    async def _drop(self) -> None:
        modem, self._modem = self._modem, None
        if modem is not None:
            await modem.close()

    async def _send(self, number: str, text: str) -> list[int]:
        try:
            modem = await self._opened()
            status = await modem.status()
            self._record(status)
            if not status.registered:
                raise DeliveryError(f"no network: the modem is {status.registration} "
                                    f"(signal {status.signal_dbm} dBm)", permanent=False)
            return await modem.send_sms(number, text)
        except ModemError as exc:
            if not exc.permanent:
                await self._drop()  # a timeout or a vanished port: start clean next time
                if exc.code != "modem-sim":  # a SIM that is not ready was reported as it is
                    self._record(error=exc.message)
            raise DeliveryError(f"modem: {exc.message}", permanent=exc.permanent) from None

    async def _refresh(self) -> None:
        """Ask the modem how it is (opening it if it is not open) and report it; a failure is reported too."""
        try:
            self._record(await (await self._opened()).status())
        except ModemError as exc:
            if exc.code != "modem-sim":
                if self.report is None or self.report.error != exc.message:  # once, not every minute
                    log.warning("modem: %s", exc.message)
                self._record(error=exc.message)
            await self._drop()

    async def _watch(self) -> None:
        """Report the modem's status every `report_every_s`, between sends (the modem takes one command at a time)."""
        while True:
            await self._refresh()
            await asyncio.sleep(self.report_every_s)

    def listen(self) -> None:
        """Open the modem now, so texts and reports are heard before the first send, and report its status every
        `report_every_s` from then on; a failure is only logged (and reported)."""
        if not self.settings.device or self._watching is not None:
            return
        self._watching = asyncio.run_coroutine_threadsafe(self._watch(), self._thread_loop())
        self._watching.add_done_callback(
            lambda done: not done.cancelled() and done.exception() and log.warning("modem: %s", done.exception()))

    async def send(self, row) -> str:
        """Send one text; returns "sms:" and the parts' message references."""
        if not self.settings.device:
            raise DeliveryError("no modem is configured ([modem] device)", permanent=False)
        future = asyncio.run_coroutine_threadsafe(self._send(row.recipient, row.body), self._thread_loop())
        references = await asyncio.wrap_future(future)
        return "sms:" + ",".join(str(reference) for reference in references)

    def close(self) -> None:
        """Let go of the modem and stop its thread."""
        if self._watching is not None:
            self._watching.cancel()
            self._watching = None
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._drop(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop = None
