"""Fixtures for the modem: the SIM7600 simulator on a real pseudo-terminal, and the driver on it through pyserial."""

from __future__ import annotations

import asyncio

import pytest

from appliance.modem.driver import open_serial
from appliance.modem.simulator import Simulator

WAIT_S = 2.0  # how long a test waits for something that takes milliseconds


@pytest.fixture
async def simulator():
    async with Simulator(signal=18) as running:
        running.report_delay_s = 0.01
        yield running


@pytest.fixture
async def modem(simulator):
    async with open_serial(simulator.path, timeout_s=WAIT_S, sms_timeout_s=WAIT_S) as opened:
        yield opened


@pytest.fixture
def next_event():
    """`await next_event(modem, Kind)`: the next event of that kind, passing over others; fails after WAIT_S."""

    async def wait(modem, kind):
        async def first():
            while not isinstance(event := await modem.events.get(), kind):
                pass
            return event

        return await asyncio.wait_for(first(), WAIT_S)

    return wait
