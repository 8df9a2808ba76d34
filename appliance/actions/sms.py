"""Text messages out through the GSM modem, and what comes back from it: texts (STOP) and delivery reports.

One process holds the modem's port (`[modem] owner`, see modem.owner). When the worker does, its ModemTexter
keeps the modem open on a thread of its own: holding the port open between sends is what lets the box hear
the network's delivery reports and the texts people send back (STOP) as they arrive, and a modem that has
gone away is opened again. When `appliance serve` holds it (to answer calls on it), the worker never opens
the port: its texts go through serve's socket, and serve hears what comes back with the handlers below.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import datetime, timezone
from pathlib import Path

from appliance.actions.channels import DeliveryError
from appliance.modem.driver import DeliveryReport, SmsReceived
from appliance.modem.owner import ModemOwner, request
from appliance.modem.report import REPORT_EVERY_S
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
    """What the modem says unasked, in whichever process holds it: texts in (STOP opts out) and delivery reports."""
    from appliance.actions.queue import incoming_sms

    if isinstance(event, SmsReceived):
        incoming_sms(event.number, event.text)
    elif isinstance(event, DeliveryReport):
        record_report(event)


ANSWER_MARGIN_S = 120.0  # beyond the parts' sends, what the owner may take: opening the modem, asking its status


class ModemTexter:
    """Sends outbox rows of the sms channel through the modem on `[modem] device`. Without `socket_path` this
    process holds the modem (a ModemOwner on a thread of its own, reporting to `report_path`; none: no report);
    with it, the process that holds the modem (serve) sends them, asked through that socket."""

    def __init__(self, modem: ModemSettings, on_event=heard, report_path: Path | None = None,
                 report_every_s: float = REPORT_EVERY_S, socket_path: Path | None = None):
        self.settings = modem
        self.on_event = on_event
        self.report_path = report_path
        self.report_every_s = report_every_s
        self.socket_path = socket_path
        self.owner: ModemOwner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    @property
    def _modem(self):
        """The open driver while this process holds the modem and it is open, else None."""
        return self.owner.modem if self.owner is not None else None

    def _owner_loop(self) -> asyncio.AbstractEventLoop:
        """The modem's thread and its owner, started on first use."""
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self.owner = ModemOwner(self.settings, on_event=self.on_event, report_path=self.report_path,
                                        report_every_s=self.report_every_s)
                threading.Thread(target=self._loop.run_forever, name="modem", daemon=True).start()
            return self._loop

    def listen(self) -> None:
        """When this process holds the modem: open it now, so texts and reports are heard before the first send,
        and report its status every `report_every_s` from then on; a failure is only logged (and reported)."""
        if not self.settings.device or self.socket_path is not None:
            return
        loop = self._owner_loop()
        asyncio.run_coroutine_threadsafe(self.owner.start(), loop).result(timeout=10)

    async def send(self, row) -> str:
        """Send one text; returns "sms:" and the parts' message references."""
        if not self.settings.device:
            raise DeliveryError("no modem is configured ([modem] device)", permanent=False)
        if self.socket_path is not None:
            references = await self._ask_owner(row.recipient, row.body)
        else:
            loop = self._owner_loop()
            future = asyncio.run_coroutine_threadsafe(self.owner.send_sms(row.recipient, row.body), loop)
            references = await asyncio.wrap_future(future)
        return "sms:" + ",".join(str(reference) for reference in references)

    async def _ask_owner(self, number: str, text: str) -> list[int]:
        """Have the process that holds the modem send the text; its answer as send_sms would give it."""
        parts = len(text) // 67 + 1  # about as many as it takes: 67 characters fill a part of a UCS2 text
        answer = await request(self.socket_path, {"op": "send_sms", "number": number, "text": text},
                               self.settings.timeout_s * parts + ANSWER_MARGIN_S)
        if not answer.get("ok"):
            raise DeliveryError(str(answer.get("error") or "the call service refused the text"),
                                permanent=bool(answer.get("permanent")))
        return [int(reference) for reference in answer.get("references", [])]

    def close(self) -> None:
        """Let go of the modem (when this process holds it) and stop its thread."""
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self.owner.close(), self._loop).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop, self.owner = None, None
