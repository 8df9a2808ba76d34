"""The numbers the panel shows, read from the records database; `now` is always given."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from peewee import JOIN, fn

from appliance.doctor import MIN_FREE_DISK_GB
from appliance.records.models import Call, CallStats, Escalation, Outbox, database

UNFINISHED = ("queued", "sending")
NOT_RESOLVED = ("silence", "voicemail")  # how a call ended (Call.ended_by) when nobody was helped


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def last_hour(now: datetime) -> dict:
    """Calls, average response time, knowledge use, autonomous resolution, escalations, callers who went quiet
    (asked whether they were still there, then hung up on) and messages sent. A call that ended in silence or on a
    voicemail was not resolved by anyone."""
    since = _stamp(now - timedelta(hours=1))
    calls = Call.select().where(Call.started_at >= since)
    stats = CallStats.select().join(Call).where(Call.started_at >= since)
    helped = stats.count() - stats.where(Call.ended_by.in_(NOT_RESOLVED)).count()
    escalated = stats.where(CallStats.escalated == True).count()  # noqa: E712
    average = (CallStats.select(fn.AVG(CallStats.voice_to_voice_p50_ms)).join(Call)
               .where(Call.started_at >= since).scalar())
    sent = dict(Outbox.select(Outbox.channel, fn.COUNT(Outbox.id)).where(
        (Outbox.state == "sent") & (Outbox.sent_at >= since)).group_by(Outbox.channel).tuples())
    return {"calls": calls.count(),
            "response_ms": round(average) if average is not None else None,
            "knowledge": stats.where(CallStats.used_knowledge == True).count(),  # noqa: E712
            "resolved": helped - escalated,
            "escalations": Escalation.select().where(Escalation.created_at >= since).count(),
            "abandoned": calls.where(Call.ended_by == "silence").count(),
            "sms": sent.get("sms", 0), "emails": sent.get("email", 0), "whatsapp": sent.get("whatsapp", 0)}


def today_by_hour(now: datetime, zone: ZoneInfo) -> dict[str, list]:
    """Today's calls (the company's day) hour by hour, 0 to 23: how many started, their average response time
    (voice to voice, ms; None for an hour with no measured call) and how many went to a person."""
    local = now.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    calls, escalated = [0] * 24, [0] * 24
    responses: list[list[int]] = [[] for _ in range(24)]
    query = (Call.select(Call.started_at, CallStats.voice_to_voice_p50_ms, CallStats.escalated)
             .join(CallStats, JOIN.LEFT_OUTER).where(Call.started_at >= _stamp(midnight)).tuples())
    for started, response_ms, went_to_person in query:
        try:
            hour = datetime.fromisoformat(started).astimezone(zone).hour
        except ValueError:
            continue
        calls[hour] += 1
        escalated[hour] += bool(went_to_person)
        if response_ms is not None:
            responses[hour].append(response_ms)
    return {"calls": calls, "escalations": escalated,
            "response_ms": [round(sum(hour) / len(hour)) if hour else None for hour in responses]}


def queue_depth() -> int:
    """Messages in the outbox that have yet to leave."""
    return Outbox.select().where(Outbox.state.in_(UNFINISHED)).count()


def health(data_dir: Path) -> dict:
    """What a monitoring system polls: the database, the outbox's depth, the free disk in the data folder."""
    try:
        database.execute_sql("select 1").fetchone()
        depth, reachable = queue_depth(), True
    except Exception:  # any failure to read means "not reachable" here; the details are in the log
        depth, reachable = None, False
    try:
        free = shutil.disk_usage(data_dir).free
    except OSError:
        free = None
    disk_ok = free is not None and free >= MIN_FREE_DISK_GB * 1e9
    return {"ok": reachable and disk_ok, "database": reachable, "queue_depth": depth, "disk_free_bytes": free}
