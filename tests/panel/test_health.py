"""The Health page over HTTP: the doctor's checks with their states, a corrupt model named with its cause, the
outbox's counts from the panel's own database, and whether the call service is connected to the events relay."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import shutil

import pytest

from appliance.doctor import LIBRARIES
from appliance.settings import ROOT


def checks_of(page: str) -> dict[str, tuple[str, str]]:
    """Check name → (state, the rest of its row as text)."""
    found = {}
    for name, row in re.findall(r'<tr data-check="([^"]+)">(.*?)</tr>', page):
        state = re.search(r'class="check-(\w+)"', row).group(1)
        found[name] = (state, re.sub(r"<[^>]+>", " ", row))
    return found


async def test_the_page_lists_the_doctors_checks_with_their_states(admin, panel):
    panel.seed_message(state="queued", key="q1")
    panel.seed_message(state="failed", key="f1")
    page = await (await admin.get("/system")).text()
    assert '<a href="/system" aria-current="page">Health</a>' in page
    checks = checks_of(page)
    expected = {"python", "sqlite-vec", "model vad", "model stt", "model llm", "model embed", "model tts", "disk", "memory",
                "smtp relay", "modem", "outbox", "call service"} | {f"lib {module}" for module, _, _ in LIBRARIES}
    assert expected <= set(checks), expected - set(checks)
    assert checks["python"][0] == "ok" and checks["lib llama_cpp"][0] == "ok"
    assert checks["model llm"][0] == "ok" and "sha256 match" in checks["model llm"][1]
    assert checks["outbox"] == ("warn", checks["outbox"][1]) and "1 waiting, 1 failed" in checks["outbox"][1]
    assert checks["modem"][0] == "warn" and "none configured" in checks["modem"][1]
    assert checks["call service"][0] == "warn" and "has not connected" in checks["call service"][1]
    assert "systemctl start appliance-serve" in checks["call service"][1]


async def test_reloading_reuses_the_models_hashes(admin, panel):
    from appliance.panel.health import DOCTOR

    doctor = admin.server.app[DOCTOR]
    await admin.get("/system")
    first = doctor._models
    await admin.get("/system")
    assert doctor._models is first  # not hashed again within MODELS_CACHE_S
    doctor.clock = lambda: first[0] + 301
    await admin.get("/system")
    assert doctor._models is not first and doctor._models[1] == first[1]


@pytest.fixture
def settings(settings, tmp_path, request):
    if request.node.name == "test_the_modem_is_the_workers_last_report_never_probed":
        return dataclasses.replace(settings, modem=dataclasses.replace(settings.modem, device="/dev/ttyUSB2"))
    if request.node.name != "test_a_corrupt_model_shows_as_failed_with_its_cause":
        return settings
    models_dir = tmp_path / "models"
    shutil.copytree(ROOT / "models" / "silero-vad", models_dir / "silero-vad")
    shutil.copy(ROOT / "models" / "manifest.json", models_dir / "manifest.json")
    onnx = models_dir / "silero-vad" / "silero_vad.onnx"
    onnx.write_bytes(onnx.read_bytes()[:-1] + b"\x00")  # one byte changed: the size is right, the sha256 is not
    return dataclasses.replace(settings, paths=dataclasses.replace(settings.paths, models_dir=models_dir))


async def test_a_corrupt_model_shows_as_failed_with_its_cause(admin, settings):
    checks = checks_of(await (await admin.get("/system")).text())
    state, row = checks["model vad"]
    onnx = settings.paths.models_dir / "silero-vad" / "silero_vad.onnx"
    assert state == "fail" and str(onnx) in row and "corrupt" in row and "sha256" in row
    assert "appliance models install" in row
    assert checks["model llm"][0] == "fail" and "missing" in checks["model llm"][1]


async def test_the_call_service_shows_as_connected_while_its_socket_is_open(admin, settings):
    reader, writer = await asyncio.open_unix_connection(str(settings.paths.data_dir / "events.sock"))
    try:
        writer.write(json.dumps({"kind": "call-started", "call": 7, "at": 0, "data": {"caller": "+1555"}}).encode()
                     + b"\n")
        await writer.drain()
        for _ in range(100):
            state, row = checks_of(await (await admin.get("/system")).text())["call service"]
            if state == "ok":
                break
            await asyncio.sleep(0.05)
        assert state == "ok" and "connected to" in row
    finally:
        writer.close()
        await writer.wait_closed()
    for _ in range(100):
        state, row = checks_of(await (await admin.get("/system")).text())["call service"]
        if state == "warn":
            break
        await asyncio.sleep(0.05)
    assert state == "warn" and "disconnected from" in row


async def test_the_page_needs_a_login(client):
    response = await client.get("/system", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"].startswith("/login")


async def test_each_line_shows_as_the_call_service_last_said(admin, settings):
    from appliance.line.status import listening, registration_answered

    reader, writer = await asyncio.open_unix_connection(str(settings.paths.data_dir / "events.sock"))
    try:
        for status in (listening("audiosocket://0.0.0.0:9092", "waiting for Asterisk on 0.0.0.0:9092"),
                       registration_answered("sip://0.0.0.0:5060", "pbx.example:5060", 403, "Forbidden", None, True)):
            event = {"kind": "line-status", "call": 0, "at": status.at, "data": status.to_dict()}
            writer.write(json.dumps(event).encode() + b"\n")
        await writer.drain()
        for _ in range(100):
            checks = checks_of(await (await admin.get("/system")).text())
            if "line sip://0.0.0.0:5060" in checks:
                break
            await asyncio.sleep(0.05)
        assert checks["line audiosocket://0.0.0.0:9092"][0] == "ok"
        state, row = checks["line sip://0.0.0.0:5060"]
        assert state == "fail" and "pbx.example:5060 answered 403 Forbidden" in row and "sip_password" in row
    finally:
        writer.close()
        await writer.wait_closed()
    for _ in range(100):  # the service went away: what it said last is shown, as old news
        state, row = checks_of(await (await admin.get("/system")).text())["line sip://0.0.0.0:5060"]
        if "no call service connected" in row:
            break
        await asyncio.sleep(0.05)
    assert state == "warn" and "no call service connected; it last said failed" in row


async def test_the_modem_is_the_workers_last_report_never_probed(admin, settings):
    from appliance.modem.report import MODEM_REPORT, ModemReport, write_report

    state, row = checks_of(await (await admin.get("/system")).text())["modem"]
    assert state == "warn" and "no report from the worker yet" in row  # /dev/ttyUSB2 is not opened by the panel
    write_report(settings.paths.data_dir / MODEM_REPORT, ModemReport("/dev/ttyUSB2", "ready", "roaming", -97))
    state, row = checks_of(await (await admin.get("/system")).text())["modem"]
    assert state == "ok" and "SIM ready, network roaming, signal -97 dBm, 1 of 4 bars" in row


async def test_the_call_slots_show_as_the_call_service_last_said_and_on_health(admin, settings):
    """Behind Kamailio an admin sees each box's slots on its Health page, and monitoring on its open /health."""
    from appliance.line.capacity import Capacity

    assert (await (await admin.get("/health")).json())["calls"] is None  # no call service connected
    reader, writer = await asyncio.open_unix_connection(str(settings.paths.data_dir / "events.sock"))
    try:
        for capacity in (Capacity(2, 1), Capacity(0, 1, overflow="reject")):
            writer.write(json.dumps({"kind": "capacity", "call": 0, "data": capacity.to_dict()}).encode() + b"\n")
            await writer.drain()
            for _ in range(100):
                checks = checks_of(await (await admin.get("/system")).text())
                if "call slots" in checks and f"{capacity.in_progress} in progress" in checks["call slots"][1] and (
                        capacity.accepting == ("drained" not in checks["call slots"][1])):
                    break
                await asyncio.sleep(0.05)
            state, row = checks["call slots"]
            report = await (await admin.get("/health")).json()
            if capacity.accepting:
                assert state == "ok" and "1 of 2 free" in row and "OPTIONS answered 200" in row
                assert report["calls"]["free"] == 1 and report["calls"]["accepting"] is True
            else:
                assert state == "warn" and "drained" in row and "OPTIONS answered 503" in row and "max_calls" in row
                assert report["calls"]["accepting"] is False and report["calls"]["why_not"] == "drained"
                assert report["ok"] is True  # a drained box is not a broken one
    finally:
        writer.close()
        await writer.wait_closed()
