"""Telling systemd how the service is doing: the sd_notify datagram protocol, without libsystemd.

systemd passes `$NOTIFY_SOCKET` to a `Type=notify` service; each state is a line like `READY=1` sent as
one datagram to that socket (an abstract socket when the path starts with `@`). `$WATCHDOG_USEC` asks
for `WATCHDOG=1` at least that often. Outside systemd there is no socket and every call does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

log = logging.getLogger("appliance.notify")


def notify(*states: str) -> bool:
    """Send states (`READY=1`, `STATUS=...`, `STOPPING=1`, `WATCHDOG=1`); whether systemd was there to hear."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    address = "\0" + path[1:] if path.startswith("@") else path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(states).encode(), address)
        return True
    except OSError as exc:
        log.warning("notify-failed: could not tell systemd %s: %s", states, exc)
        return False


def watchdog_interval_s() -> float | None:
    """How often to ping the watchdog (half of what systemd asked for), or None when it asked for nothing."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec or (os.environ.get("WATCHDOG_PID") and os.environ["WATCHDOG_PID"] != str(os.getpid())):
        return None
    try:
        return int(usec) / 2e6
    except ValueError:
        return None


async def keep_watchdog_fed(alive=lambda: True) -> None:
    """Ping systemd's watchdog while `alive()` says the service is healthy; a hung event loop stops the pings."""
    interval = watchdog_interval_s()
    if interval is None:
        return
    while True:
        if alive():
            notify("WATCHDOG=1")
        await asyncio.sleep(interval)
