"""`appliance bench`: voice-to-voice latency over scenario sets, stage by stage, and recognition accuracy.

Numbers are printed, never asserted: p50/p95 of each stage over the set's caller turns, the process's
memory peak, word error rate on telephone audio (real read speech from Debian's pocketsphinx-testdata and
the sets' callers' lines), and how often each set's intents and entities come out right. `--turns`: how
soon a caller's turn ends and how often a caller is cut off mid-sentence, with the end-of-turn model and
with silence alone. `--backchannels`: how often "mm-hm", "okay", a cough or line noise under the appliance's
voice stops it, and how soon a real interruption does.
"""

from __future__ import annotations

import dataclasses
import json
import re
import resource
import time
from pathlib import Path

import numpy as np

from appliance import engines
from appliance.audio import FRAME_MS, LINE_RATE_HZ
from appliance.audio.wav import read_wav
from appliance.call.controller import PRE_ROLL_MS
from appliance.line import FRAME_SAMPLES, voiced
from appliance.line.callers import caller_speech, on_the_line
from appliance.simulate import Simulator, load_set, percentile
from appliance.vad import VoiceStarted, VoiceStopped

READ_SPEECH = Path("/usr/share/pocketsphinx/test/data/librivox")
STAGES = ("endpoint", "stt", "retrieval", "llm_prompt_tokens", "llm_first_token", "llm_first_sentence", "llm_total",
          "tts_first_audio", "voice_to_voice", "voice_to_answer")


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


def understanding(scenarios: list[dict], report: dict) -> dict:
    """Accuracy per intent and per entity over a set's caller turns that say what they expect.

    A turn counts for the intent it expects (`intent`, or each of `intent_any`); it is right when the reply's
    intent is one of them. Each expected entity counts for its key.
    """
    intents: dict[str, list[bool]] = {}
    found: dict[str, list[bool]] = {}
    for scenario, result in zip(scenarios, report["scenarios"]):
        for turn, done in zip(scenario["turns"], result["turns"]):
            expect = turn.get("expect", {})
            wanted = [expect["intent"]] if "intent" in expect else list(expect.get("intent_any", []))
            got = (done.get("reply") or {}).get("intent")
            if wanted:
                intents.setdefault("/".join(wanted), []).append(got in wanted)
        for check in result["checks"]:
            parts = check["what"].split(" ")
            if len(parts) == 4 and parts[2] == "entity":
                found.setdefault(parts[3], []).append(check["ok"])
    return {"intents": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(intents.items())},
            "entities": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(found.items())},
            "intent_accuracy": round(sum(sum(v) for v in intents.values()) / max(1, sum(map(len, intents.values()))), 3),
            "entity_accuracy": round(sum(sum(v) for v in found.values()) / max(1, sum(map(len, found.values()))), 3)}


def run(settings, targets: list[Path], say=print) -> dict:
    """Run each scenario set and the recognition checks; print and return the numbers."""
    simulator = Simulator(settings)
    models = engines.model_store(settings)
    say(f"reply model: {models.model(settings.llm.model).folder(models.dir).name} ({settings.llm.backend} backend); "
        f"speech: {models.model(settings.stt.model).folder(models.dir).name}")
    sets, turns, lines = {}, [], []
    try:
        for target in targets:
            _, scenarios, _ = load_set(Path(target))
            report = simulator.run(Path(target), say=lambda line: None)
            summary = report["summary"]
            scored = understanding([s for _, s in scenarios], report)
            sets[str(target)] = {"summary": summary, **scored, "report": report}
            turns += [t for s in report["scenarios"] for t in s["turns"] if t["heard"] is not None]
            lines += [t["say"] for _, s in scenarios for t in s["turns"] if "say" in t]
            say(f"scenario set {target}: {summary['passed']}/{summary['scenarios']} scenarios, "
                f"{summary['checks_passed']}/{summary['checks']} checks")
            say(f"  intents  {scored['intent_accuracy']:.1%}: " + ", ".join(f"{k} {v}" for k, v in scored["intents"].items()))
            say(f"  entities {scored['entity_accuracy']:.1%}: " + ", ".join(f"{k} {v}" for k, v in scored["entities"].items()))
            for result in report["scenarios"]:
                for check in result["checks"]:
                    if not check["ok"]:
                        say(f"    - {result['name']}: {check['what']}: {check['detail']}")
        results: dict = {"turns": len(turns), "stages_ms": {}, "sets": sets}
        say(f"{'stage (all sets)':22} {'p50':>8} {'p95':>8} {'n':>4}")
        for stage in STAGES:
            values = [t["latency_ms"][stage] for t in turns if isinstance(t["latency_ms"].get(stage), (int, float))
                      and not isinstance(t["latency_ms"].get(stage), bool)]
            p50, p95 = percentile(values, 50), percentile(values, 95)
            results["stages_ms"][stage] = {"p50": round(p50), "p95": round(p95), "n": len(values)}
            unit = "tokens" if stage.endswith("tokens") else "ms"
            say(f"{stage:22} {p50:8.0f} {p95:8.0f} {len(values):4}  {unit}")
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        results["memory_peak_mb"] = round(peak_mb)
        say(f"memory peak: {peak_mb:.0f} MB")
        accuracy = {
            "read speech (pocketsphinx-testdata)": [(on_the_line(pcm, 0), text) for pcm, text in read_speech_clips()],
            "the sets' callers, Piper voice": [(simulator.speak(text), text) for text in lines],
        }
        results["wer"] = {}
        for name, clips in accuracy.items():
            rate, errors, total = error_rate(simulator.transcriber, clips)
            results["wer"][name] = round(rate, 3)
            say(f"word error rate, {name}, 8 kHz μ-law: {rate:.1%} ({errors}/{total} words)")
    finally:
        simulator.close()
    return {"bench": results}


def write(results: dict, path: Path) -> None:
    """Save the numbers and the scenario reports as JSON."""
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")


def callers_of(target: Path) -> list[tuple[str, ...]]:
    """What each scenario's caller says first (up to two lines): the callers of `bench --calls`."""
    _, scenarios, _ = load_set(target)
    return [tuple([t["say"] for t in scenario["turns"] if "say" in t][:2]) for _, scenario in scenarios
            if any("say" in t for t in scenario["turns"])]


def concurrent_calls(service, count: int, speak, callers: list[tuple[str, ...]]) -> dict:
    """`count` scripted calls at once through `service`; voice to voice p50/p95 over their turns."""
    import asyncio
    import dataclasses

    from appliance.line.scripted import ScriptedLine, Step, caller_voiced_end_ms

    service.settings = dataclasses.replace(service.settings, line=dataclasses.replace(service.settings.line,
                                                                                      max_calls=count))
    lines = []
    for number in range(count):
        questions = callers[number % len(callers)]
        steps = [Step(pcm=speak(text)) for text in questions] + [Step(hangup=True)]
        lines.append(ScriptedLine(steps, caller_id=f"+1555010{number:02d}", reply_gap_ms=2500))

    async def run():
        return await asyncio.gather(*(service.answer(line) for line in lines))

    asyncio.run(run())
    v2v = []
    for line in lines:
        for step in line.steps:
            end = caller_voiced_end_ms(step)
            after = [at for at in line.playback.sent_voiced_at if end is not None and at >= end]
            if after:
                v2v.append(after[0] - end)
    return {"calls": count, "turns": len(v2v), "voice_to_voice_ms": {"p50": round(percentile(v2v, 50)),
                                                                      "p95": round(percentile(v2v, 95))}}


def run_concurrent(settings, counts: list[int], target: Path, say=print) -> dict:
    """`appliance bench --calls 1,2,4`: the same callers (from the set `target`) with 1, 2 and 4 calls at once on
    one service, answering from the box's own knowledge."""
    callers = callers_of(target)
    from appliance.line.callers import PiperCaller
    from appliance.service import CallService

    service = CallService(settings)
    speak = PiperCaller(service.store.checked_path(settings.tts.model))
    results = []
    try:
        say(f"{'calls at once':14} {'turns':>6} {'v2v p50':>8} {'v2v p95':>8}")
        for count in counts:
            result = concurrent_calls(service, count, speak, callers)
            results.append(result)
            say(f"{count:<14} {result['turns']:6} {result['voice_to_voice_ms']['p50']:8} "
                f"{result['voice_to_voice_ms']['p95']:8}  ms")
    finally:
        service.close()
    return {"concurrent": results}


# Callers for `bench --turns`, said by espeak-ng: whole questions and statements, and lines with a pause in the
# middle (numbers read in groups, an address, "um ..."), where a turn that ends at the pause cuts the caller off.
COMPLETE_LINES = (
    "What are your opening hours on Saturday?", "What is your returns policy?", "I would like to cancel my order.",
    "Can I speak to a person please?", "How much does the premium plan cost?", "My internet keeps dropping.",
    "Where is my order?", "Do you deliver on Sundays?", "I want to change my delivery address.",
    "No, that's all. Thank you!", "My number is nine eight seven six five four three two one zero.",
    "The kettle I bought stopped working.",
)
PAUSED_LINES = (
    "My number is nine eight seven <break time='600ms'/> six five four <break time='600ms'/> three two one zero.",
    "My phone number is oh four one two <break time='800ms'/> three four five <break time='700ms'/> six seven eight.",
    "The order number is A B <break time='900ms'/> one two three four.",
    "I live at twenty two <break time='700ms'/> Harbour Street <break time='500ms'/> in Springfield.",
    "The postcode is two zero <break time='1000ms'/> zero zero.",
    "Um <break time='800ms'/> I was wondering if you could help me.",
    "I'd like to ask about the <break time='900ms'/> professional plan.",
    "I want to <break time='600ms'/> change my delivery address.",
    "Can you tell me <break time='700ms'/> how much the premium plan costs?",
    "I bought a kettle from you and <break time='800ms'/> it stopped working.",
    "So the thing is <break time='1000ms'/> my internet keeps dropping.",
    "My card ends in <break time='500ms'/> four four <break time='400ms'/> two one.",
)
TRAILING_MS = 3000  # silence after each line: longer than any rule waits


def turn_ends(pcm: np.ndarray, detector, judge=None, model_ms: float | None = None, spent: list | None = None,
              transcriber=None) -> list:
    """Where in `pcm` (ms of audio) each caller turn was decided, frame by frame as a call hears it. `judge` is
    asked as the call session asks it, once per pause after `decide_after_ms`, and its answer lands `model_ms` of
    audio later (None: as long as it took on this CPU). How long each answer took is appended to `spent`. With a
    `transcriber`, a turn is also read for its words, as the call session does: one the model finds finished but
    that stops mid-number or mid-phrase is left to the longer silence, one it finds unfinished but that closes the
    call ("thanks, bye") ends, and the answer lands once the words are in."""
    segmenter = detector.segmenter
    ends, asked, answer, start_ms = [], False, None, 0.0
    for offset in range(0, len(pcm), FRAME_SAMPLES):
        position_ms = (offset + FRAME_SAMPLES) * 1000 / LINE_RATE_HZ
        events = detector.process(pcm[offset:offset + FRAME_SAMPLES])
        if answer is not None and position_ms >= answer[0]:
            complete, answer = answer[1], None
            if complete is None:
                segmenter.end_after(None)
            events += segmenter.end_turn() if complete else []
        for event in events:
            if isinstance(event, VoiceStarted):
                start_ms = event.at_ms
            elif isinstance(event, VoiceStopped):
                ends.append(position_ms)
        if segmenter.pause_ms == 0.0:
            asked, answer = False, None
        elif judge is not None and not asked and segmenter.pause_ms >= judge.decide_after_ms:
            asked = True
            segmenter.end_after(judge.incomplete_silence_ms)
            began = time.perf_counter()
            turn = pcm[int(max(0.0, start_ms - PRE_ROLL_MS) * LINE_RATE_HZ / 1000):offset + FRAME_SAMPLES]
            complete = judge.complete(turn, LINE_RATE_HZ)
            took_ms = (time.perf_counter() - began) * 1000
            if spent is not None:
                spent.append(took_ms)
            if complete is not None and transcriber is not None:
                complete = judge.ends(complete, transcriber.transcribe(turn, LINE_RATE_HZ))
                took_ms = (time.perf_counter() - began) * 1000
            answer = (position_ms + (took_ms if model_ms is None else model_ms), complete)
    return ends


def last_voiced_ms(pcm: np.ndarray) -> float:
    """Where the last voiced 20 ms frame of `pcm` ends."""
    frames = [i for i in range(0, len(pcm), FRAME_SAMPLES) if voiced(pcm[i:i + FRAME_SAMPLES])]
    return (frames[-1] + FRAME_SAMPLES) * 1000 / LINE_RATE_HZ if frames else 0.0


def turn_taking(clips: list[np.ndarray], new_detector, judge=None, spent: list | None = None,
                transcriber=None) -> dict:
    """End-of-turn delay (last voiced audio to the turn's end) p50/p95 over the clips' last turns, and the share of
    clips in which a turn ended before the caller had finished."""
    delays, cut = [], 0
    for pcm in clips:
        ends = turn_ends(pcm, new_detector(), judge, spent=spent, transcriber=transcriber)
        finished_ms = last_voiced_ms(pcm)
        cut += any(end < finished_ms for end in ends)
        delays += [ends[-1] - finished_ms] if ends and ends[-1] >= finished_ms else []
    delay = {"p50": round(percentile(delays, 50)), "p95": round(percentile(delays, 95))}
    return {"clips": len(clips), "delay_ms": delay, "ended": len(delays), "cut_ins": round(100 * cut / len(clips), 1)}


def run_turns(settings, say=print) -> dict:
    """`appliance bench --turns`: the turn's end, with the end-of-turn model and with silence alone, on callers who
    finish and callers who pause mid-sentence."""
    store = engines.model_store(settings)
    vad = engines.vad_model(settings, store)
    with_model = dataclasses.replace(settings, vad=dataclasses.replace(settings.vad,
                                                                        turn_model=settings.vad.turn_model or "turn"))
    judge = engines.turn_judge(with_model, store)
    sets = {"complete": [caller_speech(text) for text in COMPLETE_LINES],
            "mid-sentence pause": [caller_speech(text, markup=True) for text in PAUSED_LINES]}
    trailing = np.zeros(TRAILING_MS * LINE_RATE_HZ // 1000, np.int16)
    sets = {name: [np.concatenate([pcm, trailing]) for pcm in clips] for name, clips in sets.items()}
    transcriber = engines.transcriber(settings, store)
    rules = {f"silence {settings.vad.end_silence_ms} ms": (None, None),
             f"turn model, then {judge.incomplete_silence_ms:.0f} ms": (judge, None),
             "turn model and words (default)": (judge, transcriber)}
    spent: list[float] = []
    results: dict = {}
    say(f"{'end of turn (espeak-ng callers, 8 kHz)':50} {'clips':>5} {'delay p50':>10} {'delay p95':>10} {'cut-ins':>8}")
    for rule, (chosen, reader) in rules.items():
        for name, clips in sets.items():
            result = turn_taking(clips, lambda: engines.voice_detector(settings, store, model=vad), chosen,
                                 spent if reader is None else None, reader)
            results.setdefault(rule, {})[name] = result
            say(f"{rule + ', ' + name:50} {result['clips']:5} {result['delay_ms']['p50']:8} ms "
                f"{result['delay_ms']['p95']:7} ms {result['cut_ins']:7.1f}%")
    cost = {"p50": round(percentile(spent, 50)), "p95": round(percentile(spent, 95)), "n": len(spent)}
    say(f"turn model: {cost['p50']} ms a decision p50, {cost['p95']} ms p95, {cost['n']} decisions, 1 thread; asked "
        f"after {judge.decide_after_ms:.0f} ms of pause, complete at {judge.complete_at}")
    return {"turns": results, "turn_model_ms": cost}


# `bench --backchannels`: what a caller says or makes heard while the appliance speaks. Words from espeak-ng voices
# (none of them the appliance's own), at their own speeds and at two levels; coughs, line noise and clicks made here.
BACKCHANNELS = ("mm hmm", "uh huh", "yeah", "okay", "right", "sure", "yep", "I see", "alright", "okay, sure")
INTERRUPTIONS = ("Wait, that's not what I asked.", "No no, I want to talk to a person.",
                 "Sorry, can I ask you something else?", "Hang on, you have the wrong address.",
                 "Actually, I need to change the delivery day.", "Stop, I already know all that.")
LONE_WORDS = ("Wait.", "No.", "Stop.", "Hold on.", "Excuse me.")  # a stop said in one word, and nothing after it
CALLER_VOICES = (("en-us", 160), ("en-gb+f3", 180), ("en-029", 150), ("en-us+m3", 200))
CALLER_LEVELS = (1.0, 0.5)  # as loud as the caller's questions, and 6 dB softer (said while listening)
REPLY = ("Thanks for waiting. I can help with orders, deliveries and returns, and I can book a call back from one of "
         "the team at a time that suits you, or send you the details by text message.")
HYBRID_DB, HYBRID_DELAY_MS = -10, 50  # the analog line's echo: the middle of the hybrids the sound line is tested on


def noises(seed: int = 21) -> list[np.ndarray]:
    """Coughs (a burst of breath noise with a buzz in it, as a throat makes), crackles of line noise, and clicks,
    8 kHz through μ-law."""
    rng = np.random.default_rng(seed)
    rate = LINE_RATE_HZ
    made = []
    for ms, pitch_hz in ((250, 110), (350, 140), (450, 180), (300, 220)):
        n = rate * ms // 1000
        t = np.arange(n) / rate
        envelope = np.minimum(1.0, t / 0.01) * np.exp(-t / (ms / 3000))
        buzz = np.sign(np.sin(2 * np.pi * pitch_hz * t)) * 0.4
        breath = np.convolve(rng.standard_normal(n), np.ones(3) / 3, mode="same")
        made.append(9000 * envelope * (breath + buzz))
    for ms, level in ((300, 800), (600, 1500), (900, 3000)):
        n = rate * ms // 1000
        crackle = rng.standard_normal(n) * level
        crackle[rng.integers(0, n, n // 200)] = rng.choice([-1, 1], n // 200) * 20000
        made.append(crackle)
    for count in (1, 3, 6):
        clicks = np.zeros(rate // 2)
        clicks[np.linspace(0, len(clicks) - 1, count).astype(int)] = 25000
        made.append(np.convolve(clicks, [1.0, -0.6, 0.3], mode="same"))
    return [on_the_line(np.clip(pcm, -32768, 32767).astype(np.int16), 0) for pcm in made]


def spoken(texts: tuple[str, ...]) -> list[np.ndarray]:
    """Each text in each caller voice at each level, on the line."""
    from appliance.line.callers import espeak

    said = [on_the_line(espeak(text, voice, words_per_minute=speed), 0) for text in texts
            for voice, speed in CALLER_VOICES]
    return [(pcm * level).astype(np.int16) for pcm in said for level in CALLER_LEVELS]


class HybridEcho:
    """An analog line's 2-wire hybrid and the sound line's defence against it: what the appliance sends comes back
    delayed, attenuated and low-passed (as on the sound twin), into Speex's canceller and the echo gate."""

    def __init__(self, echo_db: float = HYBRID_DB, delay_ms: int = HYBRID_DELAY_MS):
        from appliance.audio.echo import EchoCanceller, EchoGate
        from appliance.line.sound_twin import HYBRID_FILTER

        self.gain, self.filter = 10 ** (echo_db / 20), HYBRID_FILTER
        self.sent = np.zeros(LINE_RATE_HZ * delay_ms // 1000 + len(HYBRID_FILTER) + FRAME_SAMPLES)
        self.canceller, self.gate = EchoCanceller(), EchoGate()

    def heard(self, caller: np.ndarray, sent: np.ndarray) -> np.ndarray:
        """What the call hears of the caller's frame while `sent` goes out in the same tick."""
        self.sent = np.concatenate([self.sent[FRAME_SAMPLES:], sent])
        delayed = self.sent[:FRAME_SAMPLES + len(self.filter) - 1]
        echo = np.convolve(delayed, self.filter, mode="valid") * self.gain
        mic = np.clip(caller + echo, -32768, 32767).astype(np.int16)
        return self.gate.frame(mic, sent, self.canceller.cancel(mic, sent))


def first_sound_ms(pcm: np.ndarray) -> float:
    """Where the first 20 ms frame of `pcm` within 20 dB of its loudest begins."""
    levels = [float(np.sqrt(np.mean(np.square(pcm[i:i + FRAME_SAMPLES], dtype=np.float64))))
              for i in range(0, len(pcm), FRAME_SAMPLES)]
    loud = max(levels, default=0.0)
    return next((n * FRAME_MS for n, level in enumerate(levels) if level >= loud / 10), 0.0)


def held_or_stopped(reply: np.ndarray, caller: np.ndarray, at_ms: float, detector, taker, transcriber,
                    echo=None) -> dict:
    """The appliance says `reply`; `at_ms` into it the caller's `caller` audio begins. Run the call's own controller
    frame by frame, its words heard when it asks (the answer landing as long after as recognition took on this CPU);
    say when the reply was held, went on and was stopped (ms of the call's audio), and where the caller's sound
    began."""
    from appliance.call.controller import CallController, HearWords, PauseReply, ResumeReply, StopReply
    from appliance.call.turns import WordsHeard
    from appliance.line import Playback

    playback, controller = Playback(), CallController(taker, opening=True)
    controller.start()
    playback.play(reply)
    controller.said()
    controller.reply_over()  # queued whole, as a prepared phrase is
    start = int(at_ms * LINE_RATE_HZ / 1000)
    audio = np.zeros(start + len(caller) + 2 * LINE_RATE_HZ + FRAME_SAMPLES, np.int16)
    audio[start:start + len(caller)] = caller
    times: dict = {"onset": at_ms + first_sound_ms(caller), "held": [], "resumed": [], "heard": []}
    words: tuple | None = None  # (when the words land, what they are)
    for offset in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        position_ms = offset * 1000 / LINE_RATE_HZ
        sent = playback.next_frame(position_ms)
        frame = audio[offset:offset + FRAME_SAMPLES]
        frame = echo.heard(frame, sent) if echo is not None else frame
        events = detector.process(frame)
        if words is not None and position_ms >= words[0]:
            events.append(WordsHeard(words[1]))
            words = None
        for command in controller.frame(frame, events, speaking=playback.playing, pause_ms=detector.segmenter.pause_ms):
            done_ms = position_ms + FRAME_MS  # the next tick sends the change
            if isinstance(command, PauseReply):
                playback.pause()
                times["held"].append(done_ms)
            elif isinstance(command, ResumeReply):
                playback.resume()
                times["resumed"].append(done_ms)
            elif isinstance(command, StopReply):
                playback.stop()
                times.setdefault("stopped", done_ms)
            elif isinstance(command, HearWords):
                began = time.perf_counter()
                text = transcriber.transcribe(command.audio, LINE_RATE_HZ).text
                words = (done_ms + (time.perf_counter() - began) * 1000, text)
                times["heard"].append(text)
    return times


def overlaps(reply: np.ndarray, clips: dict[str, list[np.ndarray]], new_detector, new_taker, transcriber,
             echo=None) -> dict:
    """False stops and how long the reply was held over the backchannel clips; how soon the interruptions fell silent
    and were stopped for good."""
    def timed(kind: str) -> list[dict]:
        return [held_or_stopped(reply, pcm, 1200 + 300 * (number % 8), new_detector(), new_taker(), transcriber, echo)
                for number, pcm in enumerate(clips[kind])]

    def spread(values: list[float]) -> dict:
        return {"p50": round(percentile(values, 50)), "p95": round(percentile(values, 95))}

    def share(runs: list[dict]) -> float:
        """The % of the runs in which the reply was stopped."""
        return round(100 * sum("stopped" in t for t in runs) / len(runs), 1)

    backchannels, interruptions, lone = timed("backchannel"), timed("interruption"), timed("lone word")
    held = [t["resumed"][0] - t["held"][0] for t in backchannels if t["held"] and t["resumed"] and "stopped" not in t]
    stopped = [t for t in interruptions if "stopped" in t]
    return {"backchannel": {"clips": len(backchannels), "held": len(held), "held_ms": spread(held),
                            "false_stops": share(backchannels),
                            "stopped_by": [t["heard"] for t in backchannels if "stopped" in t]},
            "interruption": {"clips": len(interruptions), "stopped": share(interruptions),
                             "silent_ms": spread([min(t["held"][:1] + [t["stopped"]]) - t["onset"] for t in stopped]),
                             "stopped_ms": spread([t["stopped"] - t["onset"] for t in stopped]),
                             "missed": [t["heard"] for t in interruptions if "stopped" not in t]},
            "lone word": {"clips": len(lone), "stopped": share(lone)}}


def run_backchannels(settings, say=print) -> dict:
    """`appliance bench --backchannels`: backchannels, coughs and line noise under the appliance's own voice, and
    real interruptions, on a digital line and on an analog line with its echo; the call's turn taking as it is (hold
    the reply, then decide by the voice's length and a long voice's words), by length alone, and as it was (stop at
    the first voice)."""
    from appliance.call.turns import TurnTaker

    store = engines.model_store(settings)
    vad = engines.vad_model(settings, store)
    voice, transcriber = engines.synthesizer(settings, store), engines.transcriber(settings, store)
    reply = np.concatenate(list(voice.synthesize(REPLY)))
    clips = {"backchannel": spoken(BACKCHANNELS) + noises(), "interruption": spoken(INTERRUPTIONS),
             "lone word": spoken(LONE_WORDS)}
    lines = {"digital": lambda: None, f"analog, {HYBRID_DB} dB echo": lambda: warmed(HybridEcho(), reply)}
    rules = {"stop at the first voice": lambda: TurnTaker(interrupt_after_ms=0),
             "hold, length alone": lambda: TurnTaker(hear_words=False),
             "hold, length and words": TurnTaker}
    say(f"{'line, rule':42} {'false stops':>11} {'held p50/p95':>13} | {'stopped':>7} {'silent p50/p95':>14} "
        f"{'for good p50/p95':>16} | {'lone words stopped':>18}")
    results: dict = {"clips": {name: len(pcms) for name, pcms in clips.items()}}
    for line, new_echo in lines.items():
        for rule, new_taker in rules.items():
            result = overlaps(reply, clips, lambda: engines.voice_detector(settings, store, model=vad), new_taker,
                              transcriber, new_echo())
            results.setdefault(line, {})[rule] = result
            back, cut, lone = result["backchannel"], result["interruption"], result["lone word"]
            say(f"{line + ', ' + rule:42} {back['false_stops']:10.1f}% "
                f"{back['held_ms']['p50']:6}/{back['held_ms']['p95']:<6} | {cut['stopped']:6.1f}% "
                f"{cut['silent_ms']['p50']:7}/{cut['silent_ms']['p95']:<6} "
                f"{cut['stopped_ms']['p50']:8}/{cut['stopped_ms']['p95']:<6} ms | {lone['stopped']:17.1f}%")
    say(f"{results['clips']['backchannel']} backchannel clips ({len(BACKCHANNELS)} words x {len(CALLER_VOICES)} "
        f"espeak-ng voices x {len(CALLER_LEVELS)} levels, and {len(noises())} coughs, crackles and clicks), "
        f"{results['clips']['interruption']} interruptions, {results['clips']['lone word']} lone words (\"Wait.\"); "
        f"times from the caller's first sound; held: how long the reply was silent over a backchannel")
    return {"backchannels": results}


def warmed(echo: HybridEcho, reply: np.ndarray) -> HybridEcho:
    """The echo canceller and gate after the appliance's voice has come back for a while, as in a call under way."""
    for offset in range(0, len(reply) - FRAME_SAMPLES, FRAME_SAMPLES):
        echo.heard(np.zeros(FRAME_SAMPLES, np.int16), reply[offset:offset + FRAME_SAMPLES])
    return echo
