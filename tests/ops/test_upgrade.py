import subprocess
from pathlib import Path

from appliance.settings import ROOT

UPGRADE = ROOT / "scripts" / "upgrade"


def fake_release(root: Path, name: str, health_exit: int) -> Path:
    """A staged release whose own scripts/health exits with `health_exit`."""
    release = root / "opt/appliance/releases" / name
    (release / "scripts").mkdir(parents=True)
    (release / ".venv/bin").mkdir(parents=True)
    (release / ".venv/bin/appliance").write_text("#!/bin/sh\n")
    (release / ".venv/bin/appliance").chmod(0o755)
    (release / "scripts/health").write_text(f"#!/bin/sh\necho health of {name}\nexit {health_exit}\n")
    (release / "scripts/health").chmod(0o755)
    (release / "models").mkdir()
    (release / "models/manifest.json").write_text(f'{{"release": "{name}"}}\n')
    return release


def box(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    fake_release(root, "0.1.0-old", 0)
    (root / "var/lib/appliance/models").mkdir(parents=True)
    (root / "opt/appliance/current").symlink_to("releases/0.1.0-old")
    return root


def upgrade(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(UPGRADE), "--root", str(root), "--no-restart", *args], check=False, capture_output=True, text=True)


def current(root: Path) -> str:
    return Path(root / "opt/appliance/current").readlink().name


def test_an_upgrade_whose_own_health_check_fails_is_rolled_back(tmp_path):
    root = box(tmp_path)
    fake_release(root, "0.2.0-bad", 2)
    result = upgrade(root, "0.2.0-bad")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "health of 0.2.0-bad" in result.stdout and "rolling back to 0.1.0-old" in result.stderr
    assert current(root) == "0.1.0-old"
    assert '"0.1.0-old"' in (root / "var/lib/appliance/models/manifest.json").read_text()
    assert (root / "opt/appliance/releases/0.2.0-bad").is_dir()  # kept beside the old one, for a look


def test_an_upgrade_that_passes_stays_and_the_old_release_is_kept_for_rollback(tmp_path):
    root = box(tmp_path)
    release = fake_release(root, "0.2.0-good", 1)  # a warning passes
    result = upgrade(root, str(release))
    assert result.returncode == 0, result.stdout + result.stderr
    assert current(root) == "0.2.0-good"
    assert '"0.2.0-good"' in (root / "var/lib/appliance/models/manifest.json").read_text()
    assert Path(root / "opt/appliance/previous").readlink().name == "0.1.0-old"
    result = upgrade(root, "--rollback")
    assert result.returncode == 0 and current(root) == "0.1.0-old", result.stderr


def test_the_health_command_can_be_given(tmp_path):
    root = box(tmp_path)
    fake_release(root, "0.2.0-good", 0)
    result = upgrade(root, "--health-cmd", "echo probing; exit 2", "0.2.0-good")
    assert result.returncode == 1 and "probing" in result.stdout
    assert current(root) == "0.1.0-old"
