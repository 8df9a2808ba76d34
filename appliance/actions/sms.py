"""Text messages out through the GSM modem, which is kept open on a thread of its own.

Holding the port open between sends is what lets the box hear the network's delivery reports and the
texts people send back (STOP) as they arrive. Sends from the queue's tasks are handed to that thread;
a modem that has gone away is opened again at the next send.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import datetime, timezone

from appliance.actions.channels import DeliveryError
from appliance.modem.driver import DeliveryReport, ModemError, SmsReceived, open_serial
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
    """Sends outbox rows of the sms channel through the modem on `[modem] device`."""

    def __init__(self, modem: ModemSettings, on_event=heard):
        self.settings = modem
        self.on_event = on_event
        self._loop: asyncio.AbstractEventLoop | None = None
        self._modem = None
        self._lock = threading.Lock()

    def _thread_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name="modem", daemon=True).start()
            return self._loop

    def _event(self, event) -> None:
        try:
            self.on_event(event)
        except Exception:  # a bad report must not stop the modem being heard
            log.exception("handling %r", event)

    async def _opened(self):
        if self._modem is None:
            modem = open_serial(self.settings.device, self.settings.baudrate, sms_timeout_s=self.settings.timeout_s,
                                on_event=self._event)
            try:
                status = await modem.open()
            except BaseException:
                await modem.close()
                raise
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
            if not status.registered:
                raise DeliveryError(f"no network: the modem is {status.registration} "
                                    f"(signal {status.signal_dbm} dBm)", permanent=False)
            return await modem.send_sms(number, text)
        except ModemError as exc:
            if not exc.permanent:
                await self._drop()  # a timeout or a vanished port: start clean next time
            raise DeliveryError(f"modem: {exc.message}", permanent=exc.permanent) from None

    def listen(self) -> None:
        """Open the modem now, so texts and reports are heard before the first send; a failure is only logged."""
        if not self.settings.device:
            return
        future = asyncio.run_coroutine_threadsafe(self._opened(), self._thread_loop())
        future.add_done_callback(lambda done: done.exception() and log.warning("modem: %s", done.exception()))

    async def send(self, row) -> str:
        """Send one text; returns "sms:" and the parts' message references."""
        if not self.settings.device:
            raise DeliveryError("no modem is configured ([modem] device)", permanent=False)
        future = asyncio.run_coroutine_threadsafe(self._send(row.recipient, row.body), self._thread_loop())
        references = await asyncio.wrap_future(future)
        return "sms:" + ",".join(str(reference) for reference in references)

    def close(self) -> None:
        """Let go of the modem and stop its thread."""
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._drop(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop = None
