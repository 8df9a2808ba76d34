"""End of turn by meaning: Smart Turn v3.2 through onnxruntime hears whether the caller has finished.

Silence alone cannot tell "What are your opening hours on Saturday?" from "My number is nine eight
seven ..." followed by a breath. The model listens to the turn's words and intonation and gives the
probability that the turn is complete, so a finished question can end after a short pause while a caller
reading out a number is given longer. Preprocessing follows pipecat 1.14's LocalSmartTurnAnalyzerV3, which
the weights were trained for: the last 8 s of the turn at 16 kHz, zero-padded at the front, normalised to
zero mean and unit variance, then Whisper's 80-bin log-mel (10 ms hop, the trailing frame dropped).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from appliance.audio.resample import resample, to_float
from appliance.errors import ApplianceError
from appliance.vad.silero import onnx_session

log = logging.getLogger(__name__)
# Words a finished sentence does not stop on: "I'd like to ask about the", "I bought it and", "so the thing is", "um".
OPEN_ENDED = set("""the a an and or but so because if that to of in on at for with from about into than is are was were
    my your our their his her its this um uh er erm hmm like""".split())
# Said before a number or a code, whose digits or letters come in groups: "my number is nine eight seven | six..."
NUMBER_CUE = re.compile(r"\b(number|phone|mobile|cell|postcode|post code|zip|code|card|account|order|reference|"
                        r"booking|job|ends? in|is)\b")
# A turn that closes the call ("Okay, thanks. Bye.", "No, that's all. Thank you."): nobody goes on after it,
# whatever the voice did at its end (the model hears most goodbyes on a phone line as unfinished). A thank-you alone
# is not one: "Thank you. And what about...?" goes on.
CLOSES_CALL = re.compile(r"\b(bye|bye-bye|goodbye|see (ya|you)|cheers|take care)\W*$|\b(that's all|that is all|"
                         r"that's it|that's everything)\b(\W+(thanks|thank you)( (so|very) much)?)?\W*$", re.I)
# "Can you tell me... how much it costs?": a question that opens the one it asks, whatever recognition writes after it
OPENS_A_QUESTION = re.compile(r"\b(?:(?:tell|show|remind|explain to|let) (?:me|us)|(?:wondering|wonder|know|ask you|"
                              r"ask|check|see))\W*$", re.I)
FULL_NUMBER_DIGITS = 7  # fewer digits than a phone number, after such a cue: more of it is coming
RATE_HZ = 16000
WINDOW_SAMPLES = 8 * RATE_HZ  # the model hears the last 8 s of the turn
INPUT = "input_features"
INPUT_SHAPE = [80, 800]  # mel bins × 10 ms frames


def log_mel(audio: np.ndarray) -> np.ndarray:
    """(80, 800) Whisper log-mel features of exactly 8 s of float audio at 16 kHz, normalised as the model was
    trained (zero mean, unit variance before the spectrogram)."""
    from faster_whisper.feature_extractor import FeatureExtractor

    audio = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
    return FeatureExtractor(chunk_length=8)(audio.astype(np.float32), padding=0)


def last_window(pcm: np.ndarray, rate_hz: int) -> np.ndarray:
    """The turn's last 8 s as float audio at 16 kHz, silence in front of a shorter turn."""
    audio = to_float(resample(pcm, rate_hz, RATE_HZ))[-WINDOW_SAMPLES:]
    return np.pad(audio, (WINDOW_SAMPLES - len(audio), 0))


class SmartTurnDetector:
    """Smart Turn v3.2 (int8 ONNX, 8.7 MB) on one CPU thread: is this turn's audio a finished turn?"""

    def __init__(self, model_path: Path, threads: int = 1):
        self._session = onnx_session(model_path, threads, "vad-turn-model")
        inputs = {tensor.name: tensor.shape[1:] for tensor in self._session.get_inputs()}
        if inputs != {INPUT: INPUT_SHAPE}:
            raise ApplianceError("vad-turn-model-invalid", f"{model_path} takes {inputs}, not Smart Turn v3's "
                                 f"{INPUT} of {INPUT_SHAPE}")

    def complete_probability(self, pcm: np.ndarray, rate_hz: int) -> float:
        """Probability (0..1) that the turn whose int16 audio this is, up to now, is complete."""
        features = log_mel(last_window(pcm, rate_hz))[np.newaxis]
        (probability,) = self._session.run(None, {INPUT: features})  # named "logits", but already a sigmoid
        return float(probability[0, 0])


def unfinished(words: str) -> bool:
    """Whether a turn's words, recognised in a pause, stop where a sentence cannot: on a word that needs more after
    it ("I'd like to ask about the"), on a hesitation ("um"), or partway through a number or code being given ("my
    number is nine eight seven", "the order number is A B"). The end-of-turn model hears how the voice falls; this
    reads what was said, so a caller reading out digits in groups is not answered between the groups."""
    from appliance.dialogue.entities import spoken_digits

    text = re.sub(r"[\s.!?,;:…-]+$", "", spoken_digits(words.lower()))  # a recognizer ends every guess with a stop
    tokens = re.findall(r"[a-z']+|\d+", text)
    if not tokens:
        return False
    if tokens[-1] in OPEN_ENDED:
        return True
    tail = re.search(r"((?:\b(?:\d+|[a-z])\b[\s,-]*)+)$", text)  # "9 8 7", "0412 345", "a b"
    if tail is None or not NUMBER_CUE.search(text[:tail.start()]):
        return False
    said = tail.group(1)
    return len(re.sub(r"\D", "", said)) < FULL_NUMBER_DIGITS and (re.search(r"\d", said) is not None or
                                                                    len(said.split()) >= 2)


class TurnJudge:
    """When to ask the end-of-turn model, and what its answer means for the pause the caller is in.

    After `decide_after_ms` of pause the turn is judged: complete (probability ≥ `complete_at`) ends it once its
    words are in, unless they say otherwise (`wait_for_more`); incomplete leaves it to end after
    `incomplete_silence_ms` of silence, unless the caller goes on and pauses again, which is judged afresh.
    `model` is shared by every call (a `SmartTurnDetector`, maybe gated).
    """

    def __init__(self, model, complete_at: float = 0.9, decide_after_ms: float = 200,
                 incomplete_silence_ms: float = 1200, sure_words_at: float = 0.5):
        self.model = model
        self.sure_words_at = sure_words_at
        self.complete_at = complete_at
        self.decide_after_ms = decide_after_ms
        self.incomplete_silence_ms = incomplete_silence_ms
        self.failures = 0

    def complete(self, pcm: np.ndarray, rate_hz: int) -> bool | None:
        """Whether the turn is complete; None when the model failed, and the plain silence rule decides. The first
        failure is logged with its cause; later ones only counted, so a broken model does not flood the log."""
        try:
            return self.model.complete_probability(pcm, rate_hz) >= self.complete_at
        except Exception as exc:
            self.failures += 1
            if self.failures == 1:
                log.error("vad-turn-model-failed: %s; turns end after [vad] end_silence_ms of silence when it fails "
                          "(logged once)", exc, exc_info=exc)
            return None

    def ends(self, finished: bool, heard) -> bool:
        """Whether the pause ends the turn once its words (a Transcript) are in: one the model found finished,
        unless the words say more is coming; one it found unfinished, only when the words close the call or end
        in a question asked whole."""
        if finished:
            return not self.wait_for_more(heard)
        return self.closes_call(heard) or self.asks_whole(heard)

    def asks_whole(self, heard) -> bool:
        """Whether a turn the model found unfinished ends in a whole question, heard surely enough ("How much for
        the big ones?"): recognition writes the question mark from the words and their rise together. The model
        often hears a question on an 8 kHz line as unfinished, and the caller then waited 1.2 s for the answer."""
        text = heard.text.strip()
        return text.endswith("?") and len(text.split()) >= 3 and not unfinished(text.rstrip("?")) and \
            not OPENS_A_QUESTION.search(text) and (heard.confidence is None or heard.confidence >= self.sure_words_at)

    def closes_call(self, heard) -> bool:
        """Whether a turn the model found unfinished closes the call by its words (a Transcript), heard surely
        enough: "Okay, thank you. Bye bye." ends at once, not after the longer silence."""
        return bool(CLOSES_CALL.search(heard.text)) and (heard.confidence is None or
                                                          heard.confidence >= self.sure_words_at)

    def wait_for_more(self, heard) -> bool:
        """Whether a turn the model found finished should still wait for the longer silence, going by its words (a
        Transcript): they stop where no sentence does, or recognition is too unsure of them ("The order number is
        A B" heard as "Order number in the me.") for them to show anything."""
        return unfinished(heard.text) or (heard.confidence is not None and heard.confidence < self.sure_words_at)
