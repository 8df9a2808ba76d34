"""Recordings on disk and in the records file: the retention sweep on a controlled clock, and paths kept inside
data_dir/recordings."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from appliance.records import open_database
from appliance.records.models import Call
from appliance.recordings import store
from appliance.recordings.tee import StereoWavWriter

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def records(tmp_path):
    db = open_database(tmp_path / "appliance.db")
    yield db
    db.close()


def recorded_call(data_dir, started: datetime) -> Call:
    """A finished call with a real one-second recording, as the call service leaves it."""
    call = Call.create(caller_id="+15551230001", started_at=started.isoformat(timespec="seconds"))
    relative = store.new_path(call.id, started)
    writer = StereoWavWriter(data_dir / relative)
    for _ in range(50):
        writer.write(np.full(160, 100, np.int16), np.zeros(160, np.int16))
    writer.close()
    store.finish(call.id, relative, writer.seconds)
    return Call.get_by_id(call.id)


def test_the_sweep_deletes_recordings_past_the_retention_days_and_says_so(tmp_path, records):
    old = recorded_call(tmp_path, NOW - timedelta(days=31))
    recent = recorded_call(tmp_path, NOW - timedelta(days=29))
    assert old.recording.startswith("recordings/") and old.recording_s == 1.0
    assert store.sweep(tmp_path, 30, NOW) == 1
    gone, kept = Call.get_by_id(old.id), Call.get_by_id(recent.id)
    assert gone.recording == "" and gone.recording_deleted == "after 30 days" and gone.recording_s == 1.0
    assert not (tmp_path / old.recording).exists()
    assert kept.recording == recent.recording and (tmp_path / recent.recording).is_file()
    assert store.sweep(tmp_path, 30, NOW + timedelta(days=2)) == 1  # a day later, its turn comes
    assert not (tmp_path / recent.recording).exists()
    assert store.sweep(tmp_path, 30, NOW + timedelta(days=2)) == 0


def test_zero_days_keeps_every_recording(tmp_path, records):
    call = recorded_call(tmp_path, NOW - timedelta(days=3000))
    assert store.sweep(tmp_path, 0, NOW) == 0
    assert (tmp_path / call.recording).is_file() and Call.get_by_id(call.id).recording == call.recording


def test_a_file_no_call_names_goes_by_its_age(tmp_path, records):
    named = recorded_call(tmp_path, NOW - timedelta(days=1))
    folder = tmp_path / "recordings"
    orphan, fresh, other = folder / "cut-off.wav", folder / "in-progress.wav", folder / "notes.txt"
    for path in (orphan, fresh, other):
        path.write_bytes(b"RIFF")
    stale = (NOW - timedelta(days=40)).timestamp()
    os.utime(orphan, (stale, stale))
    os.utime(other, (stale, stale))
    os.utime(tmp_path / named.recording, (stale, stale))  # named by a recent call: kept by the call's age
    os.utime(fresh, (NOW.timestamp(), NOW.timestamp()))
    assert store.sweep(tmp_path, 30, NOW) == 1
    assert not orphan.exists() and fresh.exists() and other.exists() and (tmp_path / named.recording).exists()


def test_only_wav_files_inside_the_recordings_folder_are_ever_opened(tmp_path, records):
    call = recorded_call(tmp_path, NOW)
    assert store.file_of(tmp_path, call.recording) == (tmp_path / call.recording).resolve()
    (tmp_path / "secret.wav").write_bytes(b"RIFF")
    (tmp_path / "recordings" / "sub").mkdir()
    (tmp_path / "recordings" / "sub" / "x.wav").write_bytes(b"RIFF")
    os.symlink(tmp_path / "secret.wav", tmp_path / "recordings" / "link.wav")
    for path in ("recordings/../secret.wav", "../secret.wav", str(tmp_path / "secret.wav"), "appliance.db",
                 "recordings/../appliance.db", "recordings/sub/x.wav", "recordings/link.wav", "recordings/none.wav",
                 "recordings", ""):
        assert store.file_of(tmp_path, path) is None, path


def test_a_database_before_recordings_is_upgraded_and_keeps_its_calls_and_turns(tmp_path):
    import peewee
    from playhouse.migrations import Runner

    from appliance.records import MIGRATIONS
    from appliance.records.models import Turn

    path = tmp_path / "old.db"
    old = peewee.SqliteDatabase(str(path), pragmas={"foreign_keys": 1})
    Runner(old, directory=str(MIGRATIONS)).up(target="0005_revoked_sessions")
    old.execute_sql("insert into call (caller_id, started_at, ended_by, summary) values ('+1555', '2025-01-01', '', '')")
    old.execute_sql("insert into turn (call_id, number, kind, heard, spoken, interrupted, latency_ms) "
                    "values (1, 0, 'greeting', '', 'Hello', 0, '{}')")
    old.close()
    db = open_database(path)
    try:
        call = Call.get_by_id(1)
        assert (call.caller_id, call.recording, call.recording_s, call.recording_deleted) == ("+1555", "", None, "")
        assert Turn.select().where(Turn.call == 1).count() == 1
    finally:
        db.close()


def test_the_worker_sweeps_every_hour_with_the_retention_in_the_settings(tmp_path, records):
    import dataclasses

    from appliance.actions.queue import make_queue
    from appliance.settings import Settings

    base = Settings()
    settings = dataclasses.replace(base, paths=dataclasses.replace(base.paths, data_dir=tmp_path),
                                   recording=dataclasses.replace(base.recording, retention_days=30))
    old = recorded_call(tmp_path, datetime.now(timezone.utc) - timedelta(days=31))
    queue = make_queue(settings, channels={})
    task = next(t for t in queue.huey._registry.periodic_tasks if t.name == "recordings")
    hours = [moment for moment in (NOW + timedelta(minutes=m) for m in range(120)) if task.validate_datetime(moment)]
    assert len(hours) == 2 and hours[1] - hours[0] == timedelta(hours=1)
    queue.huey.execute(task)
    assert Call.get_by_id(old.id).recording == "" and not (tmp_path / old.recording).exists()
