"""Silero VAD through onnxruntime: the probability that a window of audio is speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from appliance.audio.resample import to_float
from appliance.errors import ApplianceError

# The model takes 32 ms windows, with the last samples of the previous window as context.
WINDOW_SAMPLES = {8000: 256, 16000: 512}
CONTEXT_SAMPLES = {8000: 32, 16000: 64}
MODEL_INPUTS = {"input", "state", "sr"}


def onnx_session(model_path: Path, threads: int, code: str):
    """An onnxruntime session on the CPU with `threads` threads; `code`-missing / `code`-invalid errors name the file."""
    import onnxruntime

    if not Path(model_path).is_file():
        raise ApplianceError(f"{code}-missing", f"{model_path} does not exist")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
        raise ApplianceError(f"{code}-invalid", f"{model_path}: {exc}") from exc


def load_model(model_path: Path, threads: int = 1):
    """The Silero VAD model as an onnxruntime session, checked to be one."""
    session = onnx_session(model_path, threads, "vad-model")
    inputs = {tensor.name for tensor in session.get_inputs()}
    if inputs != MODEL_INPUTS:
        raise ApplianceError("vad-model-invalid", f"{model_path} takes {sorted(inputs)}, not Silero VAD v5/v6's "
                             f"{sorted(MODEL_INPUTS)}")
    return session


class SileroVad:
    """Speech probability per window at 8 or 16 kHz; keeps its recurrent state between windows."""

    def __init__(self, model_path: Path, rate_hz: int = 8000, threads: int = 1, model=None):
        """`model`: a loaded `load_model()` to share (its weights are read-only; each SileroVad keeps its own
        state), so a call service loads the model once for all its calls."""
        if rate_hz not in WINDOW_SAMPLES:
            raise ApplianceError("vad-rate-unsupported", f"Silero VAD runs at 8000 or 16000 Hz, not {rate_hz}")
        self._session = model if model is not None else load_model(model_path, threads)
        self.rate_hz = rate_hz
        self.window_samples = WINDOW_SAMPLES[rate_hz]
        self._context_samples = CONTEXT_SAMPLES[rate_hz]
        self._sr = np.array(rate_hz, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        """Forget the audio so far (a new call or a new stream)."""
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, self._context_samples), dtype=np.float32)

    def voice_confidence(self, window: np.ndarray) -> float:
        """Speech probability (0..1) of exactly one window of int16 samples."""
        if len(window) != self.window_samples:
            raise ValueError(f"a window is {self.window_samples} samples, not {len(window)}")
        samples = np.concatenate([self._context, to_float(window)[np.newaxis, :]], axis=1)
        probability, self._state = self._session.run(None, {"input": samples, "state": self._state, "sr": self._sr})
        self._context = samples[:, -self._context_samples:]
        return float(probability[0, 0])
