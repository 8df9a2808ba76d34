"""The test calls page: a scenario (uploaded, chosen, or a caller's lines typed in) answered in text and scored.

A test call is what `appliance simulate` does, in text: each caller line goes straight to the conversation
(no speech synthesis or recognition), with the same retrieval, reply model, policy and actions as a call,
and is scored with simulate's own checks. It runs in a process of its own (`python -m
appliance.panel.testcalls JOB_DIR`) against scratch copies of the records and the knowledge index, with
the messages going to a loopback SMTP relay and a modem simulator, as simulate isolates its calls: nothing it
does reaches the live database, a customer's inbox or phone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import pickle
import secrets
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web

from appliance import sqlite
from appliance.errors import ApplianceError
from appliance.panel.auth import audit
from appliance.panel.context import PANEL, SESSION
from appliance.panel.html import Markup, html, join
from appliance.panel.pages import _csrf, page, redirect, table
from appliance.settings import Settings

MB = 1024 * 1024
TURN_KINDS = ("say", "audio", "dtmf", "barge_in", "silence_ms", "hangup")
KEEP_JOBS = 20


def check_scenario(data: bytes, max_bytes: int) -> dict:
    """A scenario file's JSON (../shared/scenarios/FORMAT.md), checked enough to run; else an ApplianceError."""
    if len(data) > max_bytes:
        raise ApplianceError("panel-upload-too-large", f"{len(data) / MB:.1f} MB is more than the "
                                                       f"{max_bytes / MB:g} MB an upload may be")
    try:
        scenario = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApplianceError("panel-scenario-invalid", f"not a scenario: not JSON ({exc})") from None
    turns = scenario.get("turns") if isinstance(scenario, dict) else None
    if not isinstance(turns, list) or not turns:
        raise ApplianceError("panel-scenario-invalid", "not a scenario: it needs a list of \"turns\"")
    for number, turn in enumerate(turns):
        if not isinstance(turn, dict) or not any(key in turn for key in TURN_KINDS):
            raise ApplianceError("panel-scenario-invalid", f"turn {number} is none of {', '.join(TURN_KINDS)}")
    if scenario.get("now") is not None:
        try:
            datetime.fromisoformat(str(scenario["now"]))
        except ValueError:
            raise ApplianceError("panel-scenario-invalid", f"\"now\" {scenario['now']!r} is not an ISO 8601 time"
                                 ) from None
    return scenario


def typed_scenario(lines: str, caller: str | None, now: datetime) -> dict:
    """A scenario from a caller's lines, one per line: the greeting first, then each line said in turn."""
    said = [" ".join(line.split()) for line in lines.splitlines() if line.strip()]
    if not said:
        raise ApplianceError("panel-scenario-invalid", "type at least one line the caller says")
    return {"name": "typed lines", "now": now.isoformat(timespec="seconds"), "caller": caller or None,
            "turns": [{"silence_ms": 2500, "expect": {"greeting": True}}] + [{"say": text} for text in said]}


# ---- the run, in its own process ----------------------------------------------------------------------------

@dataclass
class _Turn:
    """What score_turn and end_call read of a turn (the call session's TurnRecord, without audio)."""

    index: int
    kind: str
    heard: str | None = None
    reply: dict | None = None
    spoken: list = field(default_factory=list)
    interrupted: bool = False
    call_ended: bool = False
    latency_ms: dict = field(default_factory=dict)


def run_text_call(settings: Settings, scenario: dict, fixtures: dict | None = None) -> dict:
    """One scenario answered in text against the records and index in `settings.paths.data_dir`; its report
    entry as simulate writes it. The settings must already point at scratch data and loopback channels."""
    from appliance import engines
    from appliance.actions.perform import ActionTaker
    from appliance.actions.queue import make_queue
    from appliance.dialogue.conversation import Conversation
    from appliance.dialogue.prompt import system_prompt, whole_knowledge
    from appliance.records import open_database
    from appliance.records.load import RecordsCrm, load_fixtures
    from appliance.simulate import score_turn

    company = {"name": settings.company.name, "timezone": settings.company.timezone,
               "default_country_code": settings.company.country_code, **(fixtures or {}).get("company", {})}
    data_dir = settings.paths.data_dir
    db = open_database(data_dir / "appliance.db")  # binds the records to the scratch copy, in this process
    if fixtures:
        load_fixtures(fixtures)
    queue = make_queue(settings)
    store = engines.model_store(settings)
    index = engines.knowledge_index(settings, store)
    if not index.count():
        index.ingest(settings.paths.knowledge_dir)
    knowledge = whole_knowledge(index, settings.knowledge.prompt_chars)
    responder = engines.responder(settings, store)
    responder.warm(system_prompt(company["name"], knowledge))
    zone = ZoneInfo(company["timezone"])
    now = datetime.fromisoformat(scenario["now"]).astimezone(zone) if scenario.get("now") else datetime.now(zone)
    caller = scenario.get("caller")
    crm = RecordsCrm()
    taker = ActionTaker(company["name"], caller, index, crm, wake=queue.wake, privacy=settings.privacy)
    conversation = Conversation(company["name"], index, responder, lambda: now,
                                country_code=company["default_country_code"], caller_id=caller, crm=crm,
                                actions=taker, knowledge=knowledge, **engines.conversation_options(settings))
    records, turns, checks, ended, greeted = [], [], [], False, False
    for number, turn in enumerate(scenario["turns"]):
        record = None
        text = turn.get("say", turn.get("barge_in", turn.get("dtmf")))
        if ended:
            pass
        elif text is not None:
            record = _Turn(len(records), "caller", heard=str(text))
            result = conversation.reply(str(text))
            record.reply = result.reply.to_dict()
            record.spoken = [conversation.spoken(result.reply.immediate_response)]
            record.latency_ms = {k: round(v) for k, v in result.stages_ms.items() if isinstance(v, (int, float))}
            if result.ends_call:  # the reply was the goodbye: the session hangs up after it
                record.call_ended, ended = True, True
        elif "silence_ms" in turn and not greeted:
            record = _Turn(len(records), "greeting", reply={"intent": "greeting", "actions": [],
                                                            "used_knowledge": False, "escalate_to_human": False},
                           spoken=[conversation.greeting()])
        elif turn.get("hangup"):
            ended = True
        elif "audio" in turn:
            checks.append({"what": f"turn {number} audio", "ok": False,
                           "detail": "a recorded turn needs audio: run it with appliance simulate"})
        greeted = True
        if record is not None:
            records.append(record)
        turns.append({"index": number, "said": text, "heard": record.heard if record else None,
                      "reply": record.reply if record else None,
                      "spoken": " ".join(record.spoken) if record else None,
                      "call_ended": bool(record and record.call_ended) or (ended and record is None),
                      "latency_ms": record.latency_ms if record else {}})
        checks += score_turn(number, turn.get("expect", {}), record, bool(record and record.call_ended), company)
    taker.end_call(records, "appliance" if ended else "caller")
    queue.drain()
    queue.close()
    index.close()
    db.close()
    return {"name": scenario.get("name", ""), "turns": turns, "checks": checks, "company": company,
            "passed": all(c["ok"] for c in checks)}


def run_job(job_dir: Path) -> dict:
    """The test call in `job_dir` (settings.pickle, scenario.json, scratch databases): messages go to a
    loopback relay and a modem simulator; the outcome and the `after` checks join the report."""
    from appliance.actions.relay import LoopbackRelay
    from appliance.modem.simulator import SimulatorThread
    from appliance.outcome import collect, modem_texts, relay_emails, score_after

    settings: Settings = pickle.loads((job_dir / "settings.pickle").read_bytes())
    scenario = json.loads((job_dir / "scenario.json").read_text())
    fixtures = json.loads((job_dir / "fixtures.json").read_text()) if (job_dir / "fixtures.json").exists() else None
    relay, modem = LoopbackRelay().start(), SimulatorThread()
    try:
        settings = dataclasses.replace(
            settings, paths=dataclasses.replace(settings.paths, data_dir=job_dir / "data"),
            smtp=dataclasses.replace(settings.smtp, host="127.0.0.1", port=relay.port, starttls=False, username="",
                                     password=""),
            modem=dataclasses.replace(settings.modem, device=modem.path),
            whatsapp=dataclasses.replace(settings.whatsapp, gateway_url=""))
        report = run_text_call(settings, scenario, fixtures)
        outcome = collect(relay_emails(relay.received), modem_texts(modem.sent))
    finally:
        relay.stop()
        modem.close()
    report["outcome"] = outcome
    report["checks"] += score_after(scenario.get("after", {}), outcome, report["company"]["default_country_code"])
    report["passed"] = all(c["ok"] for c in report["checks"])
    return report


def main(argv: list[str]) -> int:
    job_dir = Path(argv[0])
    try:
        report = run_job(job_dir)
    except ApplianceError as exc:
        (job_dir / "error.txt").write_text(str(exc))
        return 2
    (job_dir / "report.json").write_text(json.dumps(report, ensure_ascii=False, default=str))
    return 0


# ---- the page -------------------------------------------------------------------------------------------------

@dataclass
class Job:
    """A test call: running, done (with its report) or failed (with why)."""

    number: int
    name: str
    who: str
    state: str = "running"
    report: dict | None = None
    error: str = ""


def _backup(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite file, taken while others may be writing it."""
    if source.exists():
        sqlite.backup(source, target)  # the process's one SQLite library: a second one on the same WAL file crashes


class Bench:
    """The test calls of this panel process, one running at a time."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.jobs: dict[int, Job] = {}
        self._lock = asyncio.Lock()
        self._tasks: set = set()
        self._numbers = iter(range(1, 1 << 30))

    def scenarios_dir(self) -> Path:
        return self.settings.paths.data_dir / "scenarios"

    def saved(self) -> list[tuple[str, str]]:
        """(file name, scenario name) of the scenarios uploaded before."""
        found = []
        for path in sorted(self.scenarios_dir().glob("scenario-*.json")):
            try:
                found.append((path.name, str(json.loads(path.read_text()).get("name") or path.name)))
            except (OSError, ValueError):
                continue
        return found

    def keep(self, scenario: dict) -> str:
        """Save an uploaded scenario under a generated name, to be chosen again."""
        folder = self.scenarios_dir()
        folder.mkdir(parents=True, exist_ok=True)
        name = f"scenario-{secrets.token_hex(6)}.json"
        (folder / name).write_text(json.dumps(scenario, indent=1, ensure_ascii=False))
        return name

    def start(self, scenario: dict, who: str) -> Job:
        job = Job(next(self._numbers), str(scenario.get("name") or "test call"), who)
        self.jobs[job.number] = job
        for old in sorted(self.jobs)[:-KEEP_JOBS]:
            del self.jobs[old]
        task = asyncio.get_running_loop().create_task(self._run(job, scenario))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    def _prepare(self, job_dir: Path, scenario: dict) -> None:
        data = job_dir / "data"
        data.mkdir()
        live = self.settings.paths.data_dir
        _backup(live / "appliance.db", data / "appliance.db")
        _backup(live / "knowledge.db", data / "knowledge.db")
        (job_dir / "settings.pickle").write_bytes(pickle.dumps(self.settings))
        (job_dir / "scenario.json").write_text(json.dumps(scenario, ensure_ascii=False))

    async def _run(self, job: Job, scenario: dict) -> None:
        async with self._lock:
            job_dir = Path(tempfile.mkdtemp(prefix="panel-testcall-"))
            try:
                await asyncio.to_thread(self._prepare, job_dir, scenario)
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "appliance.panel.testcalls", str(job_dir),
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
                _, errors = await process.communicate()
                report = job_dir / "report.json"
                if process.returncode == 0 and report.exists():
                    job.report, job.state = json.loads(report.read_text()), "done"
                else:
                    why = job_dir / "error.txt"
                    job.error = why.read_text() if why.exists() else (
                        errors.decode(errors="replace").strip().splitlines() or ["the test call stopped"])[-1]
                    job.state = "failed"
            except (OSError, ApplianceError) as exc:
                job.state, job.error = "failed", str(exc)
            finally:
                await asyncio.to_thread(shutil.rmtree, job_dir, True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


BENCH = web.AppKey("testcall_bench", Bench)


def _form(request, bench: Bench, saved: list) -> Markup:
    options = join(html('<option value="{f}">{n}</option>', f=f, n=n) for f, n in saved)
    choose = html('<label>or one uploaded before <select name="saved"><option value="">—</option>{o}</select></label>',
                  o=options) if saved else ""
    return html('<form method="post" action="/testcalls" enctype="multipart/form-data" class="testcall">'
                '<input type="hidden" name="csrf" value="{csrf}">'
                '<fieldset><legend>A scenario file</legend><input type="file" name="scenario" accept=".json"> '
                '{choose}</fieldset>'
                '<fieldset><legend>Or what the caller says, one line each</legend>'
                '<textarea name="lines" rows="5" cols="70"></textarea><br>'
                '<label>Caller number <input name="caller" inputmode="tel"></label></fieldset>'
                '<button type="submit">Run test call</button></form>', csrf=_csrf(request), choose=choose)


async def testcalls_page(request, note: str = "", status: int = 200):
    bench = request.app[BENCH]
    saved = await asyncio.to_thread(bench.saved)
    rows = [html('<tr><td><a href="/testcalls/{n}">{n}</a></td><td>{name}</td><td>{who}</td><td>{state}</td>'
                 '<td>{score}</td></tr>', n=job.number, name=job.name, who=job.who, state=job.state,
                 score=_score(job.report) if job.report else job.error)
            for job in sorted(bench.jobs.values(), key=lambda job: -job.number)]
    alert = html('<p class="error" role="alert">{n}</p>', n=note) if note else ""
    body = html('{alert}<p class="muted">Answered in text with the knowledge as indexed now, against a scratch copy '
                'of the records: nothing reaches callers, the database or the outbox.</p>{form}<h2>Test calls</h2>'
                '{table}', alert=alert, form=_form(request, bench, saved),
                table=table(("#", "Scenario", "By", "State", "Score"), rows, "No test calls yet."))
    return page(request, "Test calls", body, status=status)


def _score(report: dict) -> str:
    checks = report["checks"]
    return f"{'PASS' if report['passed'] else 'FAIL'}: {sum(c['ok'] for c in checks)}/{len(checks)} checks passed"


async def run_testcall(request):
    bench, form = request.app[BENCH], await request.post()
    settings = request.app[PANEL].settings
    max_bytes = int(settings.panel.upload_max_mb * MB)
    upload, chosen = form.get("scenario"), str(form.get("saved", ""))
    lines = str(form.get("lines", ""))
    try:
        if isinstance(upload, web.FileField) and upload.filename:
            scenario = check_scenario(await asyncio.to_thread(upload.file.read), max_bytes)
            await asyncio.to_thread(bench.keep, scenario)
        elif chosen:
            if chosen not in dict(await asyncio.to_thread(bench.saved)):
                raise web.HTTPNotFound(text="No such scenario.")
            scenario = check_scenario((bench.scenarios_dir() / chosen).read_bytes(), max_bytes)
        else:
            zone = ZoneInfo(settings.company.timezone)
            scenario = typed_scenario(lines, str(form.get("caller", "")).strip(), datetime.now(zone))
    except ApplianceError as exc:
        return await testcalls_page(request, f"The test call was not started: {exc.message}",
                                    status=413 if exc.code == "panel-upload-too-large" else 400)
    who = request[SESSION].admin
    job = bench.start(scenario, who)
    await request.app[PANEL].records.run(audit, who, f"ran test call {job.number} ({job.name!r})")
    return redirect(f"/testcalls/{job.number}")


def _job(request) -> Job:
    try:
        job = request.app[BENCH].jobs.get(int(request.match_info["id"]))
    except ValueError:
        job = None
    if job is None:
        raise web.HTTPNotFound(text="No such test call.")
    return job


def report_html(report: dict) -> Markup:
    checks = [html('<tr class="{cls}"><td>{ok}</td><td>{what}</td><td>{detail}</td></tr>',
                   cls="check-ok" if c["ok"] else "check-failed", ok="passed" if c["ok"] else "FAILED",
                   what=c["what"], detail=c["detail"]) for c in report["checks"]]
    turns = [html('<tr><td>{i}</td><td>{said}</td><td>{spoken}</td><td>{intent}</td><td>{actions}</td></tr>',
                  i=t["index"], said=t["said"] or "", spoken=t["spoken"] or "",
                  intent=(t["reply"] or {}).get("intent", ""), actions=", ".join((t["reply"] or {}).get("actions", [])))
             for t in report["turns"]]
    outcome = report.get("outcome", {})
    sent = ", ".join(f"{len(v)} {k}" for k, v in outcome.items() if v) or "nothing"
    return html('<p id="score" class="{cls}">{score}</p><h2>Checks</h2>{checks}<h2>Transcript</h2>{turns}'
                '<p class="muted">What it would have sent or recorded (kept in the scratch copy): {sent}</p>',
                cls="state-sent" if report["passed"] else "state-failed", score=_score(report),
                checks=table(("", "Check", "Detail"), checks, "This scenario has no checks."),
                turns=table(("Turn", "Caller", "Appliance", "Intent", "Actions"), turns), sent=sent)


async def testcall_page(request):
    job = _job(request)
    if job.state == "running":
        body = html('<p id="testcall" data-job="{n}" data-state="running">Running {name}… this page shows the '
                    'result when it is done.</p><script src="/static/testcalls.js" defer></script>',
                    n=job.number, name=job.name)
    elif job.state == "failed":
        body = html('<p id="testcall" data-state="failed" class="error">The test call failed: {e}</p>', e=job.error)
    else:
        body = html('<div id="testcall" data-state="done">{r}</div>', r=report_html(job.report))
    return page(request, f"Test call {job.number}: {job.name}", html('{b}<p><a href="/testcalls">All test calls</a>'
                                                                    '</p>', b=body))


async def api_testcall(request):
    job = _job(request)
    return web.json_response({"number": job.number, "state": job.state, "error": job.error,
                              "passed": job.report["passed"] if job.report else None})


def setup(app: web.Application, settings: Settings) -> None:
    """The test call bench and its routes."""
    bench = app[BENCH] = Bench(settings)

    async def close(app):
        await bench.close()

    app.on_cleanup.append(close)
    app.router.add_get("/testcalls", testcalls_page)
    app.router.add_post("/testcalls", run_testcall)
    app.router.add_get("/testcalls/{id}", testcall_page)
    app.router.add_get("/api/testcalls/{id}", api_testcall)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
