import json

import pytest

from appliance.knowledge.index import KnowledgeIndex
from appliance.settings import ROOT
from appliance.sqlite import connect

DOCS = {
    "refund-policy.md": "# Refund policy\n\nWe offer a 30-day money-back guarantee on every purchase. "
                        "Write to support with your order number to get your money back.\n",
    "pricing.md": "# Pricing plans\n\n## Basic\n\nThe Basic plan costs 999 rupees a month.\n\n"
                  "## Professional\n\nThe Professional plan costs 2,999 rupees a month.\n",
    "app.md": "# Mobile app\n\nOur app runs on Android and iOS phones.\n",
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
    with KnowledgeIndex(tmp_path / "index.db", embedder) as index:
        yield index


def test_ingest_and_find_the_right_passage(index, docs, tmp_path):
    report = index.ingest(docs)
    assert sorted(report.added) == sorted(DOCS) and not report.failed
    assert report.passages == index.count() == 5
    best = index.search("What is your refund policy?", k=3)
    assert len(best) == 3 and best[0].source == "refund-policy.md" and "30-day" in best[0].text
    assert best[0].heading == "Refund policy" and best[0].score > 0.5
    assert [p.score for p in best] != [best[0].score] * 3
    unrelated = index.search("Do you integrate with Salesforce?", k=1)
    assert best[0].score > unrelated[0].score + 0.3
    plan = index.search("How much is the professional plan?", k=1)[0]
    assert plan.heading == "Pricing plans > Professional" and "2,999" in plan.text


def test_the_index_is_a_file_that_outlives_the_connection(tmp_path, docs, embedder):
    with KnowledgeIndex(tmp_path / "index.db", embedder) as index:
        index.ingest(docs)
    db = connect(tmp_path / "index.db", vec=True)
    assert db.execute("select count(*) from chunks").fetchone()[0] == 5
    assert db.execute("select count(*) from chunk_vectors").fetchone()[0] == 5
    assert sorted(r[0] for r in db.execute("select path from documents")) == sorted(DOCS)
    with KnowledgeIndex(tmp_path / "index.db", embedder) as again:
        assert again.ingest(docs).unchanged == sorted(DOCS)
        assert again.search("How do I get my money back?", k=1)[0].source == "refund-policy.md"


def test_threshold_drops_passages_that_do_not_answer(index, docs):
    index.ingest(docs)
    assert index.search("Do you integrate with Salesforce?", k=3, min_score=0.4) == []
    kept = index.search("What is your refund policy?", k=3, min_score=0.4)
    assert [p.source for p in kept] == ["refund-policy.md"]


def test_reingest_skips_unchanged_and_replaces_changed_documents(index, docs):
    index.ingest(docs)
    count = index.count()
    (docs / "refund-policy.md").write_text("# Refund policy\n\nWe offer a 14-day money-back guarantee.\n\n"
                                           "## Exceptions\n\nSoftware is not refundable.\n")
    report = index.ingest(docs)
    assert report.updated == ["refund-policy.md"] and sorted(report.unchanged) == sorted(set(DOCS) - {"refund-policy.md"})
    assert not report.added and index.count() == count + 1
    texts = [p.text for p in index.search("refund money-back guarantee 30-day", k=10)]
    assert any("14-day" in t for t in texts) and not any("30-day" in t for t in texts)
    assert index.search("Is software refundable?", k=1)[0].heading == "Refund policy > Exceptions"
    again = index.ingest(docs)
    assert sorted(again.unchanged) == sorted(DOCS) and not again.updated and index.count() == count + 1


def test_a_malformed_document_is_reported_and_the_rest_indexed(index, docs):
    (docs / "broken.md").write_bytes(b"\xff\xfe garbage \x00\x01")
    (docs / "latin1.txt").write_bytes("Caf\xe9 opening hours".encode("latin-1"))
    report = index.ingest(docs)
    assert sorted(source for source, _ in report.failed) == ["broken.md", "latin1.txt"]
    assert sorted(report.added) == sorted(DOCS) and index.count() == 5
    assert "broken.md" in str(report) and "latin1.txt" in str(report)
    assert all(p.source in DOCS for p in index.search("garbage cafe opening hours", k=10))


def test_a_document_that_turns_malformed_keeps_its_last_good_passages(index, docs):
    index.ingest(docs)
    (docs / "app.md").write_bytes(b"\xff\xfe")
    report = index.ingest(docs)
    assert [source for source, _ in report.failed] == ["app.md"] and index.count() == 5
    assert index.search("Does the app work on Android?", k=1)[0].source == "app.md"


def test_a_deleted_document_is_dropped(index, docs):
    index.ingest(docs)
    (docs / "app.md").unlink()
    report = index.ingest(docs)
    assert report.removed == ["app.md"] and index.count() == 4
    assert all(p.source != "app.md" for p in index.search("mobile app Android iOS", k=5))


def test_subfolders_count_and_hidden_or_unknown_files_do_not(index, docs):
    (docs / "policies").mkdir()
    (docs / "policies" / "warranty.md").write_text("# Warranty\n\nEvery laptop has a two-year warranty.\n")
    (docs / ".drafts").mkdir()
    (docs / ".drafts" / "secret.md").write_text("# Draft\n\nUnannounced price cut.\n")
    (docs / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00")
    report = index.ingest(docs)
    assert "policies/warranty.md" in report.added and len(report.added) == len(DOCS) + 1 and not report.failed
    assert index.search("How long is the laptop warranty?", k=1)[0].source == "policies/warranty.md"


def test_an_index_built_by_another_layout_is_rebuilt(tmp_path, docs, embedder):
    with KnowledgeIndex(tmp_path / "index.db", embedder) as index:
        index.ingest(docs)
    db = connect(tmp_path / "index.db")
    db.execute("update index_info set value = 'schema 1; some other model'")
    db.commit()
    db.close()
    with KnowledgeIndex(tmp_path / "index.db", embedder) as index:
        assert index.count() == 0
        assert sorted(index.ingest(docs).added) == sorted(DOCS) and index.count() == 5


def test_an_empty_question_finds_nothing(index, docs):
    index.ingest(docs)
    assert index.search("   ") == [] and index.search("refund", k=0) == []


def test_the_shipped_knowledge_answers_the_seed_questions(index):
    report = index.ingest(ROOT / "knowledge")
    assert not report.failed and len(report.added) >= 5
    assert index.search("What is your refund policy?", k=1)[0].source == "refund-policy.md"
    assert index.search("How much is the professional plan?", k=1)[0].source == "pricing-plans.md"


def test_an_upload_stored_under_a_generated_name_is_headed_by_the_name_it_was_given(index, docs):
    (docs / "doc-4f9c2a.txt").write_text("Warranty claims need the receipt and the serial number.\n")
    (docs / ".documents.json").write_text(json.dumps({"doc-4f9c2a.txt": {"title": "Warranty terms.txt", "by": "maria"}}))
    index.ingest(docs)
    found = index.search("What do I need for a warranty claim?", k=1)[0]
    assert (found.source, found.heading) == ("doc-4f9c2a.txt", "Warranty terms")
    assert index.search("When do orders ship?", k=1)[0].heading == "shipping"  # no title: the file's name
    (docs / ".documents.json").write_text(json.dumps({"doc-4f9c2a.txt": {"title": "Guarantee.txt"}}))
    report = index.ingest(docs)
    assert report.updated == ["doc-4f9c2a.txt"]
    assert index.search("What do I need for a warranty claim?", k=1)[0].heading == "Guarantee"
