"""Sentence embeddings with all-MiniLM-L6-v2 through onnxruntime and `tokenizers`: no torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from appliance.errors import ApplianceError

MAX_TOKENS = 256  # what the model was trained on (sentence-transformers' max_seq_length); BERT's limit is 512
BATCH = 32  # texts per onnxruntime run, so a long document does not pad hundreds of passages at once


class MiniLmEmbedder:
    """Mean-pooled, L2-normalised sentence vectors; the cosine similarity of two is their dot product."""

    def __init__(self, model_path: Path, tokenizer_path: Path, threads: int = 1):
        import onnxruntime
        from tokenizers import Tokenizer

        model_path, tokenizer_path = Path(model_path), Path(tokenizer_path)
        for path in (model_path, tokenizer_path):
            if not path.is_file():
                raise ApplianceError("knowledge-model-missing", f"{path} does not exist")
        try:
            self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # tokenizers raises a bare Exception for a bad file
            raise ApplianceError("knowledge-model-invalid", f"{tokenizer_path}: {exc}") from exc
        try:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            self._session = onnxruntime.InferenceSession(str(model_path), options,
                                                         providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own exception types are not importable by a stable name
            raise ApplianceError("knowledge-model-invalid", f"{model_path}: {exc}") from exc
        self._inputs = {i.name for i in self._session.get_inputs()}
        outputs = {o.name: o for o in self._session.get_outputs()}
        hidden = outputs.get("last_hidden_state", self._session.get_outputs()[0])
        if not {"input_ids", "attention_mask"} <= self._inputs or len(hidden.shape) != 3 \
                or not isinstance(hidden.shape[-1], int):
            raise ApplianceError("knowledge-model-invalid",
                                 f"{model_path}: expected a BERT encoder (input_ids, attention_mask -> "
                                 f"[batch, tokens, dims]), got inputs {sorted(self._inputs)} and output "
                                 f"{hidden.name} {hidden.shape}")
        self._output = hidden.name
        self._dim = hidden.shape[-1]
        self.name = f"{model_path.parent.name}/{model_path.name} ({self._dim} dims)"
        pad_id = self._tokenizer.token_to_id("[PAD]") or 0
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=pad_id, pad_token="[PAD]")  # to the longest text of each batch

    @property
    def dim(self) -> int:
        """How many numbers each vector has (384 for MiniLM-L6)."""
        return self._dim

    def embed(self, texts: list[str]) -> np.ndarray:
        """One unit vector per text, as float32 [len(texts), dim]."""
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return np.vstack([self._embed_batch(texts[start:start + BATCH]) for start in range(0, len(texts), BATCH)])

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(list(texts))
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        try:
            hidden = self._session.run([self._output], {k: v for k, v in feed.items() if k in self._inputs})[0]
        except Exception as exc:  # onnxruntime raises its own (unexported) exception types
            raise ApplianceError("knowledge-embed-failed", f"{self.name}: {exc}") from exc
        mask = feed["attention_mask"][:, :, np.newaxis].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return (pooled / norms).astype(np.float32)
