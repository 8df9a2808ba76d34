import numpy as np


def test_unit_vectors_of_384_dimensions(embedder):
    vectors = embedder.embed(["What is your refund policy?", "Hello"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_sentences(embedder):
    a, b, c = embedder.embed(["How do I get my money back?", "What is your refund policy?",
                              "Does the mobile app work on Android?"])
    assert a @ b > a @ c + 0.2


def test_a_batch_equals_one_by_one(embedder):
    texts = ["short", "a much longer sentence about the professional plan and its price per month"]
    batch = embedder.embed(texts)
    single = np.vstack([embedder.embed([t]) for t in texts])
    assert np.allclose(batch, single, atol=1e-4)


def test_no_texts_is_an_empty_array(embedder):
    assert embedder.embed([]).shape == (0, 384)
