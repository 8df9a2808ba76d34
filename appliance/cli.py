"""The `appliance` command: models, doctor, settings, and asking a question from a WAV file."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from appliance import logs
from appliance import settings as settings_module
from appliance.errors import ApplianceError
from appliance.models import ModelStore


def _store(settings) -> ModelStore:
    return ModelStore(settings.paths.models_dir)


def cmd_models_list(settings, args) -> int:
    store = _store(settings)
    for model in store.models().values():
        state = "ok" if not store.problems(model) else "NOT INSTALLED OR BAD"
        origin = "provisioned" if model.provisioned else ("default" if model.default else "optional")
        print(f"{model.role:10} {origin:11} {state:20} {model.folder(store.dir)}  {model.about}")
    return 0


def cmd_models_install(settings, args) -> int:
    store = _store(settings)
    models = store.models().values() if args.all else store.selected(args.roles)
    store.install(list(models), settings.paths.wheelhouse, download=not args.offline)
    return 0


def cmd_models_verify(settings, args) -> int:
    store = _store(settings)
    models = store.models().values() if args.all else store.selected(args.roles)
    bad = 0
    for model in models:
        problems = store.problems(model)
        for problem in problems:
            print(f"FAIL {problem}", file=sys.stderr)
        if not problems and not args.quiet:
            print(f"ok   {model.role:10} {len(model.files)} file(s), sha256 match  {model.folder(store.dir)}")
        bad += bool(problems)
    return 1 if bad else 0


def cmd_models_add(settings, args) -> int:
    model = _store(settings).add(args.role, Path(args.path), args.sha256, args.about or "")
    print(f"registered {model.role}: {model.main_path(settings.paths.models_dir)} ({len(model.files)} file(s) checked)")
    return 0


def cmd_models_packages(settings, args) -> int:
    store = _store(settings)
    print("\n".join(store.packages(store.selected(args.roles))))
    return 0


def cmd_settings(settings, args) -> int:
    print(f"# settings file: {settings_module.config_path(args.config) or '(none: defaults)'}")
    changed = settings.paths.data_dir / settings_module.PANEL_FILE
    if changed.is_file():
        print(f"# with the admin panel's changes over it: {changed}")
    section = None
    for name, key, default, doc in settings_module.describe():
        if name != section:
            print(f"\n[{name}]")
            section = name
        print(f"# {doc}\n{key} = {getattr(getattr(settings, name), key)}")
    return 0


def cmd_doctor(settings, args) -> int:
    from appliance.doctor import run_checks

    return run_checks(settings)


def cmd_ask(settings, args) -> int:
    from appliance.pipeline import ask

    return ask(settings, args.wav, args.out, args.text)


def cmd_simulate(settings, args) -> int:
    import json

    from appliance.simulate import Simulator

    simulator = Simulator(settings, caller_voice=args.caller_voice, text=args.text, noise_db=args.line_noise)
    try:
        report = simulator.run(Path(args.target))
    finally:
        simulator.close()
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"report: {args.report}")
    return 0 if report["summary"]["passed"] == report["summary"]["scenarios"] else 1


def cmd_bench(settings, args) -> int:
    from appliance import bench

    if args.lines:
        from appliance.bench_lines import run_lines

        results = run_lines(settings, args.lines)
    elif args.turns:
        results = bench.run_turns(settings)
    elif args.backchannels:
        results = bench.run_backchannels(settings)
    elif args.calls:
        counts = [int(count) for count in args.calls.split(",")]
        results = bench.run_concurrent(settings, counts, Path(args.target[0]))
    else:
        results = bench.run(settings, [Path(target) for target in args.target])
    if args.out:
        bench.write(results, Path(args.out))
        print(f"results: {args.out}")
    return 0


def cmd_knowledge_ingest(settings, args) -> int:
    from appliance import engines

    folder = Path(args.folder) if args.folder else settings.paths.knowledge_dir
    report = engines.knowledge_index(settings, engines.model_store(settings)).ingest(folder)
    print(report)
    return 1 if report.failed else 0


def cmd_knowledge_search(settings, args) -> int:
    from appliance import engines

    index = engines.knowledge_index(settings, engines.model_store(settings))
    for passage in index.search(args.question, k=settings.knowledge.top_k):
        mark = "" if passage.score >= settings.knowledge.min_score else "  (below min_score: not used)"
        print(f"{passage.score:.2f}  {passage.source} > {passage.heading}{mark}\n      {passage.text[:200]}")
    return 0


def cmd_worker(settings, args) -> int:
    from appliance.actions.queue import run_worker

    logging.getLogger().setLevel(logging.INFO)
    run_worker(settings, workers=args.workers)
    return 0


def _records(settings):
    from appliance.records import open_database

    return open_database(settings.paths.data_dir / "appliance.db")


def cmd_records_import_orders(settings, args) -> int:
    from appliance.records.load import import_orders

    _records(settings)
    print(f"imported {import_orders(Path(args.csv))} order(s) from {args.csv}")
    return 0


def cmd_records_load(settings, args) -> int:
    import json

    from appliance.records.load import load_fixtures

    _records(settings)
    try:
        fixtures = json.loads(Path(args.json).read_text())
    except (OSError, ValueError) as exc:
        raise ApplianceError("records-fixtures-invalid", f"{args.json}: {exc}") from None
    load_fixtures(fixtures)
    print(f"loaded {', '.join(f'{len(v)} {k}' for k, v in fixtures.items() if k != 'company')} from {args.json}")
    return 0


def cmd_outbox(settings, args) -> int:
    from appliance.records.models import Outbox

    _records(settings)
    rows = Outbox.select().order_by(Outbox.id.desc()).limit(args.limit)
    for row in reversed(list(rows)):
        detail = row.last_error if row.state != "sent" else row.reference
        print(f"{row.id:5} {row.state:8} {row.channel:8} {row.recipient:28} tries {row.attempts}  {detail}")
    return 0


def cmd_modem_simulate(settings, args) -> int:
    from appliance.modem.simulator import main as simulate_modem

    options = ["--signal", str(args.signal)] + ["--no-sim"] * args.no_sim + ["--unregistered"] * args.unregistered
    return simulate_modem(options)


def cmd_modem_status(settings, args) -> int:
    import asyncio

    from appliance.modem.driver import probe

    device = args.device or settings.modem.device
    if not device:
        raise ApplianceError("modem-not-configured", "no modem: set [modem] device or give --device")
    status = asyncio.run(probe(device, settings.modem.baudrate))
    print(f"{device}: SIM {status.sim}, network {status.registration}, signal "
          f"{status.signal_dbm if status.signal_dbm is not None else 'unknown'} dBm")
    return 0 if status.sim_ready and status.registered else 1


def cmd_calls(settings, args) -> int:
    from appliance.records.models import Call, CallStats

    _records(settings)
    for call in Call.select().order_by(Call.id.desc()).limit(args.limit):
        stats = CallStats.get_or_none(CallStats.call == call)
        summary = (f"{stats.turns} turns, {stats.duration_s} s, v2v p50 {stats.voice_to_voice_p50_ms} ms, "
                   f"intents {','.join(dict.fromkeys(stats.intents))}, actions {','.join(stats.actions) or '-'}"
                   f"{', escalated' if stats.escalated else ''}, ended by {call.ended_by or '?'}"
                   ) if stats else "in progress"
        print(f"{call.id:5} {call.started_at}  {call.caller_id or 'withheld':14} {summary}")
    return 0


def cmd_callbacks(settings, args) -> int:
    from appliance.records.models import Callback

    _records(settings)
    for callback in Callback.select().order_by(Callback.at_utc):
        print(f"{callback.id:5} {callback.state:9} {callback.phone:16} {callback.at}  tries {callback.attempts}"
              f"  {callback.outcome}")
    return 0


def cmd_relay(settings, args) -> int:
    import time

    from appliance.actions.relay import LoopbackRelay

    relay = LoopbackRelay(port=args.port, folder=Path(args.folder)).start()
    print(f"SMTP relay on 127.0.0.1:{relay.port}, keeping mail in {args.folder} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        relay.stop()
    return 0


def cmd_serve(settings, args) -> int:
    import asyncio

    from appliance.serve import serve

    logging.getLogger("appliance").setLevel(logging.INFO)
    uris = args.line or [uri.strip() for uri in settings.line.listen.split(",") if uri.strip()]
    return asyncio.run(serve(settings, uris))


def cmd_panel(settings, args) -> int:
    from appliance.panel.app import serve

    logging.getLogger("appliance").setLevel(logging.INFO)
    return serve(settings, args.listen or settings.panel.listen, config=args.config)


def cmd_panel_add_admin(settings, args) -> int:
    import getpass

    from appliance.panel.auth import add_admin

    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.name}: ")
        if password and getpass.getpass("again: ") != password:
            raise ApplianceError("panel-password-mismatch", "the two passwords differ; nothing was changed")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    _records(settings)
    created = add_admin(args.name, password)
    print(f"{'created' if created else 'set a new password for'} admin {args.name.strip()}")
    return 0


def cmd_call(settings, args) -> int:
    import asyncio

    from appliance.softphone import call

    return asyncio.run(call(settings, args.uri, text=args.say, wav=args.wav, listen_s=args.listen))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="appliance", description="Offline voice AI phone-support appliance.")
    top.add_argument("--config", help="INI settings file (default: $APPLIANCE_CONFIG, /etc/appliance/appliance.ini)")
    top.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = top.add_subparsers(dest="command", required=True)

    ask = commands.add_parser("ask", help="answer a caller's question from a WAV file through STT, retrieval, LLM and TTS")
    ask.add_argument("wav", nargs="?", help="the question (default: the built-in caller's recorded question)")
    ask.add_argument("--out", default=None, help="where to write the reply audio (default: DATA_DIR/reply.wav)")
    ask.add_argument("--text", help="skip speech recognition and ask this text")
    ask.set_defaults(run=cmd_ask)

    serve = commands.add_parser("serve", help="answer phone calls on the [line] listen lines (SIP, AudioSocket)")
    serve.add_argument("--line", action="append", help="a line URI such as sip://0.0.0.0:5060 or "
                       "audiosocket://0.0.0.0:9092 (repeatable; replaces [line] listen)")
    serve.set_defaults(run=cmd_serve)

    panel = commands.add_parser("panel", help="serve the admin panel on [panel] listen (0.0.0.0:8080)")
    panel.add_argument("--listen", help="HOST:PORT to serve on (replaces [panel] listen)")
    panel.set_defaults(run=cmd_panel)
    admins = panel.add_subparsers(dest="panel_command")
    add_admin = admins.add_parser("add-admin", help="create an admin, or set a new password (read from the terminal, "
                                  "or the first line of standard input)")
    add_admin.add_argument("name")
    add_admin.set_defaults(run=cmd_panel_add_admin)

    phone = commands.add_parser("call", help="a softphone: dial a SIP URI, say one line, print what comes back")
    phone.add_argument("uri", help="e.g. sip:support@127.0.0.1:5060")
    spoken = phone.add_mutually_exclusive_group(required=True)
    spoken.add_argument("--say", help="what to say (synthesized with the box's voice)")
    spoken.add_argument("--wav", help="a recording to play instead")
    phone.add_argument("--listen", type=float, default=30.0, help="longest wait for the answer, in seconds")
    phone.set_defaults(run=cmd_call)

    simulate = commands.add_parser("simulate", help="answer scripted calls from a scenario set, from audio, and score them")
    simulate.add_argument("target", help="a scenario set folder or one scenario file")
    simulate.add_argument("--report", help="write the JSON report here")
    simulate.add_argument("--caller-voice", default="piper",
                          help="piper (default), or an espeak-ng voice such as en-us for a harder caller")
    simulate.add_argument("--line-noise", type=float, metavar="DB",
                          help="add line hiss and hum this many dB below the caller's voice (20: a poor line)")
    simulate.add_argument("--text", action="store_true",
                          help="type the callers' words instead of speaking them: checks understanding and answers "
                               "only, much faster (no speech recognition, latency or barge-in timing)")
    simulate.set_defaults(run=cmd_simulate)

    bench = commands.add_parser("bench", help="voice-to-voice latency by stage, memory, and recognition accuracy")
    sets = settings_module.ROOT / "tests" / "scenarios"
    every_set = [str(folder) for folder in sorted(sets.iterdir()) if folder.is_dir()] if sets.is_dir() else []
    bench.add_argument("target", nargs="*", default=[str(settings_module.ROOT.parent / "shared" / "scenarios" / "seed"),
                                                     *every_set],
                       help="scenario sets (default: ../shared/scenarios/seed and every set in tests/scenarios, the "
                            "blind ones included)")
    bench.add_argument("--out", help="write the numbers and the scenario report as JSON here")
    bench.add_argument("--calls", help="instead: voice to voice with this many calls at once, e.g. 1,2,4, the callers "
                       "taken from the first set's scenarios")
    bench.add_argument("--turns", action="store_true", help="instead: how soon a caller's turn ends, and how often "
                       "one pausing mid-sentence is cut off, with the end-of-turn model and with silence alone")
    bench.add_argument("--backchannels", action="store_true", help="instead: how often \"mm-hm\", \"okay\", coughs "
                       "and line noise under the appliance's voice stop it, and how soon real interruptions do")
    bench.add_argument("--lines", type=int, metavar="N", help="instead: N calls on each of a SIP, an AudioSocket and a "
                       "GSM modem line (the SIM7600 twin) of one appliance serve, voice to voice measured the same way "
                       "on each, from the caller's end, beside the appliance's own stage times")
    bench.set_defaults(run=cmd_bench)

    knowledge = commands.add_parser("knowledge", help="the knowledge index").add_subparsers(
        dest="knowledge_command", required=True)
    ingest = knowledge.add_parser("ingest", help="bring the index in line with a folder of documents")
    ingest.add_argument("folder", nargs="?", help="default: the knowledge_dir setting")
    ingest.set_defaults(run=cmd_knowledge_ingest)
    search = knowledge.add_parser("search", help="the passages a question finds, with their scores")
    search.add_argument("question")
    search.set_defaults(run=cmd_knowledge_search)

    worker = commands.add_parser("worker", help="drain the action queue: send emails and SMS, mark callbacks due")
    worker.add_argument("--workers", type=int, default=1, help="worker threads (default 1)")
    worker.set_defaults(run=cmd_worker)
    outbox = commands.add_parser("outbox", help="the latest messages in the outbox and their state")
    outbox.add_argument("--limit", type=int, default=20)
    outbox.set_defaults(run=cmd_outbox)
    modem = commands.add_parser("modem", help="the GSM modem").add_subparsers(dest="modem_command", required=True)
    status = modem.add_parser("status", help="SIM, network registration and signal of the modem (exit 1 unless ready)")
    status.add_argument("--device", help="serial device (default: [modem] device)")
    status.set_defaults(run=cmd_modem_status)
    simulated = modem.add_parser("simulate", help="a SIM7600 simulator on a pseudo-terminal (prints its path)")
    simulated.add_argument("--no-sim", action="store_true", help="no SIM card in the slot")
    simulated.add_argument("--unregistered", action="store_true", help="not registered on a network (searching)")
    simulated.add_argument("--signal", type=int, default=20, help="+CSQ signal, 0-31 or 99 (default 20)")
    simulated.set_defaults(run=cmd_modem_simulate)
    calls = commands.add_parser("calls", help="the latest calls with their analytics")
    calls.add_argument("--limit", type=int, default=20)
    calls.set_defaults(run=cmd_calls)
    commands.add_parser("callbacks", help="callbacks promised to callers: scheduled, due, done or failed"
                        ).set_defaults(run=cmd_callbacks)
    relay = commands.add_parser("relay", help="run a loopback SMTP relay that keeps what the box sends, for testing")
    relay.add_argument("--port", type=int, default=2525)
    relay.add_argument("--folder", default="var/mail", help="where accepted mail is written as .eml files")
    relay.set_defaults(run=cmd_relay)
    records = commands.add_parser("records", help="the records database").add_subparsers(
        dest="records_command", required=True)
    orders = records.add_parser("import-orders", help="import or update orders from a CSV file with a header row")
    orders.add_argument("csv")
    orders.set_defaults(run=cmd_records_import_orders)
    load = records.add_parser("load", help="load leads, orders, agents and staff from a fixtures JSON file")
    load.add_argument("json")
    load.set_defaults(run=cmd_records_load)

    commands.add_parser("doctor", help="check the box: Python, libraries, sqlite-vec, models, disk, memory"
                        ).set_defaults(run=cmd_doctor)
    commands.add_parser("settings", help="print every setting in force, with its documentation"
                        ).set_defaults(run=cmd_settings)

    models = commands.add_parser("models", help="install, verify and register model files").add_subparsers(
        dest="models_command", required=True)
    for name, run, text in (("install", cmd_models_install, "assemble model files from their pinned packages"),
                            ("verify", cmd_models_verify, "check every model file's sha256")):
        sub = models.add_parser(name, help=text)
        sub.add_argument("roles", nargs="*", help="model roles (default: the default models)")
        sub.add_argument("--all", action="store_true", help="every model in the manifest")
        sub.set_defaults(run=run)
    models.choices["install"].add_argument("--offline", action="store_true",
                                           help="use only wheels already in the wheelhouse")
    models.choices["verify"].add_argument("-q", "--quiet", action="store_true", help="print only problems")
    models.add_parser("list", help="every model role and its state").set_defaults(run=cmd_models_list)
    add = models.add_parser("add", help="register a provisioned model file or folder under a role")
    add.add_argument("role", help="role to serve, e.g. llm")
    add.add_argument("path", help="the model file (or folder, such as a Vosk model)")
    add.add_argument("--sha256", help="the file's published sha256 (required for a file)")
    add.add_argument("--about", help="a note for people")
    add.set_defaults(run=cmd_models_add)
    packages = models.add_parser("packages", help="print the pinned packages the models come from")
    packages.add_argument("roles", nargs="*")
    packages.set_defaults(run=cmd_models_packages)
    return top


def main(argv: list[str] | None = None) -> int:
    """Run one command; an ApplianceError becomes one line on stderr and exit status 2."""
    args = parser().parse_args(argv)
    # A pipe gets Python's block buffering: a line another program waits for (serve's "ready", the
    # softphone's results) would sit in the buffer. Each line goes out as it is printed, in any environment.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
    # Under systemd stderr goes to the journal, which adds its own time stamp (JOURNAL_STREAM is set then).
    logs.configure(args.verbose, journal=bool(os.environ.get("JOURNAL_STREAM")))
    try:
        settings = settings_module.load(args.config)
        return args.run(settings, args)
    except ApplianceError as exc:
        print(f"appliance: {exc}", file=sys.stderr)
        return 2
