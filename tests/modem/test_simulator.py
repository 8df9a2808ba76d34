"""The SIM7600 simulator as a technician meets it: raw bytes over its pseudo-terminal, and `python -m` on a shell."""

from __future__ import annotations

import asyncio
import signal
import sys

import pytest

from appliance.modem.driver import SerialPort, SmsReceived, Status, open_serial
from appliance.modem.sim7600 import IMEI

WAIT_S = 2.0


@pytest.fixture
async def terminal(simulator):
    """A raw serial connection to the simulator: `await terminal(b"AT\\r", until=b"OK\\r\\n")` writes, then returns
    what came back up to and including `until`; anything after it is kept for the next call."""
    port = SerialPort(simulator.path)
    received = bytearray()

    async def converse(data: bytes, until: bytes) -> bytes:
        port.write(data)
        while until not in received:
            received.extend(await asyncio.wait_for(port.read(), WAIT_S))
        end = received.index(until) + len(until)
        answer = bytes(received[:end])
        del received[:end]
        return answer

    yield converse
    port.close()


async def configure(terminal, *commands: str) -> None:
    """Send commands one by one, each answered OK."""
    for command in commands:
        await terminal(command.encode() + b"\r", until=b"OK\r\n")


async def test_echo_is_on_until_ate0(terminal):
    assert await terminal(b"AT\r", until=b"OK\r\n") == b"AT\r\r\nOK\r\n"
    assert await terminal(b"ATE0\r", until=b"OK\r\n") == b"ATE0\r\r\nOK\r\n"
    assert await terminal(b"AT+CGSN\r", until=b"OK\r\n") == f"\r\n{IMEI}\r\n\r\nOK\r\n".encode()


@pytest.mark.parametrize("mode, line", [(0, b"ERROR"), (1, b"+CME ERROR: 10"), (2, b"+CME ERROR: SIM not inserted")])
async def test_error_formats_follow_cmee(simulator, terminal, mode, line):
    simulator.sim_present = False
    await configure(terminal, "ATE0", f"AT+CMEE={mode}")
    assert await terminal(b"AT+CPIN?\r", until=line + b"\r\n") == b"\r\n" + line + b"\r\n"


async def test_identity(terminal):
    answer = await terminal(b"ATE0\rATI\r", until=b"+GCAP: +CGSM\r\n\r\nOK\r\n")
    assert b"Manufacturer: SIMCOM INCORPORATED\r\n" in answer and b"Model: SIMCOM_SIM7600G-H\r\n" in answer


async def test_a_text_mode_send_with_prompt_and_ctrl_z(simulator, terminal):
    await configure(terminal, "ATE0", "AT+CMGF=1", "AT+CSMP=49,167,0,0", "AT+CNMI=2,1,0,1,0")
    assert await terminal(b'AT+CMGS="+15551234567"\r', until=b"> ") == b"\r\n> "
    assert await terminal(b"Hello from the shop\x1a", until=b"OK\r\n") == b"\r\n+CMGS: 1\r\n\r\nOK\r\n"
    report = await terminal(b"", until=b",0\r\n")  # CSMP first octet 49 asked for a report; TP-ST 0 is delivered
    assert report.startswith(b'\r\n+CDS: 6,1,"+15551234567",145,"')
    [sent] = simulator.sent
    assert (sent.number, sent.text, sent.report) == ("+15551234567", "Hello from the shop", True)


async def test_esc_cancels_a_send(simulator, terminal):
    await configure(terminal, "ATE0", "AT+CMGF=1")
    await terminal(b'AT+CMGS="+15551234567"\r', until=b"> ")
    assert await terminal(b"never mind\x1b", until=b"OK\r\n") == b"\r\nOK\r\n"
    assert simulator.sent == []


async def test_a_pdu_whose_length_is_wrong_is_refused(simulator, terminal):
    await configure(terminal, "ATE0", "AT+CMEE=1")
    await terminal(b"AT+CMGS=99\r", until=b"> ")
    answer = await terminal(b"0011000B915155214365F70000A70AE8329BFD4697D9EC37\x1a", until=b"\r\n+CMS ERROR: 304\r\n")
    assert answer == b"\r\n+CMS ERROR: 304\r\n"
    assert simulator.sent == []


async def test_text_mode_reads_and_lists_stored_messages(simulator, terminal):
    simulator.deliver_sms("+15557654321", "STOP")
    simulator.deliver_sms("+15550001111", "Call me back")
    await configure(terminal, "ATE0", "AT+CMGF=1")
    answer = await terminal(b"AT+CMGR=1\r", until=b"OK\r\n")
    assert answer.startswith(b'\r\n+CMGR: "REC UNREAD","+15550001111","",')
    assert answer.endswith(b"\r\nCall me back\r\n\r\nOK\r\n")
    listing = await terminal(b'AT+CMGL="ALL"\r', until=b"OK\r\n")
    assert b'+CMGL: 0,"REC UNREAD","+15557654321"' in listing and b'+CMGL: 1,"REC READ","+15550001111"' in listing
    await terminal(b"AT+CMGD=0,4\r", until=b"OK\r\n")
    assert simulator.storage == {}


async def test_creg_urcs_after_creg_1(simulator, terminal):
    await configure(terminal, "ATE0", "AT+CREG=2")
    simulator.set_registration(5)
    assert await terminal(b"", until=b'"\r\n') == b'\r\n+CREG: 5,"00C3","0010F0A2"\r\n'
    assert await terminal(b"AT+CREG?\r", until=b"OK\r\n") == b'\r\n+CREG: 2,5,"00C3","0010F0A2"\r\n\r\nOK\r\n'


async def start_technician_simulator(*options: str, stdin=asyncio.subprocess.PIPE):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "appliance.modem.simulator", *options,
        stdin=stdin, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    path = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
    return process, path


async def stop(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGINT)
    return await asyncio.wait_for(process.wait(), 10)


@pytest.mark.parametrize("options, expected", [
    ((), Status("ready", "home", -73)),
    (("--no-sim", "--unregistered", "--signal", "5"), Status("missing", "searching", -103)),
])
async def test_a_technician_runs_it_from_the_shell(options, expected):
    process, path = await start_technician_simulator(*options, stdin=asyncio.subprocess.DEVNULL)  # as under systemd
    try:
        assert path.startswith("/dev/")
        async with open_serial(path) as modem:
            assert await modem.status() == expected
    finally:
        assert await stop(process) == 0


async def test_a_technician_types_an_incoming_text(next_event):
    process, path = await start_technician_simulator()
    try:
        async with open_serial(path) as modem:
            process.stdin.write(b"sms +15557654321 STOP please\n")
            await process.stdin.drain()
            message = await next_event(modem, SmsReceived)
            assert (message.number, message.text) == ("+15557654321", "STOP please")
    finally:
        assert await stop(process) == 0
