"""`appliance doctor`: one line per check of the box, each failure with what to do about it."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import shutil
import sys
from dataclasses import dataclass
from typing import Callable

from appliance.models import ModelStore

MIN_FREE_DISK_GB = 2.0
MIN_FREE_MEMORY_GB = 2.0
SETUP_HINT = "run scripts/setup"

# The reply-model speed check: a fixed prompt and a short generation, then what a caller would wait for the
# first spoken sentence of an answer: the turn's tokens evaluated and the sentence's tokens generated.
SPEED_PROMPT_TOKENS = 200
SPEED_GENERATE_TOKENS = 32
SPEED_DEADLINE_S = 6.0  # generation stops early on a very slow box, so doctor stays quick
TURN_TOKENS = 60
SENTENCE_TOKENS = 20
MAX_FIRST_SENTENCE_S = 1.5
SPEED_FIX = ("a faster CPU (with AVX2), fewer busy services on the box, or a smaller GGUF under the llm role "
             "(llm-tiny is for tests only); see README, Models")

# Native pieces the call path loads: (import name, distribution for the version, what it does).
LIBRARIES = (
    ("numpy", "numpy", "audio arrays"),
    ("soxr", "soxr", "resampling"),
    ("onnxruntime", "onnxruntime", "VAD and embeddings"),
    ("ctranslate2", "ctranslate2", "Whisper speech to text"),
    ("faster_whisper", "faster-whisper", "Whisper speech to text"),
    ("vosk", "vosk", "Vosk speech to text"),
    ("piper", "piper-tts", "text to speech"),
    ("llama_cpp", "llama-cpp-python", "the reply model"),
    ("tokenizers", "tokenizers", "embedding tokenizer"),
    ("sqlite_vec", "sqlite-vec", "vector search"),
)


@dataclass(frozen=True)
class Check:
    """One result: `ok`, `warn` or `fail`, what was seen, and what to do."""

    name: str
    state: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        """The check as one printed line."""
        text = f"{self.state.upper():4}  {self.name:22} {self.detail}"
        return f"{text}  -> {self.fix}" if self.fix and self.state != "ok" else text


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info < (3, 10):
        return Check("python", "fail", version, "use Python 3.10 or newer (PYTHON=... scripts/setup)")
    return Check("python", "ok", f"{version} at {sys.executable}")


def check_library(module: str, distribution: str, role: str) -> Check:
    try:
        importlib.import_module(module)
        version = importlib.metadata.version(distribution)
    except Exception as exc:  # a broken native library raises anything from ImportError to OSError
        return Check(f"lib {module}", "fail", f"cannot load ({role}): {exc}", SETUP_HINT)
    return Check(f"lib {module}", "ok", f"{version} ({role})")


def check_sqlite_vec() -> Check:
    from appliance.sqlite import connect

    try:
        connection = connect(":memory:", vec=True)
        sqlite_version, vec_version = connection.execute("select sqlite_version(), vec_version()").fetchone()
        connection.close()
    except Exception as exc:
        return Check("sqlite-vec", "fail", str(exc), "pip install pysqlite3-binary (or use Debian's python3)")
    return Check("sqlite-vec", "ok", f"sqlite {sqlite_version}, sqlite-vec {vec_version}")


def check_models(store: ModelStore) -> list[Check]:
    checks = []
    try:
        models = store.models().values()
    except Exception as exc:
        return [Check("models", "fail", str(exc), "restore models/manifest.json from git")]
    for model in models:
        name = f"model {model.role}"
        if not (model.default or model.provisioned) and not model.folder(store.dir).exists():
            checks.append(Check(name, "ok", "optional, not installed"))
            continue
        problems = store.problems(model)
        if problems:
            fix = "appliance models install" if not model.provisioned else "copy the file again and re-run models add"
            checks.append(Check(name, "fail", "; ".join(str(p) for p in problems), fix))
        else:
            checks.append(Check(name, "ok", f"{len(model.files)} file(s), sha256 match, {model.main_path(store.dir)}"))
    return checks


def check_disk(path) -> Check:
    os.makedirs(path, exist_ok=True)
    free_gb = shutil.disk_usage(path).free / 1e9
    state = "ok" if free_gb >= MIN_FREE_DISK_GB else "warn"
    return Check("disk", state, f"{free_gb:.1f} GB free at {path}", f"free space: recordings and models need {MIN_FREE_DISK_GB} GB")


def check_memory() -> Check:
    try:
        with open("/proc/meminfo") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo)
        available_gb = int(fields["MemAvailable"].split()[0]) / 1e6
    except (OSError, KeyError, ValueError) as exc:
        return Check("memory", "warn", f"cannot read /proc/meminfo: {exc}")
    state = "ok" if available_gb >= MIN_FREE_MEMORY_GB else "warn"
    return Check("memory", state, f"{available_gb:.1f} GB available",
                 f"the default models need about {MIN_FREE_MEMORY_GB} GB; stop other services")


def cpu_summary(cpuinfo: str) -> str:
    """The CPU's model name and its vector extensions, from the text of /proc/cpuinfo."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    name = fields.get("model name") or fields.get("Model") or "unknown CPU"
    flags = set(fields.get("flags", "").split())
    avx2 = "AVX2" if "avx2" in flags else "no AVX2"
    avx512 = "AVX-512" if "avx512f" in flags else "no AVX-512"
    return f"{name}, {avx2}, {avx512}"


def read_cpu() -> str:
    """The CPU summary of this box, with how many CPUs and, if others keep them busy, the load."""
    try:
        with open("/proc/cpuinfo") as stream:
            summary = cpu_summary(stream.read())
    except OSError:
        summary = "unknown CPU"
    cpus = os.cpu_count() or 1
    summary += f", {cpus} CPU(s)"
    try:
        load = os.getloadavg()[0]
    except OSError:
        return summary
    return summary + (f", busy: load {load:.1f}, so the numbers may be low" if load >= cpus else "")


def first_sentence_s(prompt_tps: float, generation_tps: float) -> float:
    """Seconds until an answer's first sentence can be spoken: a turn evaluated, then the sentence generated."""
    return TURN_TOKENS / prompt_tps + SENTENCE_TOKENS / generation_tps


def speed_state(seconds: float) -> str:
    """`ok` while the first sentence comes within MAX_FIRST_SENTENCE_S, `warn` after it."""
    return "ok" if seconds <= MAX_FIRST_SENTENCE_S else "warn"


def speed_check(prompt_tps: float, generation_tps: float, model: str, cpu: str) -> Check:
    """The `llm speed` result for measured numbers."""
    seconds = first_sentence_s(prompt_tps, generation_tps)
    return Check("llm speed", speed_state(seconds),
                 f"prompt {prompt_tps:.0f} tok/s, generation {generation_tps:.0f} tok/s: first sentence in "
                 f"~{seconds:.1f} s ({model}; {cpu})", SPEED_FIX)


def measure_llm_speed(settings, store: ModelStore) -> tuple[float, float]:
    """Prompt and generation tokens per second of the configured GGUF, loaded as calls load it."""
    from appliance.engines import responder

    model = responder(settings, store)
    try:
        return model.measure_speed(SPEED_PROMPT_TOKENS, SPEED_GENERATE_TOKENS, deadline_s=SPEED_DEADLINE_S)
    finally:
        del model  # free the model and its context now, not when doctor exits


def check_llm_speed(settings, store: ModelStore) -> Check:
    """Whether the configured reply model is fast enough on this CPU to answer a caller without a pause."""
    llm = settings.llm
    if llm.backend != "llama":
        return Check("llm speed", "ok", f"{llm.backend} backend at {llm.url}: measured by the server")
    cpu = read_cpu()  # before the model runs, so the load is what others put on the box
    try:
        about = store.model(llm.model).about.split(":")[0].strip()
        prompt_tps, generation_tps = measure_llm_speed(settings, store)
    except Exception as exc:  # a missing, corrupt or unloadable GGUF: ApplianceError, ValueError, OSError
        return Check("llm speed", "fail", f"{llm.model}: cannot load: {exc}",
                     f"appliance models verify {llm.model}; appliance models install")
    return speed_check(prompt_tps, generation_tps, f"{llm.model}: {about or llm.model}, {llm.threads} threads", cpu)


def check_tool(name: str, purpose: str) -> Check:
    path = shutil.which(name)
    if path:
        return Check(f"tool {name}", "ok", f"{path} ({purpose})")
    return Check(f"tool {name}", "warn", f"not found ({purpose})", f"apt-get install {name}")


def check_relay(smtp) -> Check:
    """Whether the mail relay answers SMTP; emails wait in the outbox while it does not."""
    import smtplib

    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=5) as relay:
            code, greeting = relay.ehlo()
    except (OSError, smtplib.SMTPException) as exc:
        return Check("smtp relay", "warn", f"{smtp.host}:{smtp.port} does not answer ({exc}); emails wait",
                     "start the relay or set [smtp] host and port")
    return Check("smtp relay", "ok", f"{smtp.host}:{smtp.port} answers {code} {greeting.decode(errors='replace')[:40]}")


def check_modem(modem) -> Check:
    """The modem's SIM, network and signal; texts wait in the outbox while it cannot send."""
    if not modem.device:
        return Check("modem", "warn", "none configured; texts wait in the outbox",
                     "set [modem] device, e.g. /dev/ttyUSB2")
    import asyncio

    from appliance.modem.driver import ModemError, probe

    try:
        status = asyncio.run(probe(modem.device, modem.baudrate, timeout_s=5))
    except ModemError as exc:
        return Check("modem", "warn", f"{modem.device}: {exc.message}; texts wait", "check the cable and the port")
    state = "ok" if status.sim_ready and status.registered else "warn"
    return Check("modem", state, f"{modem.device}: SIM {status.sim}, network {status.registration}, "
                 f"signal {status.signal_dbm} dBm", "check the SIM and the antenna")


def check_modem_report(modem, path, now: float) -> Check:
    """The modem's SIM, network and signal as the worker last reported them in `path` (modem.report), for a
    process that must not open the port the worker holds (`now`: time.time())."""
    from appliance.modem.report import STALE_S, read_report, signal_bars

    if not modem.device:
        return Check("modem", "warn", "none configured; texts wait in the outbox",
                     "set [modem] device, e.g. /dev/ttyUSB2")
    worker = "start the worker: systemctl start appliance-worker"
    report = read_report(path)
    if report is None or report.device != modem.device:
        return Check("modem", "warn", f"{modem.device}: no report from the worker yet (it writes {path} once it "
                     "has opened the modem)", worker)
    age = max(0, round(now - report.at))
    if age > STALE_S:
        return Check("modem", "warn", f"{modem.device}: the worker's last report is {age // 60} min old; it may be "
                     "stopped", worker)
    if report.error:
        return Check("modem", "warn", f"{modem.device}: {report.error} ({age} s ago); texts wait",
                     "check the cable and the port")
    signal = ("unknown" if report.signal_dbm is None
              else f"{report.signal_dbm} dBm, {signal_bars(report.signal_dbm)} of 4 bars")
    return Check("modem", "ok" if report.ready else "warn", f"{modem.device}: SIM {report.sim}, network "
                 f"{report.registration}, signal {signal} (the worker's report, {age} s ago)",
                 "check the SIM and the antenna")


def check_outbox(data_dir) -> Check:
    """How many messages wait or have failed, from the records database in `data_dir`."""
    from appliance.records import open_database

    try:
        open_database(data_dir / "appliance.db")
    except Exception as exc:  # the database itself is what is being checked
        return Check("outbox", "fail", f"cannot read {data_dir / 'appliance.db'}: {exc}", "restore it from a backup")
    return outbox_check(data_dir / "appliance.db")


def outbox_check(path) -> Check:
    """How many messages wait or have failed, from the database the records are bound to now (`path`, for the
    message): the panel runs it on its own database thread rather than opening the database again."""
    from appliance.records.models import Outbox

    try:
        waiting = Outbox.select().where(Outbox.state.in_(("queued", "sending"))).count()
        failed = Outbox.select().where(Outbox.state == "failed").count()
    except Exception as exc:  # the database itself is what is being checked
        return Check("outbox", "fail", f"cannot read {path}: {exc}", "restore it from a backup")
    state = "warn" if failed else "ok"
    return Check("outbox", state, f"{waiting} waiting, {failed} failed", "see `appliance outbox`")


def software_checks() -> list[Check]:
    """Python, the native libraries and sqlite-vec."""
    return [check_python(), *(check_library(*entry) for entry in LIBRARIES), check_sqlite_vec()]


def box_checks(settings, probe_modem: bool = True) -> list[Check]:
    """Disk, memory, the tools, the mail relay and the modem: the checks that need neither models nor database.
    Without `probe_modem` the modem is not opened: its check is the worker's last report (check_modem_report)."""
    import time

    from appliance.modem.report import MODEM_REPORT

    modem = check_modem(settings.modem) if probe_modem else check_modem_report(
        settings.modem, settings.paths.data_dir / MODEM_REPORT, time.time())
    return [check_disk(settings.paths.data_dir), check_memory(),
            check_tool("espeak-ng", "synthesized callers for simulate and tests"), check_relay(settings.smtp), modem]


def run_checks(settings, out: Callable[[str], None] = print, speed: bool = True) -> int:
    """Run every check, print one line each; exit status 1 if any failed. `speed` measures the reply model."""
    store = ModelStore(settings.paths.models_dir)  # one store: each file is hashed once, the speed check too
    checks = software_checks() + check_models(store)
    if speed:
        checks.append(check_llm_speed(settings, store))
    checks += box_checks(settings)
    checks.append(check_outbox(settings.paths.data_dir))
    for check in checks:
        out(check.line())
    failed = sum(check.state == "fail" for check in checks)
    out(f"{len(checks)} checks, {failed} failed")
    return 1 if failed else 0
