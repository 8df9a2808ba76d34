"""The ways a message leaves the box, behind one small interface: `async send(row) -> reference`."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

from appliance.settings import Whatsapp


class DeliveryError(Exception):
    """A message did not go out; `permanent` says whether trying again could help."""

    def __init__(self, message: str, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


class WhatsappGateway:
    """A WhatsApp gateway on the office network that takes {"to", "text"} as JSON and answers {"id"}."""

    def __init__(self, whatsapp: Whatsapp):
        self.url = whatsapp.gateway_url
        self.timeout_s = whatsapp.timeout_s

    def online(self) -> bool:
        """Whether a gateway is configured and answers now."""
        if not self.url:
            return False
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout_s):
                return True
        except urllib.error.HTTPError as exc:
            return exc.code < 500  # it answered; a GET it does not serve still means it is up
        except (OSError, ValueError):
            return False

    def _post(self, payload: dict) -> str:
        request = urllib.request.Request(self.url, data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return str(json.loads(response.read() or b"{}").get("id", ""))
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"gateway said {exc.code} {exc.reason}", permanent=400 <= exc.code < 500) from None
        except (OSError, ValueError) as exc:
            raise DeliveryError(f"gateway {self.url} unreachable: {exc}", permanent=False) from None

    async def send(self, row) -> str:
        """Hand one message to the gateway; returns the gateway's message id."""
        if not self.url:
            raise DeliveryError("no WhatsApp gateway is configured", permanent=True)
        return await asyncio.to_thread(self._post, {"to": row.recipient, "text": row.body})
