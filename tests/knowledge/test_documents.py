import pytest

from appliance.errors import ApplianceError
from appliance.knowledge.documents import read_document


def test_markdown_sections_keep_their_heading_path(tmp_path):
    path = tmp_path / "refunds.md"
    path.write_text("# Refund policy\n\nWe offer a 30-day guarantee.\n\n## Exceptions\n\nGift cards are final.\n"
                    "\n# Shipping\nFree over 500.\n")
    chunks = read_document(path)
    assert [(c.heading, c.text) for c in chunks] == [
        ("Refund policy", "We offer a 30-day guarantee."),
        ("Refund policy > Exceptions", "Gift cards are final."),
        ("Shipping", "Free over 500."),
    ]
    assert {c.source for c in chunks} == {"refunds.md"}


def test_long_sections_are_cut_at_sentences(tmp_path):
    path = tmp_path / "long.md"
    path.write_text("# Long\n\n" + " ".join(f"Sentence number {i} is here." for i in range(100)))
    chunks = read_document(path)
    assert len(chunks) > 3 and all(len(c.text) <= 500 for c in chunks)
    assert " ".join(c.text for c in chunks).count("Sentence number") == 100


def test_plain_text_paragraphs(tmp_path):
    path = tmp_path / "hours.txt"
    path.write_text("Open nine to five.\n\nClosed on Sundays.")
    chunks = read_document(path)
    assert [c.text for c in chunks] == ["Open nine to five.\n\nClosed on Sundays.".replace("\n\n", " ")]
    assert chunks[0].heading == "hours"


@pytest.mark.parametrize("name, data, words", [
    ("latin1.md", "Caf\xe9 prices".encode("latin-1"), "not UTF-8"),
    ("binary.md", b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
    ("empty.md", b"  \n\n", "no text"),
    ("table.csv", b"a,b", "no parser"),
])
def test_malformed_documents_are_refused_by_name(tmp_path, name, data, words):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ApplianceError) as error:
        read_document(path)
    assert error.value.code == "knowledge-document-invalid" and name in str(error.value) and words in str(error.value)
