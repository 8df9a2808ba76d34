import pytest

from appliance.errors import ApplianceError
from appliance.knowledge.documents import MAX_CHARS, PARSERS, parse_document, pieces, read_document


def test_markdown_sections_keep_their_heading_path(tmp_path):
    path = tmp_path / "refunds.md"
    path.write_text("Read this first.\n\n# Refund policy\n\nWe offer a 30-day guarantee.\n\n## Exceptions\n\n"
                    "Gift cards are final.\n\n### Digital goods ###\n\nDownloads too.\n\n# Shipping\nFree over 500.\n")
    chunks = read_document(path)
    assert [(c.heading, c.text) for c in chunks] == [
        ("refunds", "Read this first."),
        ("Refund policy", "We offer a 30-day guarantee."),
        ("Refund policy > Exceptions", "Gift cards are final."),
        ("Refund policy > Exceptions > Digital goods", "Downloads too."),
        ("Shipping", "Free over 500."),
    ]
    assert {c.source for c in chunks} == {"refunds.md"}


def test_a_hash_inside_a_code_block_is_not_a_heading():
    chunks = parse_document("setup.md", b"# Setup\n\n```\n# not a heading\nrun it\n```\n")
    assert [c.heading for c in chunks] == ["Setup"]
    assert "# not a heading" in chunks[0].text


def test_a_byte_order_mark_does_not_hide_the_first_heading():
    chunks = parse_document("faq.md", "\ufeff# FAQ\n\nAsk us anything.".encode("utf-8"))
    assert [(c.heading, c.text) for c in chunks] == [("FAQ", "Ask us anything.")]


def test_long_sections_are_cut_at_sentences(tmp_path):
    path = tmp_path / "long.md"
    path.write_text("# Long\n\n" + " ".join(f"Sentence number {i} is here." for i in range(100)))
    chunks = read_document(path)
    assert len(chunks) > 3 and all(len(c.text) <= MAX_CHARS for c in chunks)
    assert all(c.text.endswith("is here.") for c in chunks)
    assert " ".join(c.text for c in chunks).count("Sentence number") == 100


def test_short_paragraphs_are_packed_and_never_cut():
    paragraphs = [f"Paragraph {i} " + "word " * 30 for i in range(10)]
    found = pieces("\n\n".join(paragraphs))
    assert 1 < len(found) < 10 and all(len(p) <= MAX_CHARS for p in found)
    assert " ".join(found) == " ".join(" ".join(p.split()) for p in paragraphs)


def test_text_without_sentence_ends_or_spaces_is_still_cut_to_size():
    found = pieces("word " * 400 + "x" * 1200)
    assert all(len(p) <= MAX_CHARS for p in found)
    assert "".join(found).replace(" ", "") == ("word" * 400 + "x" * 1200)


def test_plain_text_paragraphs(tmp_path):
    path = tmp_path / "hours.txt"
    path.write_text("Open nine to five.\n\nClosed on Sundays.")
    chunks = read_document(path)
    assert [c.text for c in chunks] == ["Open nine to five. Closed on Sundays."]
    assert chunks[0].heading == "hours"


def test_each_suffix_has_its_parser():
    assert {".md", ".markdown", ".txt"} <= set(PARSERS)
    assert parse_document("Notes.TXT", b"hello")[0].text == "hello"


@pytest.mark.parametrize("name, data, words", [
    ("latin1.md", "Caf\xe9 prices".encode("latin-1"), "not UTF-8"),
    ("binary.md", b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
    ("empty.md", b"  \n\n", "no text"),
    ("headings-only.md", b"# Title\n## Sub\n", "no text"),
    ("table.csv", b"a,b", "no parser"),
])
def test_malformed_documents_are_refused_by_name(tmp_path, name, data, words):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ApplianceError) as error:
        read_document(path)
    assert error.value.code == "knowledge-document-invalid" and name in str(error.value) and words in str(error.value)


def test_a_missing_file_is_refused_by_name(tmp_path):
    with pytest.raises(ApplianceError) as error:
        read_document(tmp_path / "gone.md")
    assert error.value.code == "knowledge-document-invalid" and "gone.md" in str(error.value)


def test_html_headings_and_lists_become_passages(tmp_path):
    from appliance.knowledge.documents import read_document

    path = tmp_path / "warranty.html"
    path.write_text("<html><head><title>x</title><script>var a = 1;</script></head><body>"
                    "<h1>Warranty</h1><p>Every laptop has a <b>two-year</b> warranty.</p>"
                    "<h2>Exclusions</h2><ul><li>Water damage</li><li>Lost devices</li></ul>"
                    "<p>Prices &amp; terms may change.</p></body></html>")
    chunks = read_document(path)
    assert [c.heading for c in chunks] == ["Warranty", "Warranty > Exclusions"]
    assert chunks[0].text == "Every laptop has a two-year warranty."
    assert "Water damage" in chunks[1].text and "Lost devices" in chunks[1].text and "&" in chunks[1].text
    assert all("var a" not in c.text for c in chunks)
