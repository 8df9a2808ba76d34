"""Callbacks that really dial: a due callback is called through the trunk or PBX (or on the GSM modem, when it is the
line), and what came of it is recorded.

`CallbackDialer.run` marks callbacks due (the same query as the queue worker's sweep), then places a call for
each due one whose time has come, within the free call slots of the service. An answered call is run by the
call service, which first listens to who answered: a person hears an opening that says who calls and why; a
voicemail gets a short message after its beep (who, why, how to call back), and the attempt is recorded as
`voicemail`, done or tried again later as `[actions] callback_voicemail` says. No answer, busy and failure move
the callback's `at_utc` on by a retry delay until `[actions] callback_attempts` tries are spent, then it is failed.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta, timezone

from appliance.actions.queue import mark_due_callbacks
from appliance.dialogue.entities import spoken_id
from appliance.errors import ApplianceError
from appliance.line.sip import parse_hostport
from appliance.llm.reply import INTENTS
from appliance.records.models import Callback

log = logging.getLogger("appliance.callbacks")

POLL_S = 5.0
"""How often the dialer looks for callbacks whose time has come."""
RETRY_DELAY_S = 300.0
"""Wait after an unanswered, busy or failed attempt (or a voicemail, to retry) before the next one."""
OUTCOMES = {"line-no-answer": "no answer", "line-busy": "busy"}
# A callback's reason is the intent of the turn that booked it (actions/perform.py); said aloud, it is this.
REASONS = {"callback_request": "your call", "complaint": "your complaint", "order_status": "your order",
           "product_query": "our products and plans", "policy_query": "your question",
           "speak_to_human": "your request to speak with someone", "send_details_email": "the details you asked for",
           "send_details_sms": "the details you asked for", "send_details_whatsapp": "the details you asked for"}


def _utc(moment: datetime) -> str:
    """As `at_utc` is stored: ISO 8601 in UTC to the second, rounded up (a retry is never early)."""
    moment = moment.astimezone(timezone.utc)
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment.isoformat()


def _about(reason: str) -> str:
    """A callback's reason (an intent, or words) as said aloud: "your complaint"."""
    reason = reason.strip().rstrip(".")
    return REASONS.get(reason) or ("your call" if not reason or reason in INTENTS or "_" in reason else reason)


def opening(company: str, reason: str) -> str:
    """What the appliance says first on a callback: who calls, and why (`reason`: an intent, or words)."""
    return f"Hello, this is {company} calling you back about {_about(reason)}, as promised. How can I help?"


def voicemail_message(company: str, reason: str, phone: str = "", again: bool = False) -> str:
    """The message a callback leaves on a voicemail: who called and why, how to call back (the company's `phone`,
    digit by digit, when it has one), and whether the appliance will try `again`."""
    words = [f"Hello, this is {company} calling you back about {_about(reason)}, as promised. Sorry we missed you."]
    if phone.strip():
        words.append(f"Please call us back on {spoken_id(phone)}.")
    if again:
        words.append("We'll also try you again later." if phone.strip() else "We'll try you again later.")
    elif not phone.strip():
        words.append("Please call us back when it suits you.")
    return " ".join(words + ["Thank you, goodbye."])


class CallbackDialer:
    """Dials due callbacks through a `SipServer`, or a `ModemLineServer` (ATD on the GSM modem, one call at a time),
    and runs the answered ones on the call service."""

    def __init__(self, service, sip_server, settings, now=lambda: datetime.now(timezone.utc),
                 retry_delay_s: float = RETRY_DELAY_S, poll_s: float = POLL_S):
        self.service = service
        self.sip = sip_server
        self.settings = settings
        self.now = now
        self.retry_delay_s = retry_delay_s
        self.poll_s = poll_s
        self.dialling: dict[int, asyncio.Task] = {}  # callback id → its attempt, ringing or in the call
        self.answered: set[int] = set()  # callbacks whose call is in progress

    def trunk(self) -> tuple[str, int]:
        """Where placed calls go: `[line] sip_trunk`; without it the SIP line's own choice, the registrar or a trunk
        that `[line] sip_allow` names (`SipServer.callback_route`); `ApplianceError` says why there is nowhere."""
        if self.settings.line.sip_trunk:
            try:
                return parse_hostport(self.settings.line.sip_trunk)
            except ValueError:
                raise ApplianceError("callback-trunk-invalid", f"[line] sip_trunk "
                                     f"{self.settings.line.sip_trunk!r} is not HOST:PORT") from None
        return self.sip.callback_route()

    def free_slots(self) -> int:
        """Calls that may start now: `[line] max_calls` less the calls in progress and the attempts not yet
        answered (they hold a slot the service does not count yet)."""
        slots = self.settings.line.max_calls - len(self.service.active) - (len(self.dialling) - len(self.answered))
        if self.by_modem:  # one call on the modem, and none while it is gone or off the network: callbacks wait
            slots = min(slots, self.sip.free_calls() - (len(self.dialling) - len(self.answered)))
        return slots

    @property
    def by_modem(self) -> bool:
        """Whether callbacks are dialled on the GSM modem (a number, no trunk) rather than over SIP."""
        return getattr(self.sip, "dials_numbers", False)

    async def run(self) -> None:
        """Until cancelled: every few seconds, dial the callbacks whose time has come. Cancelled, it stops
        the attempts still ringing and lets the answered calls finish, as `appliance serve` does its calls."""
        try:
            while True:
                try:
                    await self.sweep()
                except Exception:  # a locked database or the like: the next sweep tries again
                    log.exception("callback-sweep-failed")
                await asyncio.sleep(self.poll_s)
        finally:
            for key, task in list(self.dialling.items()):
                if key not in self.answered:
                    task.cancel()
            await asyncio.gather(*self.dialling.values(), return_exceptions=True)

    async def sweep(self) -> list[asyncio.Task]:
        """Mark callbacks due and start an attempt for each due one, as far as the free call slots allow."""
        now = self.now()
        await asyncio.to_thread(mark_due_callbacks, now)
        slots = self.free_slots()
        if slots <= 0:
            return []
        due = await asyncio.to_thread(self._due, now, slots)
        started = []
        for callback in due:
            task = asyncio.create_task(self.dial(callback))
            self.dialling[callback.id] = task
            task.add_done_callback(lambda _, key=callback.id: self.dialling.pop(key, None))
            started.append(task)
        return started

    def _due(self, now: datetime, limit: int) -> list[Callback]:
        query = Callback.select().where((Callback.state == "due")
                                        & (Callback.at_utc <= now.astimezone(timezone.utc).isoformat())
                                        & Callback.id.not_in(list(self.dialling) or [0]))
        return list(query.order_by(Callback.at_utc).limit(limit))

    def message(self, callback: Callback, attempt: int) -> str:
        """What a voicemail is told on this attempt: who, why, how to call back; nothing when the attempt before
        already left this callback's message on it (`retry` hopes for the person, not for a second message)."""
        if callback.outcome == "voicemail":
            return ""
        actions = self.settings.actions
        again = actions.callback_voicemail == "retry" and attempt < actions.callback_attempts
        return voicemail_message(self.settings.company.name, callback.reason, self.settings.company.phone, again)

    async def dial(self, callback: Callback) -> str:
        """One attempt at `callback`: place the call, run it when answered, record the outcome (`answered`,
        `voicemail`, `busy`, `no answer`, `failed: why`) and return it."""
        message = self.message(callback, callback.attempts + 1)
        phone = re.sub(r"[^\d+]", "", callback.phone)
        try:
            trunk, problem = (None, None) if self.by_modem else (self.trunk(), None)
        except ApplianceError as exc:  # nowhere to send it: no sip_trunk, and no registrar or trunk the line trusts
            trunk, problem = None, exc.message
        if problem is not None:
            outcome = f"failed: {problem}"
        elif not phone:
            outcome = f"failed: {callback.phone!r} is not a number"
        else:
            try:
                if self.by_modem:
                    line = await self.sip.place_call(phone, ring_timeout_s=self.settings.line.ring_timeout_s,
                                                     display_name=self.settings.company.name, caller_id=phone)
                else:
                    host = f"[{trunk[0]}]" if ":" in trunk[0] else trunk[0]
                    line = await self.sip.place_call(f"sip:{phone}@{host}", via=trunk,
                                                     ring_timeout_s=self.settings.line.ring_timeout_s,
                                                     display_name=self.settings.company.name, caller_id=phone)
            except ApplianceError as exc:
                outcome = OUTCOMES.get(exc.code, f"failed: {exc.message}")
            except Exception as exc:  # a socket error or the like: this attempt failed, the next may not
                log.exception("callback-dial-failed: callback %s", callback.id)
                outcome = f"failed: {exc}"
            else:
                outcome = "answered"
        attempts = callback.attempts + 1
        state = await asyncio.to_thread(self._record, callback, attempts, outcome)
        log.info("callback %s to %s, attempt %d of %d: %s (%s)", callback.id, callback.phone, attempts,
                 self.settings.actions.callback_attempts, outcome, state)
        if outcome == "answered":
            # Recorded before the conversation: a restart mid-call does not ring the caller a second time.
            self.answered.add(callback.id)
            try:
                records = await self.service.answer(line, caller_id=phone, voicemail=message,
                                                    opening=opening(self.settings.company.name, callback.reason))
                if any(record.kind == "voicemail" for record in records):
                    outcome = "voicemail"
                    state = await asyncio.to_thread(self._record, callback, attempts, outcome)
                    log.info("callback %s to %s, attempt %d: reached a voicemail, %s (%s)", callback.id,
                             callback.phone, attempts, "left a message" if message else "no second message", state)
            except Exception:
                log.exception("call-failed: callback %s", callback.id)
            finally:
                self.answered.discard(callback.id)
                await line.hangup()
                line.release()
                if not self.by_modem:
                    self.sip.lines.pop(getattr(line, "call_id", None), None)
        return outcome

    def _record(self, callback: Callback, attempts: int, outcome: str) -> str:
        """Write one attempt; returns the new state (done, due again later, or failed). A voicemail reached is
        written over the attempt's `answered`: done, or, with `[actions] callback_voicemail = retry`, tried again."""
        changes = {"attempts": attempts, "outcome": outcome}
        if outcome == "answered" or (outcome == "voicemail" and self.settings.actions.callback_voicemail == "done"):
            changes["state"] = "done"
        elif attempts >= self.settings.actions.callback_attempts:
            changes["state"] = "failed"
        else:
            changes["state"] = "due"
            changes["at_utc"] = _utc(self.now() + timedelta(seconds=self.retry_delay_s))
        Callback.update(**changes).where(Callback.id == callback.id).execute()
        for key, value in changes.items():
            setattr(callback, key, value)
        return changes["state"]
