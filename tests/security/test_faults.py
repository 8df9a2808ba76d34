"""Issue 17, findings 5 and 8: a full records disk and a large document do not take the box down.

The disk is a real one: a small tmpfs mounted for the test and filled with a file until the kernel says
ENOSPC, so SQLite meets the same "database or disk is full" a box meets when its disk fills.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import os
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import peewee
import pytest

from appliance import settings as settings_module
from appliance.actions.perform import ActionTaker
from appliance.knowledge.index import MAX_PASSAGES, KnowledgeIndex
from appliance.line.scripted import ScriptedLine, Step
from appliance.records import open_database
from appliance.records.models import Call, Callback, CallStats, Outbox, Turn
from appliance.service import CallService

from speech import phone_speech

NOW = datetime(2025, 10, 5, 9, 0, tzinfo=ZoneInfo("Asia/Kolkata"))


@pytest.fixture
def small_disk(tmp_path):
    """A 64 MB file system of its own, unmounted after the test."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill the file system to the last block; returns the filler file (delete it and there is room again)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:  # unbuffered: nothing left to fail at close
        for size in (1 << 20, 4096, 512, 1):
            try:
                while True:
                    out.write(b"\0" * size)
                    os.fsync(out.fileno())
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


def settings_on(disk: Path):
    base = settings_module.load()
    return dataclasses.replace(base, paths=dataclasses.replace(base.paths, data_dir=disk))


def test_a_full_disk_keeps_the_calls_actions_and_writes_them_when_there_is_room(small_disk):
    db = open_database(small_disk / "appliance.db")
    try:
        filler = fill(small_disk)
        with pytest.raises(peewee.OperationalError, match="full"):  # the disk really refuses a write
            for _ in range(200):
                Call.create(caller_id="+15550000000")
        before = Call.select().count()
        taker = ActionTaker("TechCorp", "+15551230000", None, None)  # used to raise: the call was refused
        from appliance.dialogue.policy import CallState
        from appliance.llm.reply import Reply

        state = CallState(caller_id="+15551230000", slots={"callback_time": "2025-10-06T10:00:00+05:30"})
        reply = Reply("Done. Our specialist will call you tomorrow at 10 AM.", "callback_request",
                      {"callback_time": "2025-10-06T10:00:00+05:30"}, actions=("schedule_callback", "send_sms"))
        assert taker.take(reply, state, [], NOW) == reply  # promised, and kept
        taker.end_call([], "caller")
        assert taker.unwritten and not taker.flush()  # still full: nothing is lost, nothing written
        assert Call.select().count() == before
        filler.unlink()  # space returns
        assert taker.flush() and not taker.unwritten
        call = Call.get_by_id(taker.call.id)
        assert call.caller_id == "+15551230000" and call.ended_by == "caller"
        assert Callback.get(Callback.call == call).phone == "+15551230000"
        assert [(row.channel, row.recipient) for row in Outbox.select().where(Outbox.call == call)] == [
            ("sms", "+15551230000")]
        assert CallStats.get(CallStats.call == call).actions == []
    finally:
        db.close()


def test_the_call_service_answers_on_a_full_disk_and_writes_the_call_later(small_disk):
    service = CallService(settings_on(small_disk))
    try:
        filler = fill(small_disk)
        line = ScriptedLine([Step(pcm=phone_speech("What is your refund policy?")), Step(hangup=True)],
                            caller_id="+15550104", reply_gap_ms=2500)
        listener = service.bus.listen()
        records = asyncio.run(asyncio.wait_for(service.answer(line), 180))
        answered = next(r for r in records if r.kind == "caller")
        assert "30" in " ".join(answered.spoken)  # the caller was answered from the knowledge base
        kinds = []
        while not listener.empty():
            event = listener.get_nowait()
            kinds.append((event.kind, event.data.get("code")))
        assert ("stage-failed", "records-disk-full") in kinds and ("call-ended", None) in kinds
        assert service.unwritten and service.flush_unwritten() == 1  # still full
        filler.unlink()
        assert service.flush_unwritten() == 0
        call = Call.get(Call.caller_id == "+15550104")
        assert call.ended_at and Turn.select().where(Turn.call == call).count() == len(records)
    finally:
        service.close()


def test_calls_left_in_progress_by_a_crash_are_closed_on_start(tmp_path):
    db = open_database(tmp_path / "appliance.db")
    try:
        left = Call.create(caller_id="+15550105")  # the process died with this call up
        done = Call.create(caller_id="+15550106", ended_at="2025-10-05T03:00:00+00:00", ended_by="caller")
        service = CallService.__new__(CallService)  # only the records: no engines needed for this
        assert CallService.close_abandoned_calls(service) == 1
        assert Call.get_by_id(left.id).ended_by == "service-restart" and Call.get_by_id(left.id).ended_at
        assert Call.get_by_id(done.id).ended_by == "caller"
    finally:
        db.close()


def test_a_document_too_large_is_refused_with_the_reason_and_the_rest_indexed(tmp_path, embedder):
    folder = tmp_path / "knowledge"
    folder.mkdir()
    (folder / "hours.md").write_text("# Opening hours\n\nWe are open from 9 to 5, Monday to Friday.\n")
    paragraph = "Our warranty covers parts and labour for two years from the day of delivery. "
    (folder / "manual.md").write_text("# Manual\n\n" + "\n\n".join(
        f"## Section {n}\n\n{paragraph * 6}" for n in range(MAX_PASSAGES + 50)))
    with KnowledgeIndex(tmp_path / "knowledge.db", embedder) as index:
        report = index.ingest(folder)
        assert report.added == ["hours.md"]
        [(source, why)] = report.failed
        assert source == "manual.md" and f"the most the index takes from one document is {MAX_PASSAGES}" in why
        assert "split it" in why


def test_serve_is_ready_before_it_indexes_the_knowledge_base(tmp_path):
    """serve says `ready` first and indexes afterwards: a large upload never holds up the lines (under systemd's
    start timeout it used to put serve in a restart loop)."""
    import socket
    import sys

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "APPLIANCE_PATHS_DATA_DIR": str(tmp_path)}
    env.pop("PYTHONUNBUFFERED", None)
    serve = subprocess.Popen([sys.executable, "-m", "appliance", "serve", "--line", f"sip://127.0.0.1:{port}"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        lines = []
        for line in serve.stdout:
            lines.append(line)
            if line.startswith("knowledge"):
                break
        ready = next(n for n, line in enumerate(lines) if line.startswith("ready"))
        assert lines[-1].startswith("knowledge: ") and len(lines) - 1 > ready, lines
    finally:
        serve.terminate()
        serve.wait(timeout=60)
