"""The call service: every engine loaded once, and every call on every line answered the same way.

It is the one composition root. `appliance serve` puts it behind SIP and AudioSocket lines; `simulate`,
`ask`, the bench and the tests hand it scripted and WAV lines. For each call it opens the Call row, builds
the call's conversation on the shared engines, runs the session, writes the turns and the analytics, and
publishes what happens on an in-process event bus (the log now, the admin panel next).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from appliance import engines
from appliance.actions.channels import WhatsappGateway
from appliance.actions.perform import ActionTaker
from appliance.actions.queue import make_queue
from appliance.call.gate import CpuGate, GatedResponder, GatedSynthesizer, GatedTranscriber
from appliance.call.session import CallSession, acknowledgements, prepared, quietly, synthesized
from appliance.dialogue.catalog import Catalog
from appliance.dialogue.conversation import Conversation, goodbye_for, greeting_for
from appliance.dialogue.intents import IntentClassifier
from appliance.dialogue.prompt import system_prompt, whole_knowledge
from appliance.records import open_database
from appliance.records.load import RecordsCrm
from appliance.settings import Settings

log = logging.getLogger("appliance.service")

TRANSFER_FAILED = ("Sorry, I couldn't put you through right now. Someone from our team will call you back "
                   "on this number as soon as they can.")
BUSY_MESSAGE = "Sorry, all our lines are busy right now. Please call again in a few minutes. Goodbye."


@dataclass
class CallEvent:
    """Something that happened on a call, as the bus publishes it."""

    kind: str  # call-started, caller-heard, reply-started, action-queued, stage-failed, call-ended, call-busy
    call: int  # the call's number in this service (the Call row's id once it exists)
    at: float = field(default_factory=time.time)
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class EventBus:
    """Publish call events to whoever listens: the log, the panel's live view, tests."""

    def __init__(self, keep: int = 200):
        self._listeners: set[asyncio.Queue] = set()
        self.recent: list[CallEvent] = []
        self._keep = keep

    def publish(self, event: CallEvent) -> None:
        """Deliver to every listener; a listener that does not keep up loses its oldest events, never blocks a call."""
        log.info("call %s %s %s", event.call, event.kind, " ".join(f"{k}={v!r}" for k, v in event.data.items()))
        self.recent = (self.recent + [event])[-self._keep:]
        for queue in list(self._listeners):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    def listen(self, size: int = 1000) -> asyncio.Queue:
        """A queue that receives every event from now on; `forget` it when done."""
        queue: asyncio.Queue = asyncio.Queue(size)
        self._listeners.add(queue)
        return queue

    def forget(self, queue: asyncio.Queue) -> None:
        self._listeners.discard(queue)


class CallService:
    """Loads the engines once; `answer(line)` runs one whole call on any line, several at once."""

    def __init__(self, settings: Settings, bus: EventBus | None = None, now=None, say=lambda text: None):
        self.settings = settings
        self.bus = bus or EventBus()
        self.company = settings.company
        zone = ZoneInfo(self.company.timezone)
        self.now = now or (lambda: datetime.now(zone))
        self.store = engines.model_store(settings)
        self.db = open_database(settings.paths.data_dir / "appliance.db")
        self.queue = make_queue(settings)
        self.index = engines.knowledge_index(settings, self.store)
        say(f"knowledge: {self.index.ingest(settings.paths.knowledge_dir)}")
        self.knowledge = whole_knowledge(self.index, settings.knowledge.prompt_chars)
        self.responder = engines.responder(settings, self.store)
        self.responder.warm(system_prompt(self.company.name, self.knowledge))
        self.transcriber = engines.transcriber(settings, self.store)
        self.synthesizer = engines.synthesizer(settings, self.store)
        self.classifier = IntentClassifier(self.index.embedder)
        self.catalog = Catalog.from_passages(self.index.passages(), self.company.name)
        self.gate = CpuGate()
        self.voice = GatedSynthesizer(self.synthesizer, self.gate)  # one for every call: its phrases are kept
        self.whatsapp_online = WhatsappGateway(settings.whatsapp).online
        self.active: dict[int, object] = {}
        self._numbers = itertools.count(1)
        self._busy_pcm = synthesized(self.synthesizer, BUSY_MESSAGE)
        # Said on every call: ready before the first one rings, so a call is answered at once.
        acknowledgements(self.voice)
        for text in (greeting_for(self.company.name), goodbye_for(self.company.name), TRANSFER_FAILED):
            prepared(self.voice, text)

    def close(self) -> None:
        """Let go of the queue's channels, the index and the database."""
        self.queue.close()
        self.index.close()
        self.db.close()

    def publish(self, kind: str, call: int, **data) -> None:
        self.bus.publish(CallEvent(kind, call, data=data))

    async def answer(self, line, caller_id: str | None = None, opening: str | None = None) -> list:
        """Run one call on `line` until it ends; returns its turn records (none for a call turned away).
        `opening`: said as soon as the line connects, instead of the greeting (a call the appliance placed)."""
        caller_id = caller_id if caller_id is not None else getattr(line, "caller_id", None)
        if len(self.active) >= self.settings.line.max_calls:
            return await self._busy(line, caller_id)
        number = next(self._numbers)
        self.active[number] = line
        try:
            return await self._run(line, caller_id, opening)
        finally:
            del self.active[number]

    async def _busy(self, line, caller_id: str | None) -> list:
        self.publish("call-busy", 0, caller=caller_id, active=len(self.active))
        line.play(self._busy_pcm)
        async for _ in line.audio():
            if not line.playing:
                await line.hangup()
                break
        return []

    def transfer_target(self, agent: dict | None) -> str | None:
        """Where a caller is handed to: the agent's SIP contact, or their number through the trunk."""
        if not agent:
            return None
        contact = (agent.get("contact") or "").strip()
        if contact.startswith(("sip:", "sips:", "tel:")):
            return contact
        phone = (agent.get("phone") or "").strip()
        trunk = self.settings.line.sip_trunk
        return f"sip:{phone}@{trunk}" if phone and trunk else None

    async def _hand_over(self, line, target: str, call_id: int) -> None:
        """Blind transfer once the caller has heard "I'm connecting you": REFER, then leave the call to the PBX."""
        while line.playing and line.hung_up_by is None:
            await asyncio.sleep(0.05)
        if line.hung_up_by is not None:
            return
        status = await line.transfer(target)
        if status is not None and 200 <= status < 300:
            self.publish("call-transferred", call_id, target=target, status=status)
            await line.hangup()
            return
        self.publish("stage-failed", call_id, code="line-transfer-failed", target=target, status=status)
        line.play(await asyncio.to_thread(prepared, self.voice, TRANSFER_FAILED))

    def _conversation(self, caller_id: str | None) -> tuple[Conversation, ActionTaker, RecordsCrm]:
        crm = RecordsCrm()
        taker = ActionTaker(self.company.name, caller_id, self.index, crm, wake=self.queue.wake,
                            whatsapp_online=self.whatsapp_online)
        conversation = Conversation(self.company.name, self.index, GatedResponder(self.responder, self.gate), self.now,
                                    country_code=self.company.country_code, caller_id=caller_id, crm=crm,
                                    actions=taker, whatsapp_online=self.whatsapp_online, knowledge=self.knowledge,
                                    classifier=self.classifier, catalog=self.catalog,
                                    **engines.conversation_options(self.settings))
        return conversation, taker, crm

    async def _run(self, line, caller_id: str | None, opening: str | None = None) -> list:
        conversation, taker, crm = await asyncio.to_thread(self._conversation, caller_id)
        call_id = taker.call.id
        self.publish("call-started", call_id, caller=caller_id, line=type(line).__name__, active=len(self.active))
        transcriber = GatedTranscriber(self.transcriber, self.gate)
        transcriber.initial_prompt = engines.speech_hint(self.company.name, self.catalog.hint(),
                                                         self.settings.stt.vocabulary, crm.order_ids())
        detector = await asyncio.to_thread(engines.voice_detector, self.settings, self.store)

        def on_event(kind: str, **data) -> None:
            self.publish(kind, call_id, **data)
            if kind == "action-queued" and data.get("action") == "escalate_to_human" and hasattr(line, "transfer"):
                target = self.transfer_target(conversation.state.agent)
                if target:
                    task = asyncio.get_running_loop().create_task(self._hand_over(line, target, call_id))
                    task.add_done_callback(quietly)

        session = CallSession(line, detector, transcriber, self.voice, conversation, events=on_event,
                              opening=opening)
        records = []
        try:
            records = await session.run()
        finally:
            ended_by = getattr(line, "hung_up_by", None) or "line"
            v2v = [v for v in (session.voice_to_voice(r) for r in records if r.kind == "caller") if v is not None]
            await asyncio.to_thread(taker.end_call, records, ended_by, v2v)
            self.publish("call-ended", call_id, ended_by=ended_by, turns=len(records))
        return records
