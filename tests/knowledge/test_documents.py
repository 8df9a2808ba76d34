import pytest

from appliance.errors import ApplianceError
from appliance.knowledge.documents import MAX_CHARS, PARSERS, parse_document, pieces, read_document, text_chunks


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
    assert " ".join(found).split() == " ".join(paragraphs).split()
    assert all(p.startswith("Paragraph") for p in found[0].split("\n"))  # each paragraph on its own line


def test_text_without_sentence_ends_or_spaces_is_still_cut_to_size():
    found = pieces("word " * 400 + "x" * 1200)
    assert all(len(p) <= MAX_CHARS for p in found)
    assert "".join(found).replace(" ", "") == ("word" * 400 + "x" * 1200)


def test_plain_text_paragraphs(tmp_path):
    path = tmp_path / "hours.txt"
    path.write_text("Open nine to five.\n\nClosed on Sundays.")
    chunks = read_document(path)
    assert [c.text for c in chunks] == ["Open nine to five.\nClosed on Sundays."]
    assert chunks[0].heading == "hours"


def test_a_price_lists_rows_stay_lines(tmp_path):
    path = tmp_path / "prices.txt"
    path.write_text("TANKS - SUPPLY AND FIT\n---------\n  1,350 litre tank ...... €1,195\n"
                    "  2,500   litre tank ...... €1,690\nWe take the old tank away\nfree of charge.")
    [chunk] = read_document(path)
    assert chunk.heading == "prices > TANKS - SUPPLY AND FIT"  # a heading over a rule, as text files head sections
    assert chunk.text.split("\n") == ["1,350 litre tank ...... €1,195", "2,500 litre tank ...... €1,690",
                                          "We take the old tank away", "free of charge."]


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


def make_pdf(pages: list[list[str]], title: str = "") -> bytes:
    """A small, valid PDF with one text line per entry in each page, in Helvetica, written object by object."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "", "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for lines in pages:
        text = " ".join(f"({line}) Tj 0 -16 Td" for line in lines)
        stream = f"BT /F1 12 Tf 72 720 Td {text} ET"
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {len(objects)} 0 R"
                       " /Resources << /Font << /F1 3 0 R >> >> >>")
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    objects.append(f"<< /Title ({title}) >>")
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    start = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n"
            f"startxref\n{start}\n%%EOF\n").encode()
    return bytes(out)


def test_pdf_pages_become_passages_under_the_title(tmp_path):
    path = tmp_path / "warranty.pdf"
    path.write_bytes(make_pdf([["Every laptop has a two year warranty."], ["Batteries are covered for one year."]],
                              title="TechCorp warranty"))
    chunks = read_document(path)
    assert [c.heading for c in chunks] == ["TechCorp warranty, page 1", "TechCorp warranty, page 2"]
    assert "two year warranty" in chunks[0].text and "Batteries" in chunks[1].text


@pytest.mark.parametrize("data, words", [
    (b"%PDF-1.4\nthis is not really a pdf", "unreadable PDF"),
    (make_pdf([[]]), "no text"),  # a page with no text layer, like a scan
])
def test_a_broken_or_textless_pdf_is_refused(tmp_path, data, words):
    path = tmp_path / "bad.pdf"
    path.write_bytes(data)
    with pytest.raises(ApplianceError) as error:
        read_document(path)
    assert error.value.code == "knowledge-document-invalid" and words in str(error.value)


def test_a_text_files_headings_are_its_sections(tmp_path):
    path = tmp_path / "notice.txt"
    path.write_text("Opening hours\n=============\nMonday to Friday ...... 8 am - 5 pm\n\nEMERGENCIES - 24 HOURS\n"
                    "Call 0733 900 117 at any time.\n\nWE ARE A FAMILY BUSINESS since 1990, and proud of it.\n")
    chunks = read_document(path)
    assert [c.heading for c in chunks] == ["notice > Opening hours", "notice > EMERGENCIES - 24 HOURS"]
    assert chunks[1].text == "Call 0733 900 117 at any time.\nWE ARE A FAMILY BUSINESS since 1990, and proud of it."


def test_a_numbered_heading_in_capitals_with_a_note_in_brackets_makes_a_section():
    text = ("WARRANTY AND RETURNS\n\n1. WARRANTY PERIODS (outright purchase)\n   Filter U4 ........ 2 years\n\n"
            "2. RENTAL UNITS\n   Covered for the whole contract.\n")
    headings = [chunk.heading for chunk in text_chunks("warranty.txt", text)]
    assert "warranty > 1. WARRANTY PERIODS (outright purchase)" in headings and "warranty > 2. RENTAL UNITS" in headings


def test_a_wrapped_list_item_is_never_cut_between_pieces():
    item = "- If an order is late by more than 2 business days past the estimated date, we open a priority\n" \
           "  support ticket and waive the delivery fee.\n"
    text = "".join(f"- Rule {n}: orders placed before 2 PM on a business day ship the same day.\n" for n in range(6)) + item
    cut = pieces(text, limit=500)
    assert len(cut) > 1 and not any(piece.startswith("support ticket") for piece in cut)
    assert any(piece.endswith("we open a priority support ticket and waive the delivery fee.") for piece in cut)


def test_a_line_that_introduces_a_list_is_never_cut_from_it():
    text = ("Every box is guaranteed to arrive alive. " * 11 + "\n\nIf any lobsters arrive dead:\n\n"
            "1. Let us know within 24 hours of delivery.\n2. Send a photo of the open box.\n")
    cut = pieces(text, limit=500)
    assert len(cut) == 2 and cut[1].startswith("If any lobsters arrive dead:\n1. Let us know within 24 hours")
