"""`appliance panel add-admin` as a technician runs it, the password piped in on standard input."""

from __future__ import annotations

import os
import subprocess
import sys

from appliance.panel.app import parse_listen
from appliance.panel.auth import check_login
from appliance.records import open_database
from appliance.records.models import AuditLog


def _add_admin(tmp_path, name: str, stdin: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, APPLIANCE_PATHS_DATA_DIR=str(tmp_path))
    return subprocess.run([sys.executable, "-m", "appliance", "panel", "add-admin", name], input=stdin,
                          capture_output=True, text=True, env=env, timeout=60)


def test_add_admin_reads_the_password_from_stdin_and_stores_only_its_hash(tmp_path):
    result = _add_admin(tmp_path, "bob", "tr0ub4dor&3\n")
    assert result.returncode == 0 and "created admin bob" in result.stdout, result.stderr
    again = _add_admin(tmp_path, "bob", "new one\n")
    assert again.returncode == 0 and "set a new password for admin bob" in again.stdout
    db = open_database(tmp_path / "appliance.db")
    try:
        assert check_login("bob", "new one") and not check_login("bob", "tr0ub4dor&3")
        row = db.execute_sql("select password_hash from admin where name = 'bob'").fetchone()[0]
        assert row.startswith("scrypt$") and "new one" not in row
        assert AuditLog.select().where(AuditLog.what == "created admin bob").exists()
    finally:
        db.close()


def test_add_admin_refuses_an_empty_password(tmp_path):
    result = _add_admin(tmp_path, "carol", "\n")
    assert result.returncode == 2 and "panel-password-empty" in result.stderr


def test_listen_is_host_and_port():
    assert parse_listen("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert parse_listen("[::]:8443") == ("::", 8443)
