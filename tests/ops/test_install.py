"""scripts/install in a clean Debian 12 root made with debootstrap: units, user, venv, and doctor passing."""

import os
import shutil
import socket
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


ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def debian(tmp_path_factory):
    root = tmp_path_factory.mktemp("ops") / "debian"
    root.mkdir()
    run("tar", "-xf", base_tarball(), "-C", root)
    shutil.copy("/etc/resolv.conf", root / "etc/resolv.conf")
    run("mount", "-t", "proc", "proc", root / "proc")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", root / "proc"], check=False, capture_output=True)  # unmounted by the boot test
        assert not os.path.ismount(root / "proc")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def installed(debian):
    """The root with scripts/install run in it (a chroot), as from a USB stick: this checkout, wheels, models."""
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
    result = run(*install, input=PASSWORD + "\n", env=ENV, timeout=1200)
    print(f"install in a debootstrapped root: {time.monotonic() - started:.0f} s")
    return debian, install, result


def test_install_in_a_clean_debian_root_gives_units_user_venv_and_a_passing_doctor(installed):
    debian, install, result = installed
    env = ENV
    assert "created admin maria" in result.stdout

    etc = debian / "etc/systemd/system"
    for unit in ("appliance.target", "appliance-serve.service", "appliance-worker.service", "appliance-panel.service"):
        assert (etc / unit).is_file()
    assert (etc / "multi-user.target.wants/appliance.target").is_symlink()
    assert (etc / "appliance.target.wants/appliance-serve.service").is_symlink()
    assert (debian / "etc/udev/rules.d/60-appliance-modem.rules").is_file()
    assert (debian / "etc/udev/rules.d/61-appliance-line-board.rules").is_file()
    passwd = run("chroot", debian, "getent", "passwd", "appliance", env=env).stdout
    assert "/usr/sbin/nologin" in passwd
    assert os.access(debian / "opt/appliance/current/.venv/bin/appliance", os.X_OK)
    assert (debian / "etc/appliance/appliance.ini").stat().st_mode & 0o007 == 0  # its secrets: not for others

    doctor = run("chroot", debian, "runuser", "-u", "appliance", "--", "/opt/appliance/current/.venv/bin/appliance",
                 "doctor", env=env, timeout=600)
    assert "0 failed" in doctor.stdout, doctor.stdout

    again = run(*install[:-3], "--no-start", env=env, timeout=600)  # safe to run again: nothing reinstalled
    assert "installing release" not in again.stdout + again.stderr


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Booted:
    """The installed root booted with systemd-nspawn: its own systemd as PID 1, the host's network."""

    def __init__(self, root: Path, log: Path):
        assert shutil.which("systemd-nspawn"), "needs systemd-nspawn: scripts/setup --test installs systemd-container"
        self.log = log.open("w")
        self.machine = subprocess.Popen(["systemd-nspawn", "--quiet", "--directory", root, "--boot", "--register=no",
                                         "--keep-unit", "--console=pipe"], stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        self.log_path = log
        self.pid = self._init_pid()

    def _init_pid(self) -> int:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.machine.poll() is None, "systemd-nspawn stopped:\n" + self.log_path.read_text()[-3000:]
            children = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(self.machine.pid)],
                                      capture_output=True, text=True).stdout.split()
            for pid, comm in zip(children[::2], children[1::2]):
                if comm == "systemd":
                    return int(pid)
            time.sleep(0.2)
        raise AssertionError("no systemd came up in the container:\n" + self.log_path.read_text()[-3000:])

    def inside(self, *command, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        """Run `command` in the container's namespaces, as root there."""
        result = subprocess.run(["nsenter", "--target", str(self.pid), "--all", "--", *map(str, command)],
                                capture_output=True, text=True, timeout=timeout, check=False,
                                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
        if check:
            assert result.returncode == 0, f"{command}: {result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    def running(self) -> str:
        """Wait for the boot to finish; its state (running, or degraded and why)."""
        deadline = time.monotonic() + 600
        while True:  # until systemd's own socket is up, systemctl cannot ask
            waited = self.inside("systemctl", "is-system-running", "--wait", check=False, timeout=600)
            if waited.stdout.strip() or time.monotonic() > deadline:
                return (waited.stdout + waited.stderr).strip()
            time.sleep(0.5)

    def show(self, unit: str, prop: str) -> str:
        return self.inside("systemctl", "show", "--value", "-p", prop, unit).stdout.strip()

    def close(self) -> None:
        if self.machine.poll() is None:
            self.inside("systemctl", "poweroff", check=False, timeout=30)
            try:
                self.machine.wait(120)
            except subprocess.TimeoutExpired:
                self.machine.kill()
                self.machine.wait()
        self.log.close()


def test_the_installed_box_boots_runs_its_services_hardened_answers_a_call_and_stops_in_order(installed, tmp_path):
    """The units under a real systemd: serve says READY and feeds the watchdog, worker and panel run, the panel's
    /health answers, a test call is answered, and a stop lets the call service finish before the worker stops."""
    import json
    import urllib.request

    debian = installed[0]
    sip, panel = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)  # the container shares our network
    with (debian / "etc/appliance/appliance.ini").open("a") as ini:
        ini.write(f"\n[line]\nlisten = sip://127.0.0.1:{sip}\n\n[panel]\nlisten = 127.0.0.1:{panel}\n")
    run("umount", debian / "proc")  # the container mounts its own

    booted = Booted(debian, tmp_path / "console.log")
    try:
        state = booted.running()
        units = ("appliance-serve.service", "appliance-worker.service", "appliance-panel.service")
        active = booted.inside("systemctl", "is-active", *units, check=False).stdout.split()
        assert active == ["active"] * 3, (state, active, booted.inside("systemctl", "--failed", check=False).stdout,
                                          booted.inside("journalctl", "-b", "-u", "appliance-*", "--no-pager",
                                                        check=False).stdout[-6000:])
        assert booted.show("appliance-doctor.service", "Result") == "success"
        assert int(booted.show("appliance-serve.service", "WatchdogTimestampMonotonic") or 0) > 0  # fed: WATCHDOG=1
        assert booted.show("appliance-serve.service", "User") == "appliance"
        assert booted.show("appliance-serve.service", "StatusText").startswith("answering on sip://127.0.0.1:")

        with urllib.request.urlopen(f"http://127.0.0.1:{panel}/health", timeout=30) as response:
            assert response.status == 200 and json.loads(response.read())["database"] is True

        call = booted.inside("/opt/appliance/current/scripts/test-call", f"sip:support@127.0.0.1:{sip}")
        assert "refund" in call.stdout.lower(), call.stdout
        journal = booted.inside("journalctl", "-b", "-u", "appliance-serve", "-o", "cat", "--no-pager").stdout
        assert "call-started" in journal and "call-ended" in journal

        booted.inside("systemctl", "stop", "appliance.target", timeout=900)  # returns with the target down...
        deadline = time.monotonic() + 900
        while booted.inside("systemctl", "is-active", *units, check=False).stdout.split() != ["inactive"] * 3:
            assert time.monotonic() < deadline, "the services did not stop"  # ...and its services follow
            time.sleep(0.5)
        serve_stopped = int(booted.show("appliance-serve.service", "InactiveEnterTimestampMonotonic"))
        worker_stopping = int(booted.show("appliance-worker.service", "ActiveExitTimestampMonotonic"))
        assert 0 < serve_stopped <= worker_stopping, (serve_stopped, worker_stopping)  # calls first, then the worker
    finally:
        booted.close()
