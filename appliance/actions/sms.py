"""Text messages out through the GSM modem."""

from __future__ import annotations

from appliance.actions.channels import DeliveryError
from appliance.settings import Modem


class ModemTexter:
    """Sends outbox rows of the sms channel through the modem on `[modem] device`."""

    def __init__(self, modem: Modem):
        self.modem = modem

    async def send(self, row) -> str:
        if not self.modem.device:
            raise DeliveryError("no modem is configured ([modem] device)", permanent=False)
        raise DeliveryError("modem driver not wired yet", permanent=False)
