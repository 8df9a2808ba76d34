import re
import shutil
import subprocess

from appliance.settings import ROOT

UNITS = sorted((ROOT / "systemd").glob("*.service")) + sorted((ROOT / "systemd").glob("*.target"))


def test_systemd_analyze_verify_accepts_every_unit(tmp_path):
    # verify wants ExecStart's program to exist; a stub stands in for the release's venv.
    stub = tmp_path / "appliance"
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    for unit in UNITS:
        text = unit.read_text().replace("/opt/appliance/current/.venv/bin/appliance", str(stub))
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run([shutil.which("systemd-analyze"), "verify", *(str(tmp_path / u.name) for u in UNITS)],
                            check=False, capture_output=True, text=True)
    ours = [line for line in result.stderr.splitlines() if "appliance" in line]
    assert result.returncode == 0 and not ours, result.stderr


def test_services_are_hardened_and_run_as_the_appliance_user():
    for unit in UNITS:
        if unit.suffix != ".service":
            continue
        text = unit.read_text()
        for setting in ("User=appliance", "ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes",
                        "ReadWritePaths=/var/lib/appliance"):
            assert setting in text, f"{unit.name} lacks {setting}"
        if "Restart=" in text:
            assert "Restart=on-failure" in text, unit.name


def test_every_setting_that_is_not_a_default_has_a_comment_above_it():
    plain = {"Description", "Type", "ExecStart", "WorkingDirectory", "WantedBy", "Wants", "After", "User", "Group",
             "RestartSec", "NotifyAccess", "ReadWritePaths", "PrivateTmp", "NoNewPrivileges", "ProtectHome",
             "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups", "RestrictAddressFamilies",
             "RestrictSUIDSGID", "LockPersonality", "DeviceAllow", "Environment"}
    for unit in UNITS:
        block_commented = False
        for line in unit.read_text().splitlines():
            if line.startswith("#"):
                block_commented = True
            elif not line.strip() or line.startswith("["):
                block_commented = False
            else:
                key = line.split("=", 1)[0]
                assert key in plain or block_commented, f"{unit.name}: {line} has no comment"


def test_the_worker_stops_after_the_call_service_and_lets_the_send_in_hand_finish():
    # systemd stops in the reverse of start order: the unit that is After= the other stops before it.
    worker = (ROOT / "systemd" / "appliance-worker.service").read_text()
    serve = (ROOT / "systemd" / "appliance-serve.service").read_text()
    assert re.search(r"^After=.*appliance-worker\.service", serve, re.MULTILINE)
    assert not re.search(r"^(After|Before)=.*appliance-serve\.service", worker, re.MULTILINE)
    assert "KillSignal=SIGINT" in worker
    assert "Type=notify" in serve and "WatchdogSec=" in serve and "TimeoutStopSec=600" in serve
    target = (ROOT / "systemd" / "appliance.target").read_text()
    for name in ("appliance-serve", "appliance-worker", "appliance-panel"):
        assert f"{name}.service" in target


def test_the_udev_rule_names_the_modem_ports():
    rules = (ROOT / "systemd" / "60-appliance-modem.rules").read_text()
    assert 'SYMLINK+="appliance-modem-at"' in rules and 'GROUP="dialout"' in rules


def test_the_udev_rule_names_the_line_board():
    rules = (ROOT / "systemd" / "61-appliance-line-board.rules").read_text()
    assert 'ATTRS{idVendor}=="2e8a"' in rules and 'SYMLINK+="appliance-line-board"' in rules and 'GROUP="dialout"' in rules
