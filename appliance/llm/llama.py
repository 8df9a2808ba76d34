"""A GGUF model in this process through llama-cpp-python, held to the reply schema by a grammar."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from appliance.errors import ApplianceError
from appliance.llm import ReplyResult
from appliance.llm.reply import REPLY_SCHEMA, Reply, SpokenTextStream

GGUF_MAGIC = b"GGUF"


def merge_system(messages: list[dict]) -> list[dict]:
    """The messages with the system text moved into the first user turn, for templates without a system role."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system and rest and rest[0]["role"] == "user":
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    return rest


class LlamaResponder:
    """Streams JSON replies from a GGUF; the static system prompt's KV cache is reused between turns."""

    def __init__(self, model_path: Path, threads: int = 2, context_tokens: int = 4096, max_tokens: int = 512,
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
        token = lambda t: self._llama.detokenize([t], special=True).decode("utf-8", "ignore")  # noqa: E731
        self._format = Jinja2ChatFormatter(template, eos_token=token(self._llama.token_eos()),
                                           bos_token=token(self._llama.token_bos()))
        self._grammar = llama_cpp.LlamaGrammar.from_json_schema(json.dumps(REPLY_SCHEMA), verbose=False)
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.model_path = model_path
        self.static_tokens = 0

    def prompt_tokens(self, messages: list[dict]) -> list[int]:
        """The tokens of the chat prompt, made with the model's own template."""
        try:
            prompt = self._format(messages=messages).prompt
        except Exception:  # Mistral-style templates refuse a system role
            prompt = self._format(messages=merge_system(messages)).prompt
        return self._llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)

    def cached_prefix(self, tokens: list[int]) -> int:
        """How many of `tokens` are already in the KV cache."""
        cached = self._llama.input_ids[:self._llama.n_tokens]
        count = 0
        for have, want in zip(cached, tokens):
            if have != want:
                break
            count += 1
        return count

    def warm(self, system_prompt: str) -> None:
        """Evaluate the static system prompt now, so each turn evaluates only what follows it."""
        system = {"role": "system", "content": system_prompt}
        one = self.prompt_tokens([system, {"role": "user", "content": "a"}])
        other = self.prompt_tokens([system, {"role": "user", "content": "b"}])
        self.static_tokens = next((i for i, (x, y) in enumerate(zip(one, other)) if x != y), len(one))
        self._llama.reset()
        self._llama.eval(one[:self.static_tokens])

    def respond(self, messages: list[dict], on_text: Callable[[str], None] | None = None) -> ReplyResult:
        """Generate one reply, streaming its spoken text to `on_text` as it appears."""
        start = time.perf_counter()
        tokens = self.prompt_tokens(messages)
        reused = self.cached_prefix(tokens)
        spoken = SpokenTextStream()
        pieces: list[str] = []
        first_token_ms = first_text_ms = None
        try:
            for chunk in self._llama.create_completion(tokens, max_tokens=self.max_tokens,
                                                       temperature=self.temperature, grammar=self._grammar,
                                                       stream=True):
                piece = chunk["choices"][0]["text"]
                if first_token_ms is None:
                    first_token_ms = (time.perf_counter() - start) * 1000
                pieces.append(piece)
                delta = spoken.push(piece)
                if delta:
                    if first_text_ms is None:
                        first_text_ms = (time.perf_counter() - start) * 1000
                    if on_text:
                        on_text(delta)
        except ApplianceError:
            raise
        except Exception as exc:
            raise ApplianceError("llm-generation-failed", str(exc)) from exc
        raw = "".join(pieces)
        total_ms = (time.perf_counter() - start) * 1000
        return ReplyResult(Reply.from_json(raw), raw, first_token_ms or total_ms, first_text_ms or total_ms,
                           total_ms, len(pieces), len(tokens), reused)
