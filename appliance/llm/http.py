"""An OpenAI-compatible chat server (llama.cpp server, vLLM) as the reply model, for sites that outgrow one box."""

from __future__ import annotations

import http.client
import itertools
import json
import socket
import time
from typing import Callable, Iterator
from urllib.parse import urlsplit

from appliance.errors import ApplianceError
from appliance.llm import ReplyCollector, ReplyResult
from appliance.llm.reply import ANSWER_SCHEMA


RESPONSE_FORMATS = (
    {"type": "json_schema", "json_schema": {"name": "reply", "strict": True, "schema": ANSWER_SCHEMA}},
    {"type": "json_object", "schema": ANSWER_SCHEMA},
)


class HttpResponder:
    """Streams JSON replies from `POST {base_url}/chat/completions`, constrained by the reply schema."""

    def __init__(self, base_url: str, model: str = "default", timeout_s: float = 30.0, max_tokens: int = 320,
                 temperature: float = 0.1):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ApplianceError("llm-server-url", f"{base_url!r} is not an http(s) URL")
        self._parts = parts
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._format = 0

    def warm(self, system_prompt: str) -> None:
        """Nothing to do here: the server keeps its own prompt cache."""

    def _connection(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._parts.scheme == "https" else http.client.HTTPConnection
        return kind(self._parts.hostname, self._parts.port, timeout=self.timeout_s)

    def _events(self, body: dict) -> Iterator[dict]:
        connection = self._connection()
        path = self._parts.path.rstrip("/") + "/chat/completions"
        try:
            connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json",
                                                                "Accept": "text/event-stream"})
            response = connection.getresponse()
            if response.status != 200:
                detail = response.read(500).decode("utf-8", "replace")
                # llama-cpp-python's server answers 500 to a response_format it does not know
                refused = "response_format" in detail or "json_schema" in detail
                code = "llm-server-refused" if refused else "llm-server-error"
                raise ApplianceError(code, f"{self.base_url} answered {response.status}: {detail}")
            for line in response:
                line = line.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    return
                event = json.loads(data)
                if not isinstance(event, dict):
                    raise ValueError(f"not an object: {data[:120]!r}")
                if "error" in event:
                    raise ApplianceError("llm-server-error", f"{self.base_url} failed mid-reply: {event['error']}")
                yield event
        except socket.timeout:
            raise ApplianceError("llm-server-unreachable",
                                 f"{self.base_url} sent nothing for {self.timeout_s:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            raise ApplianceError("llm-server-unreachable", f"{self.base_url}: {exc}") from None
        except ValueError as exc:
            raise ApplianceError("llm-server-error", f"{self.base_url} sent a bad event: {exc}") from None
        finally:
            connection.close()

    def respond(self, messages: list[dict], on_text: Callable[[str], None] | None = None) -> ReplyResult:
        """Generate one reply on the server, streaming its spoken text to `on_text`."""
        body = {"model": self.model, "messages": messages, "stream": True, "max_tokens": self.max_tokens,
                "temperature": self.temperature, "response_format": RESPONSE_FORMATS[self._format]}
        start = time.perf_counter()
        try:
            events = self._events(body)
            first = next(events, None)
        except ApplianceError as exc:
            # llama.cpp's server and vLLM take OpenAI's json_schema; llama-cpp-python's takes json_object.
            if exc.code != "llm-server-refused" or self._format + 1 >= len(RESPONSE_FORMATS):
                raise
            self._format += 1
            return self.respond(messages, on_text)
        collector = ReplyCollector(on_text, start)
        finish = None
        for event in itertools.chain([first] if first else [], events):
            choice = (event.get("choices") or [{}])[0]
            finish = choice.get("finish_reason") or finish
            collector.add((choice.get("delta") or {}).get("content") or "")
        return collector.result(finish, self.max_tokens)
