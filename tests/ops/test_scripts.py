import shutil
import subprocess

import pytest

from appliance.settings import ROOT

SCRIPTS = sorted(p for p in (ROOT / "scripts").iterdir() if p.is_file())
OPS = ["install", "upgrade", "backup", "restore", "health", "test-call", "modem-check", "line-check", "reindex",
       "provision-model", "diagnostics"]


def test_shellcheck_passes_on_every_script():
    files = [str(p) for p in SCRIPTS] + [str(p) for p in (ROOT / "scripts" / "lib").glob("*.bash")]
    result = subprocess.run([shutil.which("shellcheck"), "-x", *files], check=False, capture_output=True, text=True,
                            cwd=ROOT / "scripts")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", OPS)
def test_each_technician_script_is_strict_and_explains_itself(name):
    path = ROOT / "scripts" / name
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    result = subprocess.run([str(path), "--help"], check=False, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("Usage: scripts/" + name), result.stderr


def test_health_documents_its_exit_codes():
    result = subprocess.run([str(ROOT / "scripts" / "health"), "--help"], check=False, capture_output=True, text=True)
    assert "0 OK, 1 WARNING" in result.stdout and "2 CRITICAL" in result.stdout


def test_provision_model_refuses_a_file_that_does_not_match_and_copies_nothing(tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    model = stick / "model.gguf"
    model.write_bytes(b"GGUF" + bytes(1000))
    (stick / "model.gguf.sha256").write_text("0" * 64 + "  model.gguf\n")
    root = tmp_path / "root"
    result = subprocess.run([str(ROOT / "scripts" / "provision-model"), "--root", str(root), str(model)],
                            check=False, capture_output=True, text=True)
    assert result.returncode == 2 and "does not match" in result.stderr
    assert not (root / "var/lib/appliance/models/provisioned/llm/model.gguf").exists()


def test_diagnostics_removes_the_secrets_from_the_settings(tmp_path):
    etc = tmp_path / "root/etc/appliance"
    etc.mkdir(parents=True)
    (etc / "appliance.ini").write_text("[smtp]\nhost = relay.office\npassword = hunter2\n[line]\n"
                                       "sip_password = s3cret\n[panel]\nkey = /etc/appliance/panel.pem\n")
    result = subprocess.run([str(ROOT / "scripts" / "diagnostics"), "--root", str(tmp_path / "root"),
                             "--out", str(tmp_path)], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    archive = result.stdout.strip().splitlines()[-1]
    shutil.unpack_archive(archive, tmp_path / "out")
    ini = (tmp_path / "out/diagnostics/appliance.ini").read_text()
    assert "hunter2" not in ini and "s3cret" not in ini and "relay.office" in ini
    assert "password = ***" in ini and "sip_password = ***" in ini
