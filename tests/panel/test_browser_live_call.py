"""The live page in a real headless Chromium while a real call goes on: `appliance serve` on a loopback SIP line in
a process of its own (as systemd runs it), the softphone calling it, and the panel showing the call arrive, what
the appliance still needs from the caller, and the call end; then a failed email retried from the outbox reaches
a real SMTP server on loopback. Screenshots go beside test_browser's."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from panel.test_browser import SHOTS, RunningPanel, browser  # noqa: F401 (browser is a fixture)

from appliance.actions.queue import make_queue
from appliance.actions.relay import LoopbackRelay
from appliance.records.models import Call, Outbox, Turn

WAIT_S = 600  # a busy box is slow, never wrong: wait for what the page shows
CALLER_SAYS = "Could you call me back, please?"


@pytest.fixture
def relay():
    running = LoopbackRelay().start()
    yield running
    running.stop()


@pytest.fixture
def settings(settings, relay):
    return dataclasses.replace(settings, smtp=dataclasses.replace(settings.smtp, host="127.0.0.1", port=relay.port,
                                                                  starttls=False))


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Serve:
    """`appliance serve --line sip://127.0.0.1:PORT` with the test's data folder, until it says it is ready."""

    def __init__(self, data_dir):
        self.port = free_udp_port()
        environ = dict(os.environ, APPLIANCE_PATHS_DATA_DIR=str(data_dir), APPLIANCE_COMPANY_TIMEZONE="UTC",
                       APPLIANCE_COMPANY_NAME="TechCorp")
        self.process = subprocess.Popen([sys.executable, "-m", "appliance", "serve", "--line",
                                         f"sip://127.0.0.1:{self.port}"], env=environ, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.output: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            if line.startswith("ready"):
                self.ready.set()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + WAIT_S
        while not self.ready.wait(1):
            assert self.process.poll() is None, "serve stopped:\n" + "".join(self.output[-40:])
            assert time.monotonic() < deadline, "serve did not get ready:\n" + "".join(self.output[-40:])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def test_a_real_call_appears_live_with_what_is_missing_and_ends_and_a_retried_email_is_delivered(
        settings, records, panel, browser, relay):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    SHOTS.mkdir(parents=True, exist_ok=True)
    wait = WebDriverWait(browser, WAIT_S, poll_frequency=0.1)
    with RunningPanel(settings) as running:  # the panel first: it owns the events socket serve connects to
        serve = Serve(settings.paths.data_dir)
        try:
            base = f"http://127.0.0.1:{running.port}"
            browser.get(base + "/")
            browser.find_element(By.NAME, "name").send_keys("alice")
            browser.find_element(By.NAME, "password").send_keys(panel.PASSWORD)
            browser.find_element(By.CSS_SELECTOR, "form.login button").click()
            wait.until(seen.text_to_be_present_in_element((By.ID, "stream-state"), "live"))
            assert browser.find_element(By.CSS_SELECTOR, '[data-figure="calls"]').text == "0"
            serve.wait_ready()

            phone = subprocess.Popen([sys.executable, "-m", "appliance", "call", f"sip:support@127.0.0.1:{serve.port}",
                                      "--say", CALLER_SAYS], text=True, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
            wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, "#live tbody tr")))
            assert not browser.find_element(By.ID, "no-calls").is_displayed()
            # The caller asked for a callback without saying when: the reply asks, and the page shows it missing.
            wait.until(seen.text_to_be_present_in_element((By.CSS_SELECTOR, "#live tbody tr"), "callback_time"))
            row = browser.find_element(By.CSS_SELECTOR, "#live tbody tr").text
            browser.save_screenshot(str(SHOTS / "live-real-call.png"))
            said, _ = phone.communicate(timeout=WAIT_S)
            assert phone.returncode == 0, said
            wait.until(seen.visibility_of_element_located((By.ID, "no-calls")))
            wait.until(seen.text_to_be_present_in_element((By.CSS_SELECTOR, '[data-figure="calls"]'), "1"))

            call = Call.select().order_by(Call.id.desc()).get()
            assert call.ended_at and (call.caller_id or "withheld") in row
            heard = " ".join(turn.heard for turn in Turn.select().where(Turn.call == call, Turn.kind == "caller"))
            assert "call me" in heard.lower(), heard  # the caller's words, recorded (one word of it Whisper may miss)
            assert "callback" in row  # the intent, beside what is missing

            failed = panel.seed_message(state="failed", recipient="jane@example.com", key="after-call")
            browser.get(base + "/outbox")
            browser.find_element(By.CSS_SELECTOR, f'form[action="/outbox/{failed.id}/retry"] button').click()
            wait.until(seen.text_to_be_present_in_element(
                (By.CSS_SELECTOR, f'tr[data-id="{failed.id}"] td.state-queued'), "queued"))
            worker = make_queue(settings)  # the worker, as `appliance worker` runs it, with the relay in place
            try:
                worker.drain()
            finally:
                worker.close()
            assert Outbox.get_by_id(failed.id).state == "sent"
            assert [message.recipients for message in relay.received] == [["jane@example.com"]]
            browser.refresh()
            wait.until(seen.text_to_be_present_in_element((By.CSS_SELECTOR, f'tr[data-id="{failed.id}"]'), "sent"))
            browser.save_screenshot(str(SHOTS / "outbox-retried-and-sent.png"))
        finally:
            serve.stop()
    print(f"\nscreenshots in {SHOTS}: live-real-call, outbox-retried-and-sent")
