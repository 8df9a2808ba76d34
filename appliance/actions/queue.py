"""The action queue: Huey on SQLite says "send outbox row N"; the worker (`appliance worker`) drains it.

The call process and the worker each build the same queue from the settings, so task names match.
A task carries only a row id: the content and the state live in the outbox table (see outbox.py).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from huey import SqliteHuey, crontab

from appliance.actions import outbox
from appliance.actions.channels import DeliveryError, WhatsappGateway
from appliance.actions.email import SmtpEmailer
from appliance.records import open_database
from appliance.records.models import Callback, Lead, Outbox
from appliance.recordings import store as recordings
from appliance.settings import Settings

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def channels_for(settings: Settings) -> dict:
    """The sender for each channel, as the settings configure them."""
    from appliance.actions.sms import ModemTexter
    from appliance.modem.owner import MODEM_SOCKET, holder
    from appliance.modem.report import MODEM_REPORT

    data_dir = settings.paths.data_dir
    if holder(settings) == "serve":  # serve holds the modem's port: texts go through its socket
        texter = ModemTexter(settings.modem, socket_path=data_dir / MODEM_SOCKET)
    else:
        texter = ModemTexter(settings.modem, report_path=data_dir / MODEM_REPORT)
    return {"email": SmtpEmailer(settings.smtp), "sms": texter, "whatsapp": WhatsappGateway(settings.whatsapp)}


async def deliver(row_id: int, channels: dict, settings: Settings, now: datetime) -> float | None:
    """Try to send one outbox row; returns the wait before the next try, or None when there is none to make."""
    row = outbox.claim(row_id, now)
    if row is None:
        return None
    if row.channel == "sms" and Lead.get_or_none((Lead.phone == row.recipient) & (Lead.sms_opt_out == True)):  # noqa: E712
        outbox.fail(row, "the recipient has opted out of SMS (replied STOP)")
        return None
    try:
        reference = await channels[row.channel].send(row)
    except DeliveryError as exc:
        if exc.permanent:
            outbox.fail(row, str(exc))
            return None
        actions = settings.actions
        return outbox.retry_later(row, str(exc), now, actions.retry_first_s, actions.retry_max_s, actions.max_attempts)
    outbox.sent(row, reference, _now())
    return None


STOP_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit"}


def incoming_sms(sender: str, text: str) -> bool:
    """A text to the box's number: STOP (and its usual synonyms) opts the sender out of SMS. Returns whether it did."""
    if text.strip().strip(".!").lower() not in STOP_WORDS:
        log.info("SMS from %s: %r (not an opt-out; kept in the log only)", sender, text[:160])
        return False
    lead, _ = Lead.get_or_create(phone=sender)
    Lead.update(sms_opt_out=True, updated_at=_now().isoformat(timespec="seconds")).where(Lead.id == lead.id).execute()
    log.warning("%s replied %r: opted out of SMS", sender, text.strip())
    return True


def mark_due_callbacks(now: datetime) -> int:
    """Callbacks whose time has come become due: the dial request the telephony side picks up."""
    return Callback.update(state="due").where(
        (Callback.state == "scheduled") & (Callback.at_utc <= now.astimezone(timezone.utc).isoformat())).execute()


@dataclass
class Queue:
    """The Huey instance and its tasks, bound to one data folder, and the channels its tasks send through."""

    huey: SqliteHuey
    wake: object  # wake(row_id, at=None): queue a delivery of that row, now or at a moment
    channels: dict

    def close(self) -> None:
        """Let go of the channels that hold something open (the modem)."""
        for channel in self.channels.values():
            if hasattr(channel, "close"):
                channel.close()

    def drain(self) -> int:
        """Run every task that is ready, in this process, until none is left; returns how many ran."""
        ran = 0
        while True:
            tasks = [task for task in [self.huey.dequeue()] if task] or self.huey.read_schedule()
            if not tasks:
                return ran
            for task in tasks:
                self.huey.execute(task)
                ran += 1


def make_queue(settings: Settings, channels: dict | None = None) -> Queue:
    """The queue in `data_dir/queue.db`, with the tasks that deliver outbox rows and mark callbacks due."""
    data_dir = settings.paths.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    huey = SqliteHuey("appliance", filename=str(data_dir / "queue.db"), results=False, utc=True)
    senders = channels if channels is not None else channels_for(settings)

    @huey.task(name="deliver")
    def deliver_task(row_id: int) -> None:
        wait_s = asyncio.run(deliver(row_id, senders, settings, _now()))
        if wait_s is not None:
            deliver_task.schedule((row_id,), delay=wait_s)

    @huey.periodic_task(crontab(minute="*"), name="sweep")
    def sweep() -> None:
        """Every minute: callbacks that are due, and messages whose wait is over (a lost task loses nothing)."""
        mark_due_callbacks(_now())
        for row in Outbox.select(Outbox.id).where((Outbox.state == "queued")
                                                 & (Outbox.next_attempt_at <= _now().isoformat(timespec="seconds"))):
            deliver_task(row.id)

    @huey.periodic_task(crontab(minute="17"), name="recordings")
    def expire_recordings() -> None:
        """Every hour: call recordings older than [recording] retention_days are deleted (0 keeps them)."""
        recordings.sweep(data_dir, settings.recording.retention_days, _now())

    def wake(row_id: int, at: datetime | None = None) -> None:
        if at is None:
            deliver_task(row_id)
        else:
            deliver_task.schedule((row_id,), eta=at.astimezone(timezone.utc).replace(tzinfo=None))

    return Queue(huey, wake, senders)


def run_worker(settings: Settings, workers: int = 1) -> None:
    """The consumer service: drains the queue until SIGINT or SIGTERM."""
    open_database(settings.paths.data_dir / "appliance.db")
    queue = make_queue(settings)
    # Once, before any worker thread runs: messages caught mid-send by a power cut go back to the queue,
    # and every unfinished one gets a task at its time (a task lost with the old process loses nothing).
    for row_id in outbox.recover():
        queue.wake(row_id, at=outbox.due_at(row_id))
    queue.channels["sms"].listen()  # hear texts and reports from the start (when serve does not hold the modem)
    consumer = queue.huey.create_consumer(workers=workers, periodic=True, check_worker_health=True)
    log.info("worker draining %s", settings.paths.data_dir / "queue.db")
    try:
        consumer.run()
    finally:
        queue.close()
