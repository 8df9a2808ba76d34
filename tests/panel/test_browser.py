"""The panel in a real headless Chromium (Debian's chromium and chromium-driver, through selenium): sign in,
watch a call come and go on the live page, retry a failed email; a screenshot of every page is kept."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import threading

import pytest
from aiohttp import web

from appliance.panel.app import make_app
from appliance.records.models import Agent, AuditLog, Callback, Lead, Outbox, Ticket
from appliance.settings import ROOT

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
assert CHROMIUM and DRIVER, "needs Debian's chromium and chromium-driver: scripts/setup --test installs them"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1000")
SHOTS = ROOT / "var" / "panel-screenshots"


class RunningPanel:
    """The panel app served on a loopback port from a thread of its own, as `appliance panel` serves it."""

    def __init__(self, settings):
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(make_app(self.settings))
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = self.runner.addresses[0][1]
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())
        self.loop.close()

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(20)
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(20)


def _event(path, **event) -> None:
    """What the call service writes to the relay socket."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(path))
        sock.sendall(json.dumps(event).encode() + b"\n")


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_sign_in_watch_a_call_live_and_retry_a_failed_email(settings, records, panel, browser):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    call = panel.seed_call(heard="<script>alert(1)</script> What is your refund policy?")
    failed = panel.seed_message(state="failed", recipient="jane@example.com")
    panel.seed_message(state="sent", channel="sms", recipient="+15551230001", key="s1")
    Lead.create(phone="+15551230001", name="<script>alert(1)</script>", quality="hot", interest="Pro plan")
    Callback.create(phone="+15551230001", at="2030-01-01T10:00:00+00:00", at_utc="2030-01-01T10:00:00+00:00",
                    reason="refund status")
    Ticket.create(issue_type="damaged", priority="high", description="the screen arrived cracked")
    Agent.create(name="John", expertise=["technical"], contact="sip:201@pbx.local")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("[0-9][0-9]-*.png"):  # this test's own, from an earlier run; other tests' stay
        old.unlink()
    wait = WebDriverWait(browser, 15)
    shots = []

    def shot(name: str) -> None:
        browser.save_screenshot(str(SHOTS / f"{len(shots) + 1:02d}-{name}.png"))
        shots.append(name)

    with RunningPanel(settings) as running:
        base = f"http://127.0.0.1:{running.port}"
        browser.get(base + "/outbox")
        assert "/login" in browser.current_url
        shot("login")
        browser.find_element(By.NAME, "name").send_keys("alice")
        browser.find_element(By.NAME, "password").send_keys(panel.PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "form.login button").click()
        wait.until(seen.url_to_be(base + "/outbox"))
        browser.get(base + "/")
        wait.until(seen.text_to_be_present_in_element((By.ID, "stream-state"), "live"))
        assert browser.find_element(By.CSS_SELECTOR, '[data-figure="calls"]').text == "1"
        shot("live")

        sock = settings.paths.data_dir / "events.sock"
        _event(sock, kind="call-started", call=41, at=0, data={"caller": "+15557654321", "line": "SipLine"})
        _event(sock, kind="caller-heard", call=41, at=0, data={"text": "<b>Where is my order?</b>"})
        wait.until(seen.text_to_be_present_in_element((By.ID, "live"), "+15557654321"))
        wait.until(seen.text_to_be_present_in_element((By.ID, "live"), "<b>Where is my order?</b>"))
        shot("live-call-in-progress")
        _event(sock, kind="call-ended", call=41, at=0, data={"ended_by": "caller"})
        wait.until(seen.visibility_of_element_located((By.ID, "no-calls")))
        assert "+15557654321" not in browser.find_element(By.ID, "live").text

        for path, name in (("/calls", "calls"), (f"/calls/{call.id}", "call-transcript"), ("/callbacks", "callbacks"),
                           ("/tickets", "tickets"), ("/leads", "leads"), ("/agents", "agents"),
                           ("/settings", "settings"), ("/system", "health")):
            browser.get(base + path)
            wait.until(seen.presence_of_element_located((By.TAG_NAME, "h1")))
            shot(name)
            if name in ("leads", "call-transcript"):  # the script in the lead's name and the heard text: as text
                assert "<script>alert(1)</script>" in browser.find_element(By.TAG_NAME, "main").text
                with pytest.raises(NoAlertPresentException):
                    browser.switch_to.alert.text

        browser.get(base + "/outbox")
        shot("outbox-failed-email")
        browser.find_element(By.CSS_SELECTOR, f'form[action="/outbox/{failed.id}/retry"] button').click()
        wait.until(seen.text_to_be_present_in_element((By.CSS_SELECTOR, f'tr[data-id="{failed.id}"] td.state-queued'),
                                                      "queued"))
        shot("outbox-after-retry")
        assert Outbox.get_by_id(failed.id).state == "queued"
        assert AuditLog.select().where((AuditLog.who == "alice")
                                       & (AuditLog.what == f"retried outbox message {failed.id}")).exists()
        browser.get(base + "/audit")
        shot("audit-log")
    print(f"\npanel screenshots in {SHOTS}: {', '.join(shots)}")
