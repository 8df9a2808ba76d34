"""`appliance modem status` and `appliance modem simulate`, run as a technician runs them."""

import subprocess
import sys

from appliance.cli import main
from appliance.modem.simulator import SimulatorThread


def test_status_reads_the_sim_network_and_signal(capsys):
    modem = SimulatorThread(signal=18)
    try:
        assert main(["modem", "status", "--device", modem.path]) == 0
        assert "SIM ready, network home, signal -77 dBm" in capsys.readouterr().out
        modem.do("set_registration", 3)
        assert main(["modem", "status", "--device", modem.path]) == 1
        assert "network denied" in capsys.readouterr().out
    finally:
        modem.close()
    assert main(["modem", "status", "--device", "/dev/nonexistent-modem"]) == 2
    assert "cannot open /dev/nonexistent-modem" in capsys.readouterr().err


def test_simulate_serves_a_terminal_until_stopped():
    process = subprocess.Popen([sys.executable, "-m", "appliance", "modem", "simulate", "--signal", "9"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        path = process.stdout.readline().strip()
        assert path.startswith("/dev/pts/")
        assert main(["modem", "status", "--device", path]) == 0
    finally:
        process.terminate()
    assert process.wait(timeout=10) == 0
