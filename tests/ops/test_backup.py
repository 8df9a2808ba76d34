import os
import sqlite3
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from appliance.settings import ROOT

# What the call service and the worker do to the records database, as fast as they can: a call, its
# ticket and its queued message in one transaction, then the message marked sent.
WRITER = """
import sys, time, uuid
from pathlib import Path
from appliance.records import open_database
from appliance.records.models import Call, Outbox, Ticket
db = open_database(Path(sys.argv[1]))
n = 0
while True:
    with db.atomic():
        call = Call.create(caller_id="+447700900%03d" % (n % 1000))
        Ticket.create(call=call, phone=call.caller_id, issue_type="damaged", description="call %d" % call.id)
        Outbox.create(key=uuid.uuid4().hex, call=call, channel="sms", recipient=call.caller_id, body="call %d" % call.id)
    Outbox.update(state="sent").where(Outbox.call == call).execute()
    n += 1
    if n == 50:
        Path(sys.argv[2]).touch()
"""


def rows(path: Path) -> tuple[int, int, int]:
    connection = sqlite3.connect(path)
    try:
        return tuple(connection.execute(f"select count(*) from {table}").fetchone()[0]
                     for table in ("call", "ticket", "outbox"))
    finally:
        connection.close()


def test_backup_then_restore_round_trips_the_records_while_they_are_being_written(tmp_path):
    root = tmp_path / "root"
    data = root / "var/lib/appliance"
    (data / "knowledge").mkdir(parents=True)
    (data / "knowledge/faq.md").write_text("# Refunds\nWithin 30 days.\n")
    (root / "etc/appliance").mkdir(parents=True)
    (root / "etc/appliance/appliance.ini").write_text("[smtp]\nhost = relay.office\n")
    (data / "panel-settings.ini").write_text("[smtp]\nport = 587\n")  # what an admin changed in the panel
    (data / "queue.db").touch()
    started = tmp_path / "started"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(data / "appliance.db"), str(started)], env=env)
    try:
        for _ in range(600):
            if started.exists() or writer.poll() is not None:
                break
            time.sleep(0.05)
        assert started.exists(), "the writer did not start"
        result = subprocess.run([str(ROOT / "scripts/backup"), "--root", str(root), "--out", str(tmp_path)],
                                check=False, capture_output=True, text=True, timeout=120)
        assert writer.poll() is None, "the writer stopped during the backup"
        time.sleep(0.3)  # and it goes on writing after it
    finally:
        writer.terminate()
        writer.wait()
    assert result.returncode == 0, result.stderr
    archive = Path(result.stdout.strip().splitlines()[-1])
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        # extractall's filter= is newer than Debian 12's Python (3.11.2): take out the one file read here.
        (tmp_path / "unpacked/db").mkdir(parents=True)
        (tmp_path / "unpacked/db/appliance.db").write_bytes(tar.extractfile("./db/appliance.db").read())
    assert {"./MANIFEST", "./db/appliance.db", "./db/queue.db", "./knowledge/faq.md", "./etc/appliance.ini",
            "./data/panel-settings.ini"} <= set(names)
    backed_up = rows(tmp_path / "unpacked/db/appliance.db")
    live = rows(data / "appliance.db")
    assert backed_up[0] >= 50 and backed_up[0] < live[0]
    assert backed_up[0] == backed_up[1] == backed_up[2]  # a snapshot: no call without its ticket and message

    # Restore into the same box, over the live database and its WAL, with other knowledge and settings.
    (data / "knowledge/faq.md").write_text("changed\n")
    (root / "etc/appliance/appliance.ini").write_text("[smtp]\nhost = elsewhere\n")
    (data / "panel-settings.ini").write_text("[smtp]\nport = 2525\n")
    result = subprocess.run([str(ROOT / "scripts/restore"), "--root", str(root), str(archive)],
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert rows(data / "appliance.db") == backed_up
    connection = sqlite3.connect(data / "appliance.db")
    assert connection.execute("pragma integrity_check").fetchone()[0] == "ok"
    orphans = connection.execute("select count(*) from outbox where call_id not in (select id from call)").fetchone()
    assert orphans[0] == 0
    connection.close()
    assert (data / "knowledge/faq.md").read_text().startswith("# Refunds")
    assert "relay.office" in (root / "etc/appliance/appliance.ini").read_text()
    assert "elsewhere" in (root / "etc/appliance/appliance.ini.before-restore").read_text()
    assert "port = 587" in (data / "panel-settings.ini").read_text()


def test_restore_refuses_a_damaged_archive(tmp_path):
    work = tmp_path / "backup"
    (work / "db").mkdir(parents=True)
    sqlite3.connect(work / "db/appliance.db").execute("create table t(x)").connection.commit()
    (work / "MANIFEST").write_text("0" * 64 + "  ./db/appliance.db\n")
    archive = tmp_path / "bad.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(work, arcname=".")
    result = subprocess.run([str(ROOT / "scripts/restore"), "--root", str(tmp_path / "root"), str(archive)],
                            check=False, capture_output=True, text=True)
    assert result.returncode == 2 and "damaged" in result.stderr
    assert not (tmp_path / "root/var/lib/appliance/appliance.db").exists()
