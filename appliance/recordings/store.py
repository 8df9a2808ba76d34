"""Where recordings live (data_dir/recordings), which call each belongs to, and how long they are kept.

The call row says where its recording is, relative to data_dir; a path read back from the row is only ever
opened inside data_dir/recordings. The retention sweep (the worker runs it hourly) deletes the file and
clears the column; a file no row names (a call cut off by a power cut) goes by its age too."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

from appliance.records.models import Call, database

log = logging.getLogger(__name__)

FOLDER = "recordings"


def new_path(call_id: int, now: datetime) -> str:
    """A fresh recording's path, relative to data_dir: recordings/20261203T073329Z-call-12.wav."""
    return f"{FOLDER}/{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}-call-{call_id}.wav"


def file_of(data_dir: Path, relative: str) -> Path | None:
    """The recording at `relative` if it is a WAV file inside data_dir/recordings, else None (a path that would
    lead elsewhere, through `..`, an absolute path or a link, is never followed)."""
    if not relative:
        return None
    folder = (Path(data_dir) / FOLDER).resolve()
    path = (Path(data_dir) / relative).resolve()
    if path.parent != folder or path.suffix != ".wav" or not path.is_file():
        return None
    return path


def finish(call_id: int, relative: str, seconds: float) -> None:
    """The call's recording is complete: its row names it."""
    Call.update(recording=relative, recording_s=round(seconds, 2)).where(Call.id == call_id).execute()


def forget(data_dir: Path, call_id: int, reason: str) -> str | None:
    """Delete a call's recording and say why on its row; returns the path it had, None when there was none.
    Call inside a transaction: a file that cannot be deleted leaves the row as it was."""
    row = Call.get_or_none(Call.id == call_id)
    if row is None or not row.recording:
        return None
    Call.update(recording="", recording_deleted=reason).where(Call.id == call_id).execute()
    path = file_of(data_dir, row.recording)
    if path is not None:
        path.unlink(missing_ok=True)
    return row.recording


def sweep(data_dir: Path, retention_days: int, now: datetime) -> int:
    """Delete the recordings of calls that started more than `retention_days` before `now` (0 keeps them all);
    returns how many files went."""
    if retention_days <= 0:
        return 0
    cutoff = now - timedelta(days=retention_days)
    stamp = cutoff.astimezone(timezone.utc).isoformat(timespec="seconds")
    gone = 0
    old = [row.id for row in Call.select(Call.id).where((Call.recording != "") & (Call.started_at < stamp))]
    for call_id in old:
        with database.atomic():
            if forget(data_dir, call_id, f"after {retention_days} days") is not None:
                gone += 1
    folder = Path(data_dir) / FOLDER
    named = {row.recording for row in Call.select(Call.recording).where(Call.recording != "")}
    for path in sorted(folder.glob("*.wav")) if folder.is_dir() else []:
        if f"{FOLDER}/{path.name}" not in named and path.stat().st_mtime < cutoff.timestamp():
            path.unlink(missing_ok=True)
            gone += 1
    if gone:
        log.info("recordings: %d older than %d days deleted", gone, retention_days)
    return gone
