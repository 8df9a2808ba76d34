"""A call service on a loopback SIP line, in its own thread and event loop, and sipp as the caller."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import threading
from pathlib import Path

import pytest

from appliance import settings as settings_module
from appliance.line.audiosocket import AudioSocketServer
from appliance.line.sip import SipServer
from appliance.service import CallService

from sipp.peer import Callee, Recorder

HERE = Path(__file__).parent


class Running:
    """The service and its SIP line on a loop in a background thread."""

    def __init__(self, settings):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.service = self.call(self._make(settings))
        self.sip = self.call(SipServer("127.0.0.1", 0, on_call=self.service.answer,
                                       rtp_ports=settings.line.rtp_ports).start())
        self.port = self.sip.port
        self.audiosocket = self.call(self._audiosocket(self.service))

    @staticmethod
    async def _audiosocket(service):
        server = AudioSocketServer("127.0.0.1", 0, service.answer)
        await server.start()
        return server

    @staticmethod
    async def _make(settings):
        return await asyncio.to_thread(CallService, settings)

    def call(self, coroutine, timeout: float = 300):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.call(self.sip.close())
        self.call(self.audiosocket.close())
        self.service.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="session")
def sipp() -> str:
    path = shutil.which("sipp")
    assert path, "sipp is missing: scripts/test installs Debian's sip-tester"
    return path


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    base = settings_module.load()
    data = tmp_path_factory.mktemp("service")
    settings = dataclasses.replace(base, paths=dataclasses.replace(base.paths, data_dir=data),
                                   line=dataclasses.replace(base.line, rtp_ports="21000-21999", max_calls=4))
    running = Running(settings)
    yield running
    running.close()


@pytest.fixture
def callee(sipp, tmp_path):
    """Start sipp as a called party: `callee(scenario, calls=1, sets=None, **keys)`; each is stopped afterwards."""
    started: list[Callee] = []

    def start(scenario: str, calls: int = 1, sets: dict | None = None, **keys) -> Callee:
        started.append(Callee(sipp, scenario, tmp_path, calls=calls, sets=sets, **keys))
        return started[-1]

    yield start
    for one in started:
        one.stop()


@pytest.fixture
def recorder():
    """An RTP socket on loopback that keeps what the appliance sends (see Recorder)."""
    listening = Recorder()
    yield listening
    if not listening._stop.is_set():
        listening.stop()
