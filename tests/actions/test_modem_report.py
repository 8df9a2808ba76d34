"""The modem's status as the worker reports it for the panel and `doctor`'s no-probe check: the worker holds the
serial port, so the panel only ever reads the report the worker writes."""

from __future__ import annotations

import dataclasses
import time

import pytest
from actions.test_sms import _until

from appliance.actions.queue import make_queue
from appliance.doctor import check_modem_report
from appliance.modem.report import MODEM_REPORT, STALE_S, ModemReport, read_report, signal_bars, write_report
from appliance.modem.simulator import SimulatorThread
from appliance.settings import Modem


@pytest.fixture
def modem():
    running = SimulatorThread(signal=18)  # +CSQ 18: -113 + 2 * 18 = -77 dBm
    yield running
    running.close()


def test_the_worker_reports_sim_network_and_signal_and_a_network_change(settings, records, modem):
    with_modem = dataclasses.replace(settings, modem=dataclasses.replace(settings.modem, device=modem.path,
                                                                         timeout_s=3.0))
    path = settings.paths.data_dir / MODEM_REPORT
    queue = make_queue(with_modem)
    try:
        queue.channels["sms"].listen()
        assert _until(lambda: read_report(path) is not None)
        report = read_report(path)
        assert (report.device, report.sim, report.registration, report.signal_dbm) == (modem.path, "ready", "home", -77)
        check = check_modem_report(with_modem.modem, path, time.time())
        assert check.state == "ok" and "SIM ready, network home, signal -77 dBm, 3 of 4 bars" in check.detail

        modem.do("set_registration", 3)  # the network refuses the SIM: +CREG: 3 arrives unasked
        assert _until(lambda: read_report(path).registration == "denied")
        check = check_modem_report(with_modem.modem, path, time.time())
        assert check.state == "warn" and "network denied" in check.detail and check.fix
    finally:
        queue.close()


def test_a_modem_that_cannot_be_opened_is_reported_with_the_cause(settings, records, tmp_path):
    gone = dataclasses.replace(settings, modem=dataclasses.replace(settings.modem, device=str(tmp_path / "ttyGONE")))
    path = settings.paths.data_dir / MODEM_REPORT
    queue = make_queue(gone)
    try:
        queue.channels["sms"].listen()
        assert _until(lambda: read_report(path) is not None)
        check = check_modem_report(gone.modem, path, time.time())
        assert check.state == "warn" and "ttyGONE" in check.detail and "cannot open" in check.detail
    finally:
        queue.close()


def test_no_report_an_old_one_or_another_devices_says_so(tmp_path):
    modem = Modem(device="/dev/ttyUSB2")
    path = tmp_path / MODEM_REPORT
    assert "no report from the worker yet" in check_modem_report(modem, path, time.time()).detail

    write_report(path, ModemReport("/dev/ttyUSB2", "ready", "home", -60, at=1000.0))
    assert check_modem_report(modem, path, 1000.0 + 10).state == "ok"
    old = check_modem_report(modem, path, 1000.0 + STALE_S + 60)
    assert old.state == "warn" and "min old" in old.detail and "appliance-worker" in old.fix

    assert "no report" in check_modem_report(Modem(device="/dev/ttyACM0"), path, 1010.0).detail
    assert check_modem_report(Modem(device=""), path, 1010.0).detail.startswith("none configured")


def test_a_torn_or_foreign_report_file_reads_as_none(tmp_path):
    path = tmp_path / MODEM_REPORT
    path.write_text('{"device": "/dev/ttyUSB2", "sim": ')
    assert read_report(path) is None
    path.write_text('["not", "a", "report"]')
    assert read_report(path) is None


@pytest.mark.parametrize("dbm, bars", [(None, 0), (-113, 0), (-100, 1), (-90, 2), (-80, 3), (-51, 4)])
def test_signal_bars_as_a_phone_shows_them(dbm, bars):
    assert signal_bars(dbm) == bars
