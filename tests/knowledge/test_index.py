import pytest

from appliance.knowledge.index import KnowledgeIndex
from appliance.settings import ROOT

DOCS = {
    "refund-policy.md": "# Refund policy\n\nWe offer a 30-day money-back guarantee on every purchase.\n",
    "pricing.md": "# Pricing plans\n\n## Basic\n\nThe Basic plan costs 999 rupees a month.\n\n"
                  "## Professional\n\nThe Professional plan costs 2,999 rupees a month.\n",
    "app.md": "# Mobile app\n\nOur app runs on Android and iOS.\n",
    "shipping.txt": "Orders ship within two days. Tracking links are sent by SMS.\n",
}


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "knowledge"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture
def index(tmp_path, embedder):
    return KnowledgeIndex(tmp_path / "index.db", embedder)


def test_ingest_and_find_the_right_passage(index, docs, tmp_path):
    report = index.ingest(docs)
    assert sorted(report.added) == sorted(DOCS) and not report.failed
    assert (tmp_path / "index.db").stat().st_size > 0
    best = index.search("What is your refund policy?", k=3)
    assert best[0].source == "refund-policy.md" and "30-day" in best[0].text
    unrelated = index.search("Do you integrate with Salesforce?", k=1)
    assert best[0].score > unrelated[0].score + 0.15
    plan = index.search("How much is the professional plan?", k=1)[0]
    assert plan.heading == "Pricing plans > Professional"


def test_threshold_drops_passages_that_do_not_answer(index, docs):
    index.ingest(docs)
    assert index.search("Do you integrate with Salesforce?", k=3, min_score=0.4) == []
    assert index.search("What is your refund policy?", k=3, min_score=0.4)


def test_reingest_skips_unchanged_and_replaces_changed_documents(index, docs):
    index.ingest(docs)
    count = index.count()
    (docs / "refund-policy.md").write_text("# Refund policy\n\nWe offer a 14-day money-back guarantee.\n\n"
                                           "## Exceptions\n\nSoftware is not refundable.\n")
    report = index.ingest(docs)
    assert report.updated == ["refund-policy.md"] and len(report.unchanged) == 3
    assert index.count() == count + 1
    texts = [p.text for p in index.search("refund guarantee", k=5)]
    assert any("14-day" in t for t in texts) and not any("30-day" in t for t in texts)


def test_a_malformed_document_is_reported_and_the_rest_indexed(index, docs):
    (docs / "broken.md").write_bytes(b"\xff\xfe garbage \x00\x01")
    report = index.ingest(docs)
    assert [source for source, _ in report.failed] == ["broken.md"]
    assert len(report.added) == len(DOCS)
    assert "broken.md" in str(report)


def test_a_document_that_turns_malformed_keeps_its_last_good_passages(index, docs):
    index.ingest(docs)
    (docs / "app.md").write_bytes(b"\xff\xfe")
    report = index.ingest(docs)
    assert [source for source, _ in report.failed] == ["app.md"]
    assert index.search("Does the app work on Android?", k=1)[0].source == "app.md"


def test_a_deleted_document_is_dropped(index, docs):
    index.ingest(docs)
    (docs / "app.md").unlink()
    report = index.ingest(docs)
    assert report.removed == ["app.md"]
    assert all(p.source != "app.md" for p in index.search("mobile app Android iOS", k=5))


def test_the_shipped_knowledge_answers_the_seed_questions(index):
    report = index.ingest(ROOT / "knowledge")
    assert not report.failed and len(report.added) >= 5
    assert index.search("What is your refund policy?", k=1)[0].source == "refund-policy.md"
    assert index.search("How much is the professional plan?", k=1)[0].source == "pricing-plans.md"
