import numpy as np
import pytest

from appliance.errors import ApplianceError
from appliance.knowledge.embed import BATCH, MAX_TOKENS, MiniLmEmbedder


def test_unit_vectors_of_384_dimensions(embedder):
    vectors = embedder.embed(["What is your refund policy?", "Hello"])
    assert embedder.dim == 384
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_sentences(embedder):
    money, refund, app, weather = embedder.embed([
        "How do I get my money back?", "What is your refund policy?",
        "Does the mobile app work on Android?", "It is going to rain in Chennai tomorrow.",
    ])
    assert money @ refund > money @ app + 0.2
    assert money @ refund > money @ weather + 0.2
    assert app @ embedder.embed(["Is there an iPhone or Android application?"])[0] > app @ refund + 0.2


def test_a_batch_equals_one_by_one(embedder):
    texts = ["short", "a much longer sentence about the professional plan and its price per month",
             *(f"passage number {i} about shipping" for i in range(BATCH + 3))]
    batch = embedder.embed(texts)
    single = np.vstack([embedder.embed([t]) for t in texts])
    assert batch.shape == (len(texts), 384)
    assert np.allclose(batch, single, atol=1e-4)


def test_text_past_the_token_limit_is_cut_off(embedder):
    opening = " ".join(["refund"] * (MAX_TOKENS + 50))
    with_tail, alone = embedder.embed([opening + " Salesforce integration pricing", opening])
    assert np.allclose(with_tail, alone, atol=1e-5)
    short_with_tail, short = embedder.embed(["refund refund Salesforce integration pricing", "refund refund"])
    assert short_with_tail @ short < 0.9


def test_no_texts_is_an_empty_array(embedder):
    assert embedder.embed([]).shape == (0, 384)


def test_a_missing_model_file_is_named(tmp_path, store):
    tokenizer = store.checked_path("embed").parent / "tokenizer.json"
    with pytest.raises(ApplianceError) as error:
        MiniLmEmbedder(tmp_path / "model.onnx", tokenizer)
    assert error.value.code == "knowledge-model-missing" and "model.onnx" in str(error.value)


def test_a_file_that_is_not_a_model_is_refused(tmp_path, store):
    tokenizer = store.checked_path("embed").parent / "tokenizer.json"
    (tmp_path / "model.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(ApplianceError) as error:
        MiniLmEmbedder(tmp_path / "model.onnx", tokenizer)
    assert error.value.code == "knowledge-model-invalid"
