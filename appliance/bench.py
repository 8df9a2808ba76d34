"""`appliance bench`: voice-to-voice latency over a scenario set, stage by stage, and recognition accuracy.

Numbers are printed, never asserted: p50/p95 of each stage over the set's caller turns, the process's
memory peak, word error rate on telephone audio (real read speech from Debian's pocketsphinx-testdata and
the seed callers' lines), and how often phone numbers, order IDs, emails and times come out exactly right.
"""

from __future__ import annotations

import json
import re
import resource
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from appliance.audio import LINE_RATE_HZ
from appliance.audio.wav import read_wav
from appliance.dialogue import entities
from appliance.line.callers import caller_speech, on_the_line
from appliance.simulate import Simulator, load_set, percentile

READ_SPEECH = Path("/usr/share/pocketsphinx/test/data/librivox")
STAGES = ("endpoint", "stt", "retrieval", "llm_first_token", "llm_total", "tts_first_audio", "voice_to_voice")
NOW = datetime(2025, 10, 5, 9, 0, tzinfo=ZoneInfo("Asia/Kolkata"))

# (what the caller says, what must come out, how to read it)
ENTITY_LINES = (
    ("My number is 98765 43210.", "+919876543210", "phone"),
    ("You can reach me on 91234 56789.", "+919123456789", "phone"),
    ("It's nine eight seven six five four three two one zero.", "+919876543210", "phone"),
    ("My order number is ORD98765.", "ORD98765", "order"),
    ("It's ORD12345.", "ORD12345", "order"),
    ("The order is ORD55501.", "ORD55501", "order"),
    ("My email is jane dot doe at example dot com.", "jane.doe@example.com", "email"),
    ("It's user at example dot com.", "user@example.com", "email"),
    ("Send it to priya at techcorp dot in.", "priya@techcorp.in", "email"),
    ("Tomorrow at 10 AM.", "2025-10-06T10:00:00+05:30", "time"),
    ("Next Monday at 3 PM.", "2025-10-06T15:00:00+05:30", "time"),
    ("Around 2 PM tomorrow.", "2025-10-06T14:00:00+05:30", "time"),
)


def words(text: str) -> list[str]:
    """Lower-case words, numbers split from units ("10am" → "10 am") and thousands commas dropped."""
    text = re.sub(r"(?<=\d),(?=\d)", "", text.lower())
    text = re.sub(r"(\d)([a-z])", r"\1 \2", text)
    return re.findall(r"[\w']+", text)


def word_errors(expected: str, heard: str) -> int:
    """Word-level edit distance between what was said and what was heard."""
    a, b = words(expected), words(heard)
    row = list(range(len(b) + 1))
    for i, word in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != other))
    return row[-1]


def read_speech_clips() -> list[tuple[np.ndarray, str]]:
    """The read-speech clips of pocketsphinx-testdata at 8 kHz, with their transcripts."""
    transcripts = READ_SPEECH / "transcription"
    if not transcripts.exists():
        return []
    clips = []
    for line in transcripts.read_text().splitlines():
        found = re.match(r"<s>\s*(.*?)\s*</s>\s*\((.+)\)", line)
        if found:
            pcm, _ = read_wav(READ_SPEECH / f"{found.group(2)}.wav", LINE_RATE_HZ)
            clips.append((pcm, found.group(1)))
    return clips


def error_rate(transcriber, clips) -> tuple[float, int, int]:
    """(WER, errors, words) of the transcriber over (8 kHz audio on the line, text) pairs."""
    errors = total = 0
    for pcm, text in clips:
        errors += word_errors(text, transcriber.transcribe(pcm, LINE_RATE_HZ).text)
        total += len(words(text))
    return (errors / total if total else 0.0), errors, total


def read_entity(kind: str, heard: str) -> str | None:
    """The entity of `kind` read from what was heard, the way the dialogue reads it."""
    if kind == "phone":
        return entities.to_e164(heard, "+91")
    if kind == "order":
        return entities.find_order_id(heard)
    if kind == "email":
        return entities.find_email(heard)
    moment = entities.parse_when(heard, NOW).resolve(NOW)
    return moment.isoformat() if moment else None


def run(settings, target: Path, say=print) -> dict:
    """Run the scenario set and the accuracy checks; print and return the numbers."""
    simulator = Simulator(settings)
    try:
        report = simulator.run(Path(target), say=lambda line: None)
    finally:
        simulator.close()
    turns = [t for s in report["scenarios"] for t in s["turns"] if t["heard"] is not None]
    results: dict = {"turns": len(turns), "stages_ms": {}}
    say(f"scenario set {target}: {report['summary']['passed']}/{report['summary']['scenarios']} scenarios, "
        f"{report['summary']['checks_passed']}/{report['summary']['checks']} checks, {len(turns)} caller turns")
    say(f"{'stage':22} {'p50 ms':>8} {'p95 ms':>8} {'n':>4}")
    for stage in STAGES:
        values = [t["latency_ms"][stage] for t in turns if isinstance(t["latency_ms"].get(stage), (int, float))]
        p50, p95 = percentile(values, 50), percentile(values, 95)
        results["stages_ms"][stage] = {"p50": round(p50), "p95": round(p95), "n": len(values)}
        say(f"{stage:22} {p50:8.0f} {p95:8.0f} {len(values):4}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["memory_peak_mb"] = round(peak_mb)
    say(f"memory peak: {peak_mb:.0f} MB")

    _, scenarios, _ = load_set(Path(target))
    lines = [t["say"] for _, s in scenarios for t in s["turns"] if "say" in t]
    accuracy = {
        "read speech (pocketsphinx-testdata)": [(on_the_line(pcm, 0), text) for pcm, text in read_speech_clips()],
        "seed callers, Piper voice": [(simulator.speak(text), text) for text in lines],
        "seed callers, espeak-ng voice": [(caller_speech(text), text) for text in lines],
    }
    results["wer"] = {}
    for name, clips in accuracy.items():
        rate, errors, total = error_rate(simulator.transcriber, clips)
        results["wer"][name] = round(rate, 3)
        say(f"word error rate, {name}, 8 kHz μ-law: {rate:.1%} ({errors}/{total} words)")
    exact: dict[str, list[bool]] = {}
    for text, want, kind in ENTITY_LINES:
        heard = simulator.transcriber.transcribe(simulator.speak(text), LINE_RATE_HZ).text
        exact.setdefault(kind, []).append(read_entity(kind, heard) == want)
    results["exact"] = {kind: f"{sum(hits)}/{len(hits)}" for kind, hits in exact.items()}
    say("exactly right from speech: " + ", ".join(f"{k} {v}" for k, v in results["exact"].items()))
    return {"bench": results, "report": report}


def write(results: dict, path: Path) -> None:
    """Save the numbers and the scenario report as JSON."""
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
