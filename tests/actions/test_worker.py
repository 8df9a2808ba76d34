"""The worker service as a real process: killed with SIGKILL in the middle of a send, restarted, nothing lost or doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from appliance.actions import outbox
from appliance.actions.outbox import Message
from appliance.actions.queue import make_queue
from appliance.records.models import Outbox


def _worker(settings) -> subprocess.Popen:
    env = {**os.environ, "APPLIANCE_PATHS_DATA_DIR": str(settings.paths.data_dir),
           "APPLIANCE_SMTP_PORT": str(settings.smtp.port), "APPLIANCE_ACTIONS_RETRY_FIRST_S": "0.2"}
    return subprocess.Popen([sys.executable, "-m", "appliance", "worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_sigkill_mid_send_loses_and_doubles_nothing(settings, records, relay):
    queue = make_queue(settings)
    for n in range(10):
        row, _ = outbox.put(Message(f"kill-{n}", "email", "user@example.com", f"message {n}", subject=f"no. {n}"))
        queue.wake(row.id)
    worker = _worker(settings)
    seen = []

    def kill_on_the_fourth(address: str) -> None:
        seen.append(address)
        if len(seen) == 4:
            os.kill(worker.pid, signal.SIGKILL)  # the relay has the envelope; the message's DATA never comes

    relay.handler.on_rcpt = kill_on_the_fourth
    try:
        assert worker.wait(timeout=60) == -signal.SIGKILL
        assert len(relay.received) == 3
        assert Outbox.select().where(Outbox.state == "sending").count() == 1  # caught mid-send
        relay.handler.on_rcpt = None
        worker = _worker(settings)
        assert _wait(lambda: Outbox.select().where(Outbox.state == "sent").count() == 10, 60), \
            worker.stderr.read1().decode() if worker.poll() is not None else "worker still sending"
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(timeout=30)
    subjects = sorted(mail.subject for mail in relay.received)
    assert subjects == sorted(f"no. {n}" for n in range(10))  # every message once, none twice
    assert {mail.message_id for mail in relay.received} == {row.reference for row in Outbox.select()}


def test_sigkill_while_the_modem_is_sending_loses_and_doubles_no_text(settings, records):
    from appliance.modem.simulator import SimulatorThread

    modem = SimulatorThread()
    queue = make_queue(settings)
    for n in range(5):
        row, _ = outbox.put(Message(f"text-{n}", "sms", "+919876543210", f"text no. {n}"))
        queue.wake(row.id)
    modem.do("ignore_next", "+CMGS")  # the first send hangs in the modem, as a modem losing its network can
    worker = subprocess.Popen([sys.executable, "-m", "appliance", "worker"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE,
                              env={**os.environ, "APPLIANCE_PATHS_DATA_DIR": str(settings.paths.data_dir),
                                   "APPLIANCE_MODEM_DEVICE": modem.path, "APPLIANCE_MODEM_TIMEOUT_S": "60"})
    try:
        assert _wait(lambda: Outbox.select().where(Outbox.state == "sending").count() == 1, 30)
        time.sleep(0.3)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        assert modem.sent == []
        worker = subprocess.Popen([sys.executable, "-m", "appliance", "worker"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE,
                                  env={**os.environ, "APPLIANCE_PATHS_DATA_DIR": str(settings.paths.data_dir),
                                       "APPLIANCE_MODEM_DEVICE": modem.path, "APPLIANCE_ACTIONS_RETRY_FIRST_S": "0.2"})
        assert _wait(lambda: Outbox.select().where(Outbox.state == "sent").count() == 5, 60)
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(timeout=30)
        modem.close()
    assert sorted(sent.text for sent in modem.sent) == [f"text no. {n}" for n in range(5)]
