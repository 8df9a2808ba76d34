"""`appliance simulate`: scripted calls from a scenario set, answered from audio in real time, and scored.

The format is ../shared/scenarios/FORMAT.md. Each `say` turn is spoken by a synthetic caller (Piper at a
slower pace by default, or an espeak-ng voice, whose formant speech is much harder to recognise than a
person's), squeezed through an 8 kHz μ-law line and fed in frame by frame, so it goes through the same
VAD and speech recognition as a real call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from appliance import engines
from appliance.actions.channels import WhatsappGateway
from appliance.actions.perform import ActionTaker
from appliance.actions.queue import make_queue
from appliance.actions.relay import LoopbackRelay
from appliance.audio import LINE_RATE_HZ
from appliance.audio.dtmf import tones
from appliance.audio.g711 import telephone
from appliance.audio.wav import read_wav
from appliance.call.session import CallSession, TurnRecord
from appliance.dialogue.conversation import Conversation
from appliance.dialogue.prompt import system_prompt, whole_knowledge
from appliance.errors import ApplianceError
from appliance.line.callers import PiperCaller, caller_speech, with_line_noise
from appliance.llm.reply import Reply
from appliance.line.scripted import ScriptedLine, Step, caller_voiced_end_ms
from appliance.modem.simulator import SimulatorThread
from appliance.outcome import collect, digits, modem_texts, relay_emails, same, score_after
from appliance.records import open_database
from appliance.records.load import RecordsCrm, load_fixtures
from appliance.settings import Settings

def load_set(target: Path) -> tuple[Path, list[tuple[Path, dict]], dict]:
    """(set folder, [(file, scenario)], fixtures) for a set folder or one scenario file."""
    target = Path(target)
    folder = target if target.is_dir() else target.parent
    files = sorted(p for p in folder.glob("*.json") if p.name != "fixtures.json") if target.is_dir() else [target]
    scenarios = []
    for path in files:
        try:
            scenarios.append((path, json.loads(path.read_text())))
        except ValueError as exc:
            raise ApplianceError("simulate-scenario-invalid", f"{path}: {exc}") from None
    fixtures_path = folder / "fixtures.json"
    fixtures = json.loads(fixtures_path.read_text()) if fixtures_path.exists() else {}
    return folder, scenarios, fixtures


def steps_for(scenario: dict, folder: Path, speak=caller_speech, noise_db: float | None = None) -> list[Step]:
    """The caller's steps for a scenario's turns; `speak(text, pad_ms)` voices the caller, over a line with noise
    `noise_db` below the voice when given."""
    steps = []

    def spoken(words: str, pad_ms: int = 300) -> dict:
        voice = speak(words) if pad_ms == 300 else speak(words, pad_ms=pad_ms)
        if noise_db is None:
            return {"pcm": voice}
        return {"pcm": with_line_noise(voice, noise_db, seed=len(steps)), "voice": voice}

    for turn in scenario["turns"]:
        if "say" in turn:
            steps.append(Step(**spoken(turn["say"])))
        elif "audio" in turn:
            pcm, _ = read_wav(folder / turn["audio"], LINE_RATE_HZ)
            steps.append(Step(pcm=telephone(pcm)))
        elif "dtmf" in turn:
            steps.append(Step(pcm=telephone(tones(str(turn["dtmf"])))))
        elif "barge_in" in turn:
            steps.append(Step(**spoken(turn["barge_in"], pad_ms=0), barge_in_after_ms=turn.get("after_ms", 0)))
        elif "silence_ms" in turn:
            steps.append(Step(silence_ms=float(turn["silence_ms"])))
        elif turn.get("hangup"):
            steps.append(Step(hangup=True))
        else:
            raise ApplianceError("simulate-turn-unsupported", f"turn {turn} is not supported yet")
    return steps


def score_turn(number: int, expect: dict, record, ended: bool, company: dict) -> list[dict]:
    """The checks of one turn's `expect` against what the appliance did."""
    reply = (record.reply if record else None) or {}
    spoken = " ".join(record.spoken) if record else ""
    checks = []

    def check(what: str, ok: bool, detail: str) -> None:
        checks.append({"what": f"turn {number} {what}", "ok": bool(ok), "detail": detail})

    for key, want in expect.items():
        if key == "greeting":
            check(key, (record is not None and record.kind == "greeting") == want, f"reply: {spoken!r}")
        elif key == "intent":
            check(key, reply.get("intent") == want, f"got {reply.get('intent')!r}")
        elif key == "intent_any":
            check(key, reply.get("intent") in want, f"got {reply.get('intent')!r}")
        elif key == "entities":
            got = reply.get("entities") or {}
            for name, value in want.items():
                check(f"entity {name}", same(name, value, got.get(name), company["default_country_code"]),
                      f"got {got.get(name)!r}")
        elif key == "needs_clarification":
            check(key, reply.get("needs_clarification") == want, f"got {reply.get('needs_clarification')!r}")
        elif key == "actions":
            got = reply.get("actions") or []
            check(key, all(a in got for a in want), f"got {got}")
        elif key == "no_actions":
            got = reply.get("actions") or []
            check(key, not any(a in got for a in want), f"got {got}")
        elif key == "used_knowledge":
            check(key, reply.get("used_knowledge") == want, f"got {reply.get('used_knowledge')!r}")
        elif key == "escalate":
            check(key, reply.get("escalate_to_human") == want, f"got {reply.get('escalate_to_human')!r}")
        elif key == "reply_mentions":
            for text in want:
                check(f"mentions {text!r}", digits(text) in digits(spoken), f"spoken: {spoken!r}")
        elif key == "reply_avoids":
            for text in want:
                check(f"avoids {text!r}", digits(text) not in digits(spoken), f"spoken: {spoken!r}")
        elif key == "call_ends":
            check(key, ended == want, f"call ended: {ended}")
    return checks


def record_for(step: Step, records: list) -> TurnRecord | None:
    """The record of what answered a step. A caller's turn belongs to the step whose speech holds its last voiced
    audio: a turn is decided only once the caller has stopped, and by then a barge-in that follows may have begun.
    Anything else the appliance said (the greeting, a reprompt) belongs to the step during which it began."""
    spoke_until = step.speech_end_ms if step.speech_end_ms is not None else float("inf")
    heard = [r for r in records if r.kind == "caller" and step.pcm is not None and step.speech_start_ms is not None
             and r.speech_end_ms is not None and step.speech_start_ms <= r.speech_end_ms <= spoke_until]
    said = [r for r in records if r.kind != "caller" and step.started_ms is not None and step.started_ms <= r.at_ms
            and (step.ended_ms is None or r.at_ms < step.ended_ms)]
    return next(iter(heard + said), None)


def _turn_report(number: int, record, ended: bool, latency: dict) -> dict:
    return {"index": number, "heard": record.heard if record else None, "reply": record.reply if record else None,
            "spoken": " ".join(record.spoken) if record else None, "interrupted": bool(record and record.interrupted),
            "call_ended": ended,
            "latency_ms": {k: round(v) if isinstance(v, float) else v for k, v in latency.items()}}


def typed_call(scenario: dict, conversation: Conversation) -> tuple[list, list, str]:
    """The scenario's turns typed straight into the conversation, with no audio: (turn reports, each turn's record
    or None, who hung up). It checks understanding and answers only, in a fraction of the time; latencies, speech
    recognition and barge-in timing are left out, so a set's real score is always the spoken one."""
    turns, records, ended = [], [], False
    for number, turn in enumerate(scenario["turns"]):
        words = turn.get("say") or turn.get("barge_in") or (str(turn["dtmf"]) if "dtmf" in turn else None)
        record = None
        if ended:
            pass
        elif number == 0 and "silence_ms" in turn:
            record = TurnRecord(number, "greeting", 0.0, spoken=[conversation.greeting()])
            record.reply = Reply(record.spoken[0], "greeting").to_dict()
        elif turn.get("hangup"):
            ended = True
        elif words is not None:
            started = time.perf_counter()
            said: list[str] = []
            result = conversation.reply(words, said.append, None)
            record = TurnRecord(number, "caller", 0.0, heard=words, reply=result.reply.to_dict(),
                                spoken=[conversation.spoken(" ".join(said)).strip()])
            record.latency_ms["reply"] = (time.perf_counter() - started) * 1000
            record.call_ended = ended = result.ends_call
        turns.append(_turn_report(number, record, bool(record and record.call_ended),
                                  dict(record.latency_ms) if record else {}))
        records.append(record)
    return turns, records, "appliance" if ended else "caller"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) of the values, 0 for none."""
    return float(np.percentile(values, q)) if values else 0.0


class Simulator:
    """Loads the engines once and runs scenarios, each in a fresh database with its set's knowledge."""

    def __init__(self, settings: Settings, caller_voice: str = "piper", text: bool = False,
                 noise_db: float | None = None):
        self.settings = settings
        self.store = engines.model_store(settings)
        self.text = text  # the caller's words typed, not spoken: no VAD, speech recognition or voice
        self.caller_voice = caller_voice
        self.noise_db = noise_db  # line noise this far below the caller's voice; None: a clean line
        self.responder = engines.responder(settings, self.store)
        if not text:
            if caller_voice == "piper":
                self.speak = PiperCaller(self.store.checked_path(settings.tts.model))
            else:
                self.speak = lambda words, pad_ms=300: caller_speech(words, caller_voice, pad_ms)
            self.transcriber = engines.transcriber(settings, self.store)
            self.synthesizer = engines.synthesizer(settings, self.store)
            self.judge = engines.turn_judge(settings, self.store)
        self.relay = LoopbackRelay().start()  # the emails "the local SMTP relay accepted"
        self.modem = SimulatorThread()  # the texts "the modem sent"

    def close(self) -> None:
        """Stop the relay and the modem."""
        self.relay.stop()
        self.modem.close()

    def _settings_for(self, data_dir: Path) -> Settings:
        """The settings with this scenario's data folder and the simulator's own relay."""
        base = self.settings
        return dataclasses.replace(base, paths=dataclasses.replace(base.paths, data_dir=data_dir),
                                   smtp=dataclasses.replace(base.smtp, host="127.0.0.1", port=self.relay.port,
                                                            starttls=False, username="", password=""),
                                   modem=dataclasses.replace(base.modem, device=self.modem.path))

    def run_scenario(self, scenario: dict, folder: Path, fixtures: dict, data_dir: Path) -> dict:
        """One scenario's report entry: turns, outcome, checks, passed."""
        company = {"name": self.settings.company.name, "timezone": self.settings.company.timezone,
                   "default_country_code": self.settings.company.country_code, **fixtures.get("company", {})}
        settings = self._settings_for(data_dir)
        db = open_database(data_dir / "appliance.db")
        load_fixtures(fixtures)
        queue = make_queue(settings)
        mail_before, texts_before = len(self.relay.received), len(self.modem.sent)
        index = engines.knowledge_index(settings, self.store)
        knowledge = folder / "knowledge"
        index.ingest(knowledge if knowledge.is_dir() else settings.paths.knowledge_dir)
        knowledge = whole_knowledge(index, settings.knowledge.prompt_chars)
        self.responder.warm(system_prompt(company["name"], knowledge))
        # In the company's zone, not the offset written in the file: a time booked across a daylight-saving change
        # takes the offset of its own day.
        now = datetime.fromisoformat(scenario["now"]).astimezone(ZoneInfo(company["timezone"]))
        crm = RecordsCrm()
        whatsapp_online = WhatsappGateway(settings.whatsapp).online
        taker = ActionTaker(company["name"], scenario.get("caller"), index, crm, wake=queue.wake,
                            whatsapp_online=whatsapp_online, privacy=settings.privacy)
        conversation = Conversation(company["name"], index, self.responder, lambda: now,
                                    country_code=company["default_country_code"], caller_id=scenario.get("caller"),
                                    crm=crm, actions=taker, whatsapp_online=whatsapp_online, knowledge=knowledge,
                                    **engines.conversation_options(settings))
        if self.text:
            turns, records, hung_up_by = typed_call(scenario, conversation)
            everything = [r for r in records if r is not None]
        else:
            if hasattr(self.transcriber, "initial_prompt"):
                self.transcriber.initial_prompt = engines.speech_hint(company["name"], conversation.catalog.hint(),
                                                                      settings.stt.vocabulary, crm.order_ids())
            turns, records, everything, hung_up_by = self._spoken_call(scenario, folder, conversation)
        queue.drain()
        queue.close()
        checks = []
        for number, (turn, record) in enumerate(zip(scenario["turns"], records)):
            checks += score_turn(number, turn.get("expect", {}), record, turns[number]["call_ended"], company)
        taker.end_call(everything, hung_up_by,
                       [t["latency_ms"]["voice_to_voice"] for t in turns if "voice_to_voice" in t["latency_ms"]])
        outcome = collect(relay_emails(self.relay.received[mail_before:]), modem_texts(self.modem.sent[texts_before:]))
        checks += score_after(scenario.get("after", {}), outcome, company["default_country_code"])
        index.close()
        db.close()
        return {"name": scenario.get("name", ""), "turns": turns, "outcome": outcome,
                "checks": checks, "passed": all(c["ok"] for c in checks)}

    def _spoken_call(self, scenario: dict, folder: Path, conversation: Conversation) -> tuple[list, list, list, str]:
        """The scenario's turns spoken into a call session from audio: (turn reports, each turn's record or None,
        all the call's records, who hung up)."""
        steps = steps_for(scenario, folder, self.speak, self.noise_db)
        line = ScriptedLine(steps, caller_id=scenario.get("caller"))
        session = CallSession(line, engines.voice_detector(self.settings, self.store), self.transcriber,
                              self.synthesizer, conversation, turns=engines.turn_taker(self.settings), judge=self.judge)
        records = asyncio.run(session.run())
        turns, kept = [], []
        for number, step in enumerate(steps):
            record = record_for(step, records)
            ended = bool(record and record.call_ended) or (line.hung_up_by == "appliance" and step is steps[-1])
            latency = dict(record.latency_ms) if record else {}
            if record and step.pcm is not None:
                v2v = session.voice_to_voice(record, caller_voiced_end_ms(step))
                if v2v is not None:
                    latency["voice_to_voice"] = v2v
                answer = session.voice_to_answer(record, caller_voiced_end_ms(step))
                if answer is not None:
                    latency["voice_to_answer"] = answer
            turns.append(_turn_report(number, record, ended, latency))
            kept.append(record)
        return turns, kept, records, line.hung_up_by or "line"

    def run(self, target: Path, say=print) -> dict:
        """Every scenario of a set (or one file), and the summary."""
        folder, scenarios, fixtures = load_set(target)
        results = []
        for path, scenario in scenarios:
            with tempfile.TemporaryDirectory() as data_dir:
                result = self.run_scenario(scenario, folder, fixtures, Path(data_dir))
            results.append(result)
            passed = sum(c["ok"] for c in result["checks"])
            say(f"{'PASS' if result['passed'] else 'FAIL'} {path.name}: {passed}/{len(result['checks'])} checks")
            for check in result["checks"]:
                if not check["ok"]:
                    say(f"     - {check['what']}: {check['detail']}")
        v2v = [t["latency_ms"]["voice_to_voice"] for r in results for t in r["turns"]
               if "voice_to_voice" in t["latency_ms"]]
        answer = [t["latency_ms"]["voice_to_answer"] for r in results for t in r["turns"]
                  if "voice_to_answer" in t["latency_ms"]]
        checks = [c for r in results for c in r["checks"]]
        summary = {"caller": "typed" if self.text else self.caller_voice, "line_noise_db": self.noise_db,
                   "scenarios": len(results), "passed": sum(r["passed"] for r in results), "checks": len(checks),
                   "checks_passed": sum(c["ok"] for c in checks),
                   "voice_to_voice_ms": {"p50": round(percentile(v2v, 50)), "p95": round(percentile(v2v, 95))},
                   "voice_to_answer_ms": {"p50": round(percentile(answer, 50)), "p95": round(percentile(answer, 95))}}
        say(f"{summary['passed']}/{summary['scenarios']} scenarios, {summary['checks_passed']}/{summary['checks']} "
            f"checks; voice to voice p50 {summary['voice_to_voice_ms']['p50']} ms, "
            f"p95 {summary['voice_to_voice_ms']['p95']} ms; to the answer itself p50 "
            f"{summary['voice_to_answer_ms']['p50']} ms, p95 {summary['voice_to_answer_ms']['p95']} ms")
        return {"scenarios": results, "summary": summary}
