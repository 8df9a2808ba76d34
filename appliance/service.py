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

import numpy as np

from appliance import engines
from appliance.actions.channels import WhatsappGateway
from appliance.actions.perform import ActionTaker
from appliance.actions.queue import make_queue
from appliance.audio import LINE_RATE_HZ
from appliance.call.gate import CpuGate, GatedResponder, GatedSynthesizer, GatedTranscriber
from appliance.call.session import CallSession, acknowledgements, prepared, synthesized
from appliance.dialogue.catalog import Catalog
from appliance.dialogue.hours import Timetable
from appliance.dialogue.conversation import STILL_THERE, Conversation, goodbye_for, greeting_for, quiet_goodbye_for
from appliance.dialogue.intents import IntentClassifier
from appliance.dialogue.prompt import system_prompt, whole_knowledge
from appliance.errors import ApplianceError
from appliance.line.capacity import Capacity
from appliance.records import disk_full, open_database
from appliance.records.models import Call, utc_now
from appliance.records.load import RecordsCrm
from appliance.recordings import store as recordings
from appliance.recordings.tee import RecordedLine, StereoWavWriter
from appliance.settings import Settings

log = logging.getLogger("appliance.service")

BUSY_MESSAGE = "Sorry, all our lines are busy right now. Please call again in a few minutes. Goodbye."
REACHED = "I've reached {name}. One moment while I tell them what you need."
RELAY_BACKLOG_MS = 200  # a bridged call whose two clocks drift apart drops audio past this, never lags behind


def ringback(seconds: float) -> np.ndarray:
    """The ringing a caller hears while a transfer rings: 440 + 480 Hz, 2 s on and 4 s off (the North American
    ringback tone, which callers everywhere know as ringing), at the line rate."""
    t = np.arange(int(6 * LINE_RATE_HZ)) / LINE_RATE_HZ
    cycle = np.where(t < 2, 2500 * (np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 480 * t)), 0)
    return np.resize(cycle.astype(np.int16), int(seconds * LINE_RATE_HZ))


@dataclass
class CallEvent:
    """Something that happened on a call, as the bus publishes it."""

    kind: str  # call-started, caller-heard, reply-started, reply-finished, action-queued, stage-failed, call-ended, ...
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

    def __init__(self, settings: Settings, bus: EventBus | None = None, now=None, say=lambda text: None,
                 ingest: bool = True):
        self.settings = settings
        self.bus = bus or EventBus()
        self.company = settings.company
        zone = ZoneInfo(self.company.timezone)
        self.now = now or (lambda: datetime.now(zone))
        self.store = engines.model_store(settings)
        self.db = open_database(settings.paths.data_dir / "appliance.db")
        self.queue = make_queue(settings)
        self.index = engines.knowledge_index(settings, self.store)
        if ingest:  # `serve` indexes after it is ready instead (index_knowledge): a large upload never delays it
            say(f"knowledge: {self.index.ingest(settings.paths.knowledge_dir)}")
        self.knowledge_seen = self.index.fingerprint()
        self.knowledge = whole_knowledge(self.index, settings.knowledge.prompt_chars)
        self.responder = engines.responder(settings, self.store)
        self.responder.warm(system_prompt(self.company.name, self.knowledge))
        self.transcriber = engines.transcriber(settings, self.store)
        self.synthesizer = engines.synthesizer(settings, self.store)
        self.classifier = IntentClassifier(self.index.embedder)
        passages = self.index.passages()
        self.catalog = Catalog.from_passages(passages, self.company.name)
        self.timetable = Timetable.from_passages(passages)  # read once per knowledge base, not once per call
        self.vad = engines.vad_model(settings, self.store)  # one for every call; each call keeps its own state
        self.gate = CpuGate()
        self.judge = engines.turn_judge(settings, self.store, self.gate)  # one end-of-turn model for every call
        self.voice = GatedSynthesizer(self.synthesizer, self.gate)  # one for every call: its phrases are kept
        self.whatsapp_online = WhatsappGateway(settings.whatsapp).online
        self.active: dict[int, object] = {}
        self.stopping = False  # serve got SIGTERM: no new call is taken, the calls in progress finish
        self._said_capacity: Capacity | None = None  # the last `capacity` event published
        # Places a call for a warm transfer: `await dialer(uri, ring_timeout_s=, display_name=, caller_id=)` → a
        # line once answered (a SipServer's place_call; `serve` sets it when a SIP line is open), or None.
        self.dialer = None
        self._handing_over: dict[int, asyncio.Task] = {}  # call → its transfer in progress
        self._bridges: dict[int, object] = {}  # call → the agent's line it is to be connected to
        self._numbers = itertools.count(1)
        self.unwritten: list[ActionTaker] = []  # calls whose records a full disk refused, written when it has room
        self._busy_pcm = synthesized(self.synthesizer, BUSY_MESSAGE)
        # Said on every call: ready before the first one rings, so a call is answered at once.
        acknowledgements(self.voice)
        greeting = greeting_for(self.company.name, self.settings.company.greeting)
        for text in (greeting, goodbye_for(self.company.name), STILL_THERE, quiet_goodbye_for(self.company.name)) + (
                (self._noticed(greeting),) if settings.recording.mode == "notice" else ()):
            prepared(self.voice, text)

    def knowledge_changed(self) -> bool:
        """Whether the index holds other documents than the ones this service took up (the panel re-indexed)."""
        return self.index.fingerprint() != self.knowledge_seen

    def take_up_knowledge(self) -> int:
        """Take up the index as it is now: the passages in the prompt, the catalog of names and the opening hours
        the dialogue and the speech hint know, and the reply model's cached prompt. A call in progress keeps what it
        began with; the next one gets the new. Returns how many passages the index has."""
        seen = self.index.fingerprint()
        knowledge = whole_knowledge(self.index, self.settings.knowledge.prompt_chars)
        passages = self.index.passages()
        catalog, timetable = Catalog.from_passages(passages, self.company.name), Timetable.from_passages(passages)
        with self.gate.model_lock, self.gate.turn():  # the prompt is evaluated in turn with the calls' engines
            self.responder.warm(system_prompt(self.company.name, knowledge))
        self.knowledge, self.catalog, self.timetable, self.knowledge_seen = knowledge, catalog, timetable, seen
        return self.index.count()

    def close_abandoned_calls(self) -> int:
        """Calls left "in progress" by a process that died: ended now, as `service-restart`. Returns how many."""
        return Call.update(ended_at=utc_now(), ended_by="service-restart").where(Call.ended_at.is_null()).execute()

    def flush_unwritten(self) -> int:
        """Write the records of calls that a full disk refused, now that it may have room; returns how many calls
        are still waiting."""
        self.unwritten = [taker for taker in self.unwritten if not taker.flush()]
        return len(self.unwritten)

    def close(self) -> None:
        """Let go of the queue's channels, the index and the database."""
        if self.unwritten and self.flush_unwritten():
            log.error("records-disk-full: the records of %d call(s) could not be written before stopping: %s",
                      len(self.unwritten), "; ".join(f"call from {t.caller_id or 'withheld'}" for t in self.unwritten))
        self.queue.close()
        self.index.close()
        self.db.close()

    def publish(self, kind: str, call: int, **data) -> None:
        self.bus.publish(CallEvent(kind, call, data=data))

    def capacity(self) -> Capacity:
        """The call slots now: how many are free, and why none is (full, drained, stopping)."""
        return Capacity(self.settings.line.max_calls, len(self.active), self.stopping, self.settings.line.overflow)

    def _slots_changed(self) -> None:
        """Publish the slots (a `capacity` event) when they say something new: the panel's Health page shows them."""
        capacity = self.capacity()
        if capacity != self._said_capacity:
            self._said_capacity = capacity
            self.publish("capacity", 0, **capacity.to_dict())

    def stop_taking_calls(self) -> None:
        """SIGTERM: every new call is refused from now on (503), while the calls in progress finish."""
        self.stopping = True
        self._slots_changed()

    async def answer(self, line, caller_id: str | None = None, opening: str | None = None,
                     voicemail: str | None = None) -> list:
        """Run one call on `line` until it ends; returns its turn records (none for a call turned away).
        `opening`: said as soon as the line connects, instead of the greeting (a call the appliance placed).
        `voicemail` (with it): who answers is listened to first; a person hears the opening, a voicemail this
        message ("": none), and the call's records then hold a `voicemail` turn."""
        caller_id = caller_id if caller_id is not None else getattr(line, "caller_id", None)
        capacity = self.capacity()
        if not capacity.accepting:
            return await self._turn_away(line, caller_id, capacity, placed=opening is not None)
        number = next(self._numbers)
        self.active[number] = line
        self._slots_changed()
        try:
            return await self._run(line, caller_id, opening, number, voicemail)
        finally:
            self.active.pop(number, None)
            self._slots_changed()

    async def _turn_away(self, line, caller_id: str | None, capacity: Capacity, placed: bool) -> list:
        """A call with no slot: refused unanswered (SIP 486 or 503), so that the proxy or PBX in front tries another
        box, when `[line] overflow = reject` or the box is stopping; a line that cannot refuse (AudioSocket, the modem)
        is hung up unanswered then. Otherwise, and on a call the box placed itself (a callback that found its slot
        taken), the person hears the busy message."""
        status = None if placed else capacity.refusal()
        self.publish("call-busy", 0, caller=caller_id, active=len(self.active), why=capacity.why_not, refused=status)
        if status is None:
            return await self._busy(line)
        refuse = getattr(line, "refuse", None)
        if refuse is not None:
            await refuse(status, capacity.retry_after_s)
        else:
            await line.hangup()
        return []

    async def _busy(self, line) -> list:
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

    def _hand_over_to(self, session, line, conversation, call_id: int) -> None:
        """The caller asked for a person and heard who they are connected to: start the transfer (or, on a line that
        cannot hand a caller over, such as a GSM modem's, offer a callback instead)."""
        agent = conversation.state.agent or {}
        target = self.transfer_target(agent)
        if not getattr(line, "can_transfer", True):
            coroutine = self._offer_callback(session, line, conversation, call_id)
        elif not target:
            return
        elif self.settings.handoff.transfer == "warm" and self.dialer is not None:
            coroutine = self._warm_transfer(session, line, conversation, target, call_id)
        elif hasattr(line, "transfer"):
            coroutine = self._hand_over(session, line, conversation, target, call_id)
        else:
            log.warning("call %s: no way to reach %s from this line (no SIP line to dial, no REFER)", call_id, target)
            return
        task = asyncio.get_running_loop().create_task(coroutine)
        self._handing_over[call_id] = task

        def done(task: asyncio.Task) -> None:
            self._handing_over.pop(call_id, None)
            if not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                log.error("line-transfer-failed: call %s: %s", call_id, exc, exc_info=exc)
                self.publish("stage-failed", call_id, code="line-transfer-failed", target=target, error=str(exc))

        task.add_done_callback(done)

    async def _offer_callback(self, session, line, conversation, call_id: int) -> None:
        """This line cannot transfer (a GSM modem carries one call): once the caller has heard the reply, offer a
        callback from the person they asked for."""
        while line.playing and line.hung_up_by is None:
            await asyncio.sleep(0.05)
        if line.hung_up_by is not None:
            return
        self.publish("transfer-impossible", call_id)
        await session.resume(conversation.offer_callback((conversation.state.agent or {}).get("name")))

    async def _warm_transfer(self, session, line, conversation, target: str, call_id: int) -> None:
        """Call the agent while the caller hears ringing, tell the agent who is waiting and why, then connect the
        two through the box. Nobody answers (or the agent hangs up before being connected): the caller is told
        and offered a callback."""
        while line.playing and line.hung_up_by is None:  # "I'm connecting you with ..." is heard out
            await asyncio.sleep(0.05)
        if line.hung_up_by is not None:
            return
        agent = conversation.state.agent or {}
        name = agent.get("name")
        ring_s = self.settings.line.ring_timeout_s
        await session.hold()
        line.play(ringback(ring_s + 6), filler=True)
        self.publish("transfer-ringing", call_id, target=target, mode="warm")
        agent_line, connected = None, False
        try:
            agent_line = await self.dialer(target, ring_timeout_s=ring_s, display_name=self.company.name,
                                           caller_id=conversation.state.caller_id)
            line.stop_playback()
            if line.hung_up_by is None:
                line.play(await asyncio.to_thread(synthesized, self.voice, REACHED.format(name=name or "someone")))
                summary = await asyncio.to_thread(synthesized, self.voice, conversation.handover_summary(name))
                await self._say_to(agent_line, summary)
            connected = line.hung_up_by is None and agent_line.hung_up_by is None
        except ApplianceError as exc:
            self.publish("stage-failed", call_id, code="line-transfer-failed", target=target, error=exc.message)
        finally:
            if agent_line is not None and not connected:  # refused, or cancelled: the caller hung up meanwhile
                await self._let_go(agent_line)
        if connected:
            self.publish("call-transferred", call_id, target=target, mode="warm")
            session.hand_over()  # the call's runner connects the two lines once the session lets go of the line
            self._bridges[call_id] = agent_line
        elif line.hung_up_by is None:
            line.stop_playback()
            await session.resume(conversation.offer_callback(name))

    @staticmethod
    async def _say_to(line, pcm: np.ndarray) -> None:
        """Play `pcm` on a line nobody else is driving, until it has been sent or the far end hangs up."""
        line.play(pcm)
        async for _ in line.audio():
            if not line.playing:
                break

    async def _bridge(self, caller, agent) -> str:
        """Carry the audio both ways until either side hangs up; hang up the other; return who ended it."""
        backlog = RELAY_BACKLOG_MS * LINE_RATE_HZ // 1000

        async def relay(source, sink) -> None:
            async for frame in source.audio():
                if sink.hung_up_by is not None:
                    return
                if sink.playback.queued_samples > backlog:
                    sink.stop_playback()
                sink.play(frame)

        tasks = [asyncio.create_task(relay(caller, agent)), asyncio.create_task(relay(agent, caller))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        ended_by = "agent" if agent.hung_up_by is not None and caller.hung_up_by is None else "caller"
        await caller.hangup()
        await self._let_go(agent)
        return ended_by

    @staticmethod
    async def _let_go(line) -> None:
        """Hang up a call the service placed and free its line."""
        await line.hangup()
        release = getattr(line, "release", None)
        if release is not None:
            release()

    async def _hand_over(self, session, line, conversation, target: str, call_id: int) -> None:
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
        await session.resume(conversation.offer_callback((conversation.state.agent or {}).get("name")))

    def _conversation(self, caller_id: str | None) -> tuple[Conversation, ActionTaker, RecordsCrm]:
        crm = RecordsCrm()
        taker = ActionTaker(self.company.name, caller_id, self.index, crm, wake=self.queue.wake,
                            whatsapp_online=self.whatsapp_online, privacy=self.settings.privacy)
        conversation = Conversation(self.company.name, self.index, GatedResponder(self.responder, self.gate), self.now,
                                    country_code=self.company.country_code, caller_id=caller_id, crm=crm,
                                    actions=taker, whatsapp_online=self.whatsapp_online, knowledge=self.knowledge,
                                    classifier=self.classifier, catalog=self.catalog, timetable=self.timetable,
                                    **engines.conversation_options(self.settings))
        return conversation, taker, crm

    def _noticed(self, text: str) -> str:
        """`text` after the recording notice: what a recorded call hears first."""
        return f"{self.settings.recording.notice.strip()} {text}"

    def _recorder(self, line, call_id: int) -> tuple[RecordedLine, str] | None:
        """The line, recorded into data_dir/recordings, when [recording] mode is on or notice (and its path)."""
        if self.settings.recording.mode == "off" or getattr(line, "playback", None) is None:
            return None
        relative = recordings.new_path(call_id, self.now())
        try:
            return RecordedLine(line, StereoWavWriter(self.settings.paths.data_dir / relative)), relative
        except OSError as exc:
            self._recording_failed(call_id, exc)
            return None

    def _recording_failed(self, call_id: int, exc: OSError) -> None:
        """The disk refused the recording: logged and published; the call goes on."""
        log.error("recording-unwritable: call %s: %s", call_id, exc)
        self.publish("stage-failed", call_id, code="recording-unwritable", error=str(exc))

    async def _run(self, line, caller_id: str | None, opening: str | None = None, number: int = 0,
                   voicemail: str | None = None) -> list:
        conversation, taker, crm = await asyncio.to_thread(self._conversation, caller_id)
        conversation.policy.can_transfer = getattr(line, "can_transfer", True)  # a GSM modem's line cannot
        # A call the full disk could not record yet is numbered below zero until its row is written.
        call_id = taker.call.id if taker.call is not None else -number
        self.publish("call-started", call_id, caller=caller_id, line=type(line).__name__, active=len(self.active))
        recorder = self._recorder(line, call_id)
        if recorder is None:
            return await self._converse(line, conversation, taker, crm, opening, number, call_id, voicemail)
        recorded, relative = recorder
        if self.settings.recording.mode == "notice":  # said first, before the greeting (or a placed call's opening)
            if opening is None:
                conversation.greeting_template = self._noticed(conversation.greeting())
            else:
                opening = self._noticed(opening)
        try:  # a bridged transfer goes through the same line: the agent is recorded on the appliance's side
            return await self._converse(recorded, conversation, taker, crm, opening, number, call_id, voicemail)
        finally:
            try:
                seconds = recorded.close()
            except OSError as exc:  # what was written before the disk refused is kept
                self._recording_failed(call_id, exc)
                seconds = recorded.seconds
            try:
                await asyncio.to_thread(recordings.finish, call_id, relative, seconds)
            except Exception as exc:
                if not disk_full(exc):
                    raise
                self._recording_failed(call_id, exc)
            self.publish("call-recorded", call_id, path=relative, seconds=round(seconds, 2))

    async def _converse(self, line, conversation, taker, crm, opening: str | None, number: int, call_id: int,
                        voicemail: str | None = None) -> list:
        transcriber = GatedTranscriber(self.transcriber, self.gate)
        transcriber.initial_prompt = engines.speech_hint(self.company.name, self.catalog.hint(),
                                                         self.settings.stt.vocabulary, crm.order_ids())
        detector = engines.voice_detector(self.settings, self.store, model=self.vad)

        def on_event(kind: str, **data) -> None:
            self.publish(kind, call_id, **data)
            if kind == "action-queued" and data.get("action") == "escalate_to_human":
                self._hand_over_to(session, line, conversation, call_id)

        session = CallSession(line, detector, transcriber, self.voice, conversation, events=on_event,
                              turns=engines.turn_taker(self.settings), opening=opening, judge=self.judge,
                              voicemail=voicemail)
        records, agent_line = [], None
        try:
            records = await session.run()
            handing_over = self._handing_over.get(call_id)
            if handing_over is not None and not session.handed_over:
                handing_over.cancel()  # the caller hung up while the transfer rang
                await asyncio.gather(handing_over, return_exceptions=True)
            agent_line = self._bridges.pop(call_id, None)
        finally:
            # The appliance's own reasons first: a caller who went quiet (`silence`), a voicemail reached.
            ended_by = "transferred" if agent_line is not None else (
                session.ended_by or getattr(line, "hung_up_by", None) or "line")
            v2v = [v for v in (session.voice_to_voice(r) for r in records if r.kind == "caller") if v is not None]
            await asyncio.to_thread(taker.end_call, records, ended_by, v2v)
            if taker.unwritten:
                self.unwritten.append(taker)
                self.publish("stage-failed", call_id, code="records-disk-full",
                             error="the records disk is full: this call is kept in memory until it has room")
            if agent_line is None:
                self.publish("call-ended", call_id, ended_by=ended_by, turns=len(records))
        if agent_line is not None:  # connected to a person: it takes no engine, so its slot is free for the next
            self.active.pop(number, None)
            self._slots_changed()
            try:
                ended_by = await self._bridge(line, agent_line)
            finally:
                self.publish("call-ended", call_id, ended_by=ended_by, turns=len(records), transferred=True)
        return records
