"""The modem's last status as the worker saw it (SIM, network, signal, or why it could not tell, and when), kept in
a small JSON file, `data_dir/modem.json`, for the panel's Health page.

The worker holds the modem's serial port open all the time (to hear delivery reports and STOP replies), so no
other process may talk AT on it: two programs on one port read each other's answers. The worker writes this file
whenever it learns something (opening the modem, each send, a +CREG change, and every REPORT_EVERY_S), and the
panel only reads it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

MODEM_REPORT = "modem.json"  # in [paths] data_dir
REPORT_EVERY_S = 60.0
STALE_S = 3 * REPORT_EVERY_S + 30  # older than this: the worker is stopped, or stuck


@dataclass(frozen=True)
class ModemReport:
    """What the worker last heard from the modem on `device`; `error` when it could not open or ask it."""

    device: str
    sim: str = ""  # ready, pin-required, missing, ... (driver.Status)
    registration: str = ""  # home, roaming, searching, denied, not-registered, unknown
    signal_dbm: int | None = None
    error: str = ""
    at: float = field(default_factory=time.time)

    @property
    def ready(self) -> bool:
        """Whether texts can go: the SIM is ready and the modem is on a network."""
        return not self.error and self.sim == "ready" and self.registration in ("home", "roaming")


def signal_bars(dbm: int | None) -> int:
    """0 to 4 bars, as a phone shows them, from the signal in dBm (-113 is none, -51 the best +CSQ reports)."""
    if dbm is None:
        return 0
    return sum(dbm >= limit for limit in (-105, -95, -85, -75))


def write_report(path: Path, report: ModemReport) -> None:
    """Replace the report at `path` in one step, so a reader never sees half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(asdict(report)))
    os.replace(partial, path)


def read_report(path: Path) -> ModemReport | None:
    """The report at `path`, or None when there is none (or it cannot be read)."""
    try:
        data = json.loads(Path(path).read_text())
        return ModemReport(**{key: data[key] for key in ModemReport.__dataclass_fields__ if key in data})
    except (OSError, ValueError, TypeError, KeyError):
        return None
