"""scripts/install in a clean Debian 12 root made with debootstrap: units, user, venv, and doctor passing."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from appliance.settings import ROOT

CACHE = ROOT / "var" / "ops"  # the debootstrapped base and the wheels, kept between runs (gitignored)
MIRROR = os.environ.get("APPLIANCE_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def run(*command, **options) -> subprocess.CompletedProcess:
    result = subprocess.run([str(part) for part in command], check=False, capture_output=True, text=True, **options)
    assert result.returncode == 0, f"{command}: {result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def base_tarball() -> Path:
    """A bookworm minbase root as a tarball: made with debootstrap the first time, then reused."""
    tarball = CACHE / "bookworm-minbase.tar"
    if not tarball.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        build = CACHE / "bookworm-build"
        shutil.rmtree(build, ignore_errors=True)
        run(shutil.which("debootstrap"), "--variant=minbase", "bookworm", build, MIRROR, timeout=900)
        run("tar", "-cf", f"{tarball}.partial", "-C", build, ".")
        os.replace(f"{tarball}.partial", tarball)
        shutil.rmtree(build)
    return tarball


def wheels() -> Path:
    """Every wheel the box needs, from this machine's pip (its cache and indexes) and the llama-cpp wheel."""
    key = subprocess.run(["sha256sum", ROOT / "setup.cfg"], capture_output=True, text=True, check=True).stdout[:12]
    folder = CACHE / f"wheels-{key}"
    if not folder.exists():
        partial = CACHE / "wheels.partial"
        shutil.rmtree(partial, ignore_errors=True)
        wheelhouse = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "appliance" / "wheels"
        run(ROOT / ".venv/bin/pip", "wheel", "--quiet", "--wheel-dir", partial, "--find-links", wheelhouse,
            ROOT, "setuptools", "wheel", timeout=900)
        for built in partial.glob("appliance-*.whl"):
            built.unlink()  # the release is installed from its own folder
        os.replace(partial, folder)
    return folder


def copy_linked(source: Path, target: Path) -> None:
    """Hard links where the file system allows (the model files are large), a copy elsewhere."""
    if subprocess.run(["cp", "-al", source, target], capture_output=True).returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        run("cp", "-a", source, target)


@pytest.fixture
def debian(tmp_path):
    root = tmp_path / "debian"
    root.mkdir()
    run("tar", "-xf", base_tarball(), "-C", root)
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    run("mount", "-t", "proc", "proc", root / "proc")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", root / "proc"], check=False)
        assert not os.path.ismount(root / "proc")
        shutil.rmtree(root, ignore_errors=True)


def test_install_in_a_clean_debian_root_gives_units_user_venv_and_a_passing_doctor(debian):
    started = time.monotonic()
    release = debian / "root/release"
    release.mkdir(parents=True)
    tracked = run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).stdout.split("\0")
    files = [name for name in tracked if name and (ROOT / name).exists()]
    archive = subprocess.run(["tar", "-cf", "-", "--null", "-T", "-"], input="\0".join(files).encode(),
                             capture_output=True, cwd=ROOT, check=True).stdout
    subprocess.run(["tar", "-xf", "-", "-C", release], input=archive, check=True)
    copy_linked(wheels(), debian / "root/wheels")
    (debian / "root/models").mkdir()
    for role in (ROOT / "models").iterdir():
        if role.is_dir():
            copy_linked(role, debian / "root/models" / role.name)

    install = ["chroot", debian, "/root/release/scripts/install", "--wheels", "/root/wheels",
               "--models", "/root/models", "--admin", "maria", "--no-start"]
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
    result = run(*install, input="correct horse battery staple\n", env=env, timeout=1200)
    assert "created admin maria" in result.stdout

    etc = debian / "etc/systemd/system"
    for unit in ("appliance.target", "appliance-serve.service", "appliance-worker.service", "appliance-panel.service"):
        assert (etc / unit).is_file()
    assert (etc / "multi-user.target.wants/appliance.target").is_symlink()
    assert (etc / "appliance.target.wants/appliance-serve.service").is_symlink()
    assert (debian / "etc/udev/rules.d/60-appliance-modem.rules").is_file()
    passwd = run("chroot", debian, "getent", "passwd", "appliance", env=env).stdout
    assert "/usr/sbin/nologin" in passwd
    assert os.access(debian / "opt/appliance/current/.venv/bin/appliance", os.X_OK)
    assert (debian / "etc/appliance/appliance.ini").stat().st_mode & 0o007 == 0  # its secrets: not for others

    doctor = run("chroot", debian, "runuser", "-u", "appliance", "--", "/opt/appliance/current/.venv/bin/appliance",
                 "doctor", env=env, timeout=600)
    assert "0 failed" in doctor.stdout, doctor.stdout

    again = run(*install[:-3], "--no-start", env=env, timeout=600)  # safe to run again: nothing reinstalled
    assert "installing release" not in again.stdout + again.stderr
    print(f"install in a debootstrapped root: {time.monotonic() - started:.0f} s")
