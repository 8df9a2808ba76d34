"""The README's main command, as a new user runs it: scripts/demo in a clean environment (no PYTHONUNBUFFERED, no
variables of the build machine), serve in its own process, called by the softphone over loopback SIP."""

import os
import socket
import subprocess

from appliance.settings import ROOT

# What a login shell on a fresh Debian machine has; nothing of the machine the tests run on.
CLEAN = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def demo(port: int, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "scripts" / "demo"), *arguments], env={**CLEAN, "DEMO_SIP_PORT": str(port)},
                          cwd="/", capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)


def test_demo_answers_the_refund_question_in_a_clean_environment():
    result = demo(free_udp_port())
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    lines = result.stdout.splitlines()
    ready = [line for line in lines if line.startswith("service: ready: answering on sip://127.0.0.1:")]
    assert ready, result.stdout
    heard = next(line for line in lines if line.startswith("heard back"))
    assert "30" in heard and "day" in heard.lower(), heard  # the refund policy's 30 days, from the knowledge base
    assert any(line.startswith("voice to voice") for line in lines), result.stdout


def test_demo_shows_the_service_log_when_the_service_cannot_start():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        result = demo(taken.getsockname()[1])
    assert result.returncode != 0
    # The service's own words about the port, not only the demo's.
    assert "appliance" in result.stderr and "address already in use" in result.stderr.lower(), result.stderr
