"""Sentence embeddings with all-MiniLM-L6-v2 through onnxruntime and `tokenizers`: no torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from appliance.errors import ApplianceError

MAX_TOKENS = 256


class MiniLmEmbedder:
    """Mean-pooled, L2-normalised 384-dimension vectors; cosine similarity is a dot product."""

    def __init__(self, model_path: Path, tokenizer_path: Path, threads: int = 1):
        import onnxruntime
        from tokenizers import Tokenizer

        for path in (model_path, tokenizer_path):
            if not Path(path).is_file():
                raise ApplianceError("knowledge-model-missing", f"{path} does not exist")
        try:
            self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            self._session = onnxruntime.InferenceSession(str(model_path), options,
                                                         providers=["CPUExecutionProvider"])
        except Exception as exc:  # tokenizers and onnxruntime raise their own exception types
            raise ApplianceError("knowledge-model-invalid", f"{model_path}: {exc}") from exc
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding()
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.dim = self._session.get_outputs()[0].shape[-1]

    def embed(self, texts: list[str]) -> np.ndarray:
        """One unit vector per text, as float32 [len(texts), dim]."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts)
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        hidden = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        mask = feed["attention_mask"][:, :, np.newaxis].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        return (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)
