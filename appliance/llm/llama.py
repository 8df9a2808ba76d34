"""A GGUF model in this process through llama-cpp-python, held to the reply schema by a grammar."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Callable

from appliance.errors import ApplianceError
from appliance.llm import ReplyCollector, ReplyResult
from appliance.llm.reply import ANSWER_SCHEMA

GGUF_MAGIC = b"GGUF"

# A fixed text for measuring speed: the kind of words a support call puts in front of the model.
SPEED_TEXT = ("You are the phone support assistant of a small company. The caller asked about the returns policy, the "
              "status of order 4471, the opening hours of the branch office and whether a technician can call "
              "back tomorrow between nine and eleven. We offer a 30-day money-back guarantee on every purchase; "
              "refunds are processed within 5-7 business days. ")


def merge_system(messages: list[dict]) -> list[dict]:
    """The messages with the system text moved into the first user turn, for templates without a system role."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system and rest and rest[0]["role"] == "user":
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    return rest


def common_prefix(cached: list[int], tokens: list[int]) -> int:
    """How many leading tokens two token lists share."""
    count = 0
    for have, want in zip(cached, tokens):
        if have != want:
            break
        count += 1
    return count


class LlamaResponder:
    """Streams JSON replies from a GGUF; the static system prompt's KV cache is reused between turns.

    The prompt is rendered with the GGUF's own chat template and handed to llama-cpp-python as tokens, so the
    tokens it evaluates are exactly the ones counted here: `Llama.generate` keeps the longest common prefix of
    its cached input ids and evaluates only the rest.
    """

    def __init__(self, model_path: Path, threads: int = 2, context_tokens: int = 4096, max_tokens: int = 320,
                 temperature: float = 0.1, seed: int = 7):
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        model_path = Path(model_path)
        if not model_path.is_file():
            raise ApplianceError("llm-model-missing", f"{model_path} does not exist")
        with open(model_path, "rb") as stream:
            if stream.read(4) != GGUF_MAGIC:
                raise ApplianceError("llm-model-invalid", f"{model_path} is not a GGUF file")
        try:
            self._llama = llama_cpp.Llama(str(model_path), n_ctx=context_tokens, n_threads=threads,
                                          n_threads_batch=threads, n_batch=512, seed=seed, verbose=False)
        except Exception as exc:  # llama-cpp-python raises ValueError for a model it cannot load
            raise ApplianceError("llm-model-invalid", f"{model_path} could not be loaded: {exc}") from exc
        template = self._llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ApplianceError("llm-model-invalid", f"{model_path} has no chat template")
        self._format = Jinja2ChatFormatter(template, eos_token=self._token_text(self._llama.token_eos()),
                                           bos_token=self._token_text(self._llama.token_bos()))
        self._grammar = llama_cpp.LlamaGrammar.from_json_schema(json.dumps(ANSWER_SCHEMA), verbose=False)
        self._lock = threading.Lock()  # one llama context: one generation at a time
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.context_tokens = context_tokens
        self.model_path = model_path
        self.static_tokens = 0

    def _token_text(self, token: int) -> str:
        return self._llama.detokenize([token], special=True).decode("utf-8", "ignore") if token >= 0 else ""

    def prompt_tokens(self, messages: list[dict]) -> list[int]:
        """The tokens of the chat prompt, made with the model's own template."""
        try:
            prompt = self._format(messages=messages).prompt
        except Exception:  # Mistral-style templates refuse a system role
            prompt = self._format(messages=merge_system(messages)).prompt
        return self._llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)

    def cached_prefix(self, tokens: list[int]) -> int:
        """How many of `tokens` are already in the KV cache."""
        return common_prefix(self._llama.input_ids[:self._llama.n_tokens].tolist(), tokens)

    def reusable(self, tokens: list[int]) -> int:
        """How many of `tokens` the next generation takes from the KV cache instead of evaluating them."""
        # llama-cpp always evaluates the last prompt token again, for the logits the first sample needs.
        return min(self.cached_prefix(tokens), len(tokens) - 1)

    def warm(self, system_prompt: str) -> None:
        """Evaluate the static system prompt now, so each turn evaluates only what follows it."""
        system = {"role": "system", "content": system_prompt}
        one = self.prompt_tokens([system, {"role": "user", "content": "a"}])
        other = self.prompt_tokens([system, {"role": "user", "content": "b"}])
        # The static prefix is what the template renders the same whatever the caller says.
        with self._lock:
            self.static_tokens = common_prefix(one, other)
            if self.cached_prefix(one) >= self.static_tokens:
                return  # the same static prompt is in the KV cache already (the next call of the same company)
            self._llama.reset()
            self._llama.eval(one[:self.static_tokens])

    def respond(self, messages: list[dict], on_text: Callable[[str], None] | None = None) -> ReplyResult:
        """Generate one reply, streaming its spoken text to `on_text` as it appears."""
        with self._lock:
            return self._respond(messages, on_text)

    def _respond(self, messages: list[dict], on_text: Callable[[str], None] | None) -> ReplyResult:
        import llama_cpp

        start = time.perf_counter()
        tokens = self.prompt_tokens(messages)
        if len(tokens) + self.max_tokens > self.context_tokens:
            raise ApplianceError("llm-prompt-too-long", f"{len(tokens)} prompt tokens and {self.max_tokens} to "
                                 f"generate do not fit in {self.context_tokens} context tokens")
        reused = self.reusable(tokens)
        sampled = []  # every sampled token, the end-of-generation one included

        def count(_ids, _logits) -> bool:
            sampled.append(None)
            return False

        collector = ReplyCollector(on_text, start)
        finish = None
        try:
            for chunk in self._llama.create_completion(tokens, max_tokens=self.max_tokens,
                                                       temperature=self.temperature, grammar=self._grammar,
                                                       stopping_criteria=llama_cpp.StoppingCriteriaList([count]),
                                                       stream=True):
                choice = chunk["choices"][0]
                finish = choice["finish_reason"] or finish
                collector.add(choice["text"])
        except ApplianceError:
            raise
        except Exception as exc:
            if exc is collector.stopped:  # the call stopped the reply (the caller barged in): no model failure
                raise
            raise ApplianceError("llm-generation-failed", f"{self.model_path.name}: {exc}") from exc
        generated = len(sampled) - (1 if finish == "stop" else 0)  # the end-of-generation token is no text
        return collector.result(finish, self.max_tokens, generated, len(tokens), reused)

    def measure_speed(self, prompt_tokens: int = 200, generate_tokens: int = 32,
                      deadline_s: float | None = None) -> tuple[float, float]:
        """Tokens per second evaluating a fixed prompt of `prompt_tokens` and generating `generate_tokens`.

        The KV cache is emptied first, so every prompt token is evaluated; a short warm-up run before it keeps
        one-time costs (buffers, first touch of the weights) out of the numbers. The cache is left empty.
        Generation stops early, after at least one token, once the measurement has taken `deadline_s`.
        """
        text = self._llama.tokenize(SPEED_TEXT.encode("utf-8"), add_bos=False, special=False)
        tokens = (text * (prompt_tokens // len(text) + 1))[:prompt_tokens]
        with self._lock:
            self._llama.reset()  # n_tokens = 0: the next eval removes every cached position first
            self._llama.eval(tokens[:8])
            self._llama.eval([self._llama.sample(temp=0.0)])
            self._llama.reset()
            start = time.perf_counter()
            self._llama.eval(tokens)
            evaluated = time.perf_counter()
            count = 0
            while count < generate_tokens:
                self._llama.eval([self._llama.sample(temp=0.0)])
                count += 1
                if deadline_s is not None and time.perf_counter() - start > deadline_s:
                    break
            generated = time.perf_counter()
            self._llama.reset()
        return len(tokens) / (evaluated - start), count / (generated - evaluated)
