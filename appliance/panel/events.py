"""The live events relay: the call service writes one JSON line per call event to `data_dir/events.sock`,
the panel listens there, keeps the calls in progress, each phone line's latest status (`line-status`) and the
call service's free call slots (`capacity`), and hands every event to its live pages.

The panel owns the socket; the call service connects to it when it can (`publish_to_socket`) and says
nothing while no panel listens, so a call never waits on the panel. On (re)connecting, the service
first replays the events of the calls still in progress, the lines' current status and its call slots, so a
panel started mid-call or after the service knows them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 64 * 1024
STAGES = {"call-started": "greeting", "caller-heard": "thinking", "reply-started": "speaking",
          "action-queued": "speaking", "stage-failed": "error", "transfer-ringing": "transferring",
          "call-transferred": "transferred"}
RESPONSE_STAGES = ("endpoint", "stt", "llm_first_sentence", "tts_first_audio")
NOT_CALLS = ("call-busy", "line-status", "knowledge-changed", "capacity")  # of no call: a caller turned away, a
# line's health, the call service taking up a re-indexed knowledge base, its free call slots


class LiveCalls:
    """The calls in progress, from their events (CallEvent.to_dict()); no I/O, no clock."""

    def __init__(self):
        self._calls: dict[int, dict] = {}

    def apply(self, event: dict) -> None:
        kind, number, data = event.get("kind"), event.get("call"), event.get("data") or {}
        if not isinstance(number, int) or kind in NOT_CALLS:
            return
        if kind == "call-ended":
            self._calls.pop(number, None)
            return
        call = self._calls.setdefault(number, {"call": number, "caller": None, "started_at": event.get("at"),
                                               "stage": "", "intent": "", "missing": [], "heard": "", "actions": [],
                                               "response_ms": None, "error": ""})
        call["stage"] = STAGES.get(kind, call["stage"])
        if kind == "call-started":
            call["caller"] = data.get("caller")
            call["started_at"] = event.get("at")
        elif kind == "caller-heard":
            call["heard"] = str(data.get("text", ""))
        elif kind == "reply-started" and isinstance(data.get("response_ms"), (int, float)):
            call["response_ms"] = round(data["response_ms"])
        elif kind == "reply-finished":
            call["intent"] = str(data.get("intent", ""))
            missing = data.get("missing")  # what the reply asks the caller for; none once it is given
            call["missing"] = [str(item) for item in missing] if isinstance(missing, list) else []
            stages = data.get("latency_ms") or {}
            measured = [stages[key] for key in RESPONSE_STAGES if isinstance(stages.get(key), (int, float))]
            if measured:
                call["response_ms"] = round(sum(measured))
        elif kind == "action-queued":
            call["actions"] = call["actions"] + [str(data.get("action", ""))]
        elif kind == "stage-failed":
            call["error"] = str(data.get("code", ""))

    def calls(self) -> list[dict]:
        """The calls in progress, oldest first."""
        return [dict(call) for _, call in sorted(self._calls.items())]


def in_progress(events: list[dict]) -> list[dict]:
    """Of a run of events, those of the calls that have not ended."""
    ended = {event["call"] for event in events if event.get("kind") == "call-ended"}
    return [event for event in events if event.get("call") not in ended and event.get("kind") not in NOT_CALLS]


class EventRelay:
    """The panel's end: listens on the socket, keeps `live`, and fans every event out to subscribers."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.live = LiveCalls()
        self.lines: dict[str, dict] = {}  # line URI → its latest `line-status` event, as the service sent it
        self.capacity: dict | None = None  # the call service's latest `capacity` event: its free call slots
        self._subscribers: set[asyncio.Queue] = set()
        self._server: asyncio.AbstractServer | None = None
        self.connections = 0  # the call service's open connections: its liveness, for the Health page
        self.heard_at: float | None = None  # time.monotonic() of its last connection or event

    async def start(self) -> "EventRelay":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by a panel that did not stop cleanly
        self._server = await asyncio.start_unix_server(self._read, path=str(self.path), limit=MAX_LINE_BYTES)
        os.chmod(self.path, 0o660)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        for queue in list(self._subscribers):
            self._offer(queue, None)  # tells each live page's stream to end

    def subscribe(self, size: int = 500) -> asyncio.Queue:
        """A queue of every event from now on (None: the relay closed); `unsubscribe` when done."""
        queue: asyncio.Queue = asyncio.Queue(size)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._subscribers.discard(queue)

    @staticmethod
    def _offer(queue: asyncio.Queue, item) -> None:
        if queue.full():  # a page that does not keep up loses its oldest events
            queue.get_nowait()
        queue.put_nowait(item)

    def publish(self, event: dict) -> None:
        """Take one event (as the service wrote it): update the live calls or the lines, and pass it on."""
        self.live.apply(event)
        data = event.get("data")
        if event["kind"] == "line-status" and isinstance(data, dict) and isinstance(data.get("line"), str):
            self.lines[data["line"]] = event
        elif event["kind"] == "capacity" and isinstance(data, dict):
            self.capacity = event
        for queue in list(self._subscribers):
            self._offer(queue, event)

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.heard_at = time.monotonic()
        try:
            while line := await reader.readline():
                self.heard_at = time.monotonic()
                try:
                    event = json.loads(line)
                except ValueError:
                    log.warning("events relay: not JSON, skipped: %r", line[:80])
                    continue
                if isinstance(event, dict) and isinstance(event.get("kind"), str):
                    self.publish(event)
        except (ValueError, ConnectionError) as exc:  # a line over the limit, a reset
            log.warning("events relay: connection dropped: %s", exc)
        finally:
            self.connections -= 1
            writer.close()


async def publish_to_socket(bus, path: str | os.PathLike, retry_s: float = 2.0, current=lambda: []) -> None:
    """The call service's end: write every event on `bus` (service.EventBus) to the panel's socket at `path`,
    one JSON line each, until cancelled. While no panel listens, events are dropped and it tries again.
    `current()` gives the events that say how things stand now (each line's status), sent on every connection."""
    queue = bus.listen()
    try:
        while True:
            try:
                _, writer = await asyncio.open_unix_connection(str(path))
            except OSError:
                await asyncio.sleep(retry_s)
                continue
            while not queue.empty():  # what happened while nobody listened: the replay below covers it
                queue.get_nowait()
            try:
                for event in in_progress([event.to_dict() for event in bus.recent]) + [
                        event.to_dict() for event in current()]:
                    writer.write(json.dumps(event, default=str).encode() + b"\n")
                await writer.drain()
                while True:
                    event = await queue.get()
                    writer.write(json.dumps(event.to_dict(), default=str).encode() + b"\n")
                    await writer.drain()
            except ConnectionError:
                await asyncio.sleep(retry_s)
            finally:
                writer.close()
    finally:
        bus.forget(queue)
