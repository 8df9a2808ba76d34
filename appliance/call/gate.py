"""Fair turns on the CPU for the engines of several calls at once.

On a 2-core box, speech recognition, the voice and the reply model each use both cores. Run side by side
they slow each other down far more than they gain (llama.cpp's threads spin, and a 0.3 s transcription
becomes 2 s). So one engine runs at a time, in the order the calls asked, and the reply model, the only
engine that runs for seconds, gives way between tokens whenever another call is waiting: a caller who
just stopped speaking is transcribed within one token's time of another call's answer.
"""

from __future__ import annotations

import threading
from collections import deque
from contextlib import contextmanager


class CpuGate:
    """One engine at a time, first come first served; `give_way` lets the waiting go first."""

    def __init__(self):
        self._condition = threading.Condition()
        self._waiting: deque[object] = deque()
        self._holder: object | None = None
        # One reply at a time on the one loaded model: a second call's reply waits here, not holding the gate,
        # so the first can take its turn back after giving way.
        self.model_lock = threading.Lock()
        self.turns = 0  # how many turns were granted (for tests and the bench)

    @contextmanager
    def turn(self):
        """Hold the CPU for one engine call."""
        ticket = self._acquire()
        try:
            yield
        finally:
            self._release(ticket)

    def give_way(self) -> None:
        """From inside a turn: if another call is waiting, let it run first, then continue."""
        with self._condition:
            if not self._waiting:
                return
            ticket = self._holder
        self._release(ticket)
        self._acquire(ticket)

    @property
    def waiting(self) -> int:
        """Engine calls waiting for their turn."""
        return len(self._waiting)

    def _acquire(self, ticket: object | None = None) -> object:
        ticket = ticket if ticket is not None else object()
        with self._condition:
            self._waiting.append(ticket)
            while self._holder is not None or self._waiting[0] is not ticket:
                self._condition.wait()
            self._waiting.popleft()
            self._holder = ticket
            self.turns += 1
        return ticket

    def _release(self, ticket: object) -> None:
        with self._condition:
            if self._holder is ticket:
                self._holder = None
            self._condition.notify_all()


class GatedTranscriber:
    """One call's view of the shared speech recognizer: its own hint, and turns on the gate."""

    def __init__(self, transcriber, gate: CpuGate):
        self.inner = transcriber
        self.gate = gate
        self.initial_prompt = getattr(transcriber, "initial_prompt", None)

    def transcribe(self, pcm, rate_hz: int):
        with self.gate.turn():
            if hasattr(self.inner, "initial_prompt"):
                self.inner.initial_prompt = self.initial_prompt
            return self.inner.transcribe(pcm, rate_hz)


class GatedSynthesizer:
    """The shared voice, one sentence per turn on the gate."""

    def __init__(self, synthesizer, gate: CpuGate):
        self.inner = synthesizer
        self.gate = gate

    @property
    def sample_rate_hz(self) -> int:
        return self.inner.sample_rate_hz

    def synthesize(self, text: str):
        with self.gate.turn():
            return list(self.inner.synthesize(text))


class GatedResponder:
    """The shared reply model: one reply per turn on the gate, giving way between tokens."""

    def __init__(self, responder, gate: CpuGate):
        self.inner = responder
        self.gate = gate

    def __getattr__(self, name: str):
        return getattr(self.inner, name)  # warm, reusable, prompt_tokens... run under the caller's control

    def respond(self, messages: list[dict], on_text=None):
        def streamed(delta: str) -> None:
            if on_text is not None:
                on_text(delta)
            self.gate.give_way()

        with self.gate.model_lock, self.gate.turn():
            return self.inner.respond(messages, streamed)


class GatedTurnDetector:
    """The shared end-of-turn model: one decision per turn on the gate, so it waits behind a transcription
    rather than slowing it down."""

    def __init__(self, detector, gate: CpuGate):
        self.inner = detector
        self.gate = gate

    def complete_probability(self, pcm, rate_hz: int) -> float:
        with self.gate.turn():
            return self.inner.complete_probability(pcm, rate_hz)
