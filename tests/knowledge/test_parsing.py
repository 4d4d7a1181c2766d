"""Every format keeps pages, section paths, procedures, table rows and codes."""

from __future__ import annotations

import pytest

from knowledge import sniff
from knowledge.chunking import Chunker
from knowledge.codes import extract_codes
from knowledge.embedders import approximate_tokens
from knowledge.parsing import parse
from tests.knowledge import documents


def _find(parsed, needle):
    return next(b for b in parsed.blocks if needle in b.text)


def test_pdf_keeps_pages_sections_procedures_and_table_rows():
    data = documents.pdf(3)
    assert sniff.sniff(data, "manual.txt") == sniff.PDF  # the content decides, not the name
    parsed = parse(data, sniff.PDF)
    assert parsed.pages == 3 and parsed.paged
    assert parsed.title == "Test Robot Manual"
    step = _find(parsed, "Fit brush AB-9001-11.")
    assert step.page == 2
    assert step.section[-2:] == ("2 Chapter 2", "2.1 Replacing the brush")
    assert step.units == ("1. Stop the machine.", "2. Remove the cover.", "3. Fit brush AB-9001-11.", "4. Refit the cover.")
    table = _find(parsed, "E21")
    assert table.page == 3 and table.kind == "table" and table.section[-1] == "3.1 Error codes"
    assert table.header == "Code Meaning Cause Remedy"
    row = next(u for u in table.units if u.startswith("E21"))
    assert "Net caught in the brush" in row and "check fuse F3" in row  # symptom, cause, remedy together


def test_html_drops_scripts_and_keeps_headings_lists_tables():
    assert sniff.sniff(documents.HTML, "x.bin") == sniff.HTML
    parsed = parse(documents.HTML, sniff.HTML)
    assert parsed.title == "Html Manual"
    assert "var x" not in "".join(b.text for b in parsed.blocks)
    steps = _find(parsed, "READY")
    assert steps.section == ("Html Manual", "Operation", "Start-up")
    assert steps.units[1] == "2. Wait for READY."
    table = _find(parsed, "E22")
    assert table.header == "Code | Meaning | Remedy"
    assert table.units[0] == "E21 | Brush motor overload | Remove the net; check fuse F3."


def test_markdown_sections_numbered_lists_and_tables():
    parsed = parse(documents.MARKDOWN, sniff.sniff(documents.MARKDOWN, "m.md"))
    steps = _find(parsed, "AB-7001-02")
    assert steps.section == ("Markdown Manual", "Maintenance", "Every 250 h")
    assert steps.units[0] == "1. Replace the filter AB-7001-02."
    table = _find(parsed, "E21")
    assert table.section[-1] == "Troubleshooting" and len(table.units) == 2


def test_plain_text_form_feeds_are_pages():
    assert sniff.sniff(documents.TEXT, "notes") == sniff.TEXT
    parsed = parse(documents.TEXT, sniff.TEXT)
    assert parsed.paged and parsed.pages == 2
    rows = _find(parsed, "E22")
    assert rows.page == 2 and rows.section[-1] == "2 Troubleshooting"
    assert rows.units == ("E21 Brush motor overload: remove the net.", "E22 Pump cavitation: straighten the hose.")


def test_docx_headings_numbered_lists_and_tables():
    data = documents.docx()
    assert sniff.sniff(data, "manual.pdf") == sniff.DOCX
    parsed = parse(data, sniff.DOCX)
    steps = _find(parsed, "valve V2")
    assert steps.section[-1] == "Maintenance" and steps.units == ("1. Open the valve V2.", "2. Drain the tank.")
    table = _find(parsed, "E22")
    assert table.section[-1] == "Troubleshooting" and table.header == "Code | Meaning | Remedy"


def test_sample_pdf_drops_running_footer_and_keeps_pages():
    from tests.knowledge.conftest import sample

    parsed = parse(sample("autoboss-v4-manual.en.pdf"), sniff.PDF)
    assert parsed.pages == 6
    assert not any("- page" in b.text for b in parsed.blocks)
    codes = _find(parsed, "E07 Cleaning head stalled")
    assert codes.page == 5 and codes.section[-1] == "5.1 Error codes"


@pytest.mark.parametrize("text, codes", [
    ("Error E07 and e-12; part AB-4410-02, AB-6640-06.", ("E07", "E12", "AB-4410-02", "AB-6640-06")),
    ("No codes here, just 250 h and 25 Nm.", ()),
])
def test_codes_are_extracted_intact(text, codes):
    assert extract_codes(text) == codes


def test_chunker_keeps_tables_and_procedures_whole_and_records_codes():
    parsed = parse(documents.MARKDOWN, sniff.MARKDOWN)
    chunks = Chunker(approximate_tokens, target=40, overlap=8).chunk(parsed.blocks, parsed.title)
    table = next(c for c in chunks if "E21" in c.text)
    assert "E22 | Pump cavitation" in table.text and table.text.startswith("Code | Meaning | Remedy")
    assert table.section == "Troubleshooting"  # the document title is not repeated in the path
    assert set(table.codes) == {"E21", "E22"}
    steps = next(c for c in chunks if "AB-7001-02" in c.text)
    assert "3. Check the hoses." in steps.text


def test_chunker_splits_long_tables_between_rows_repeating_the_header():
    from knowledge.models import Block

    rows = tuple(f"E{n:02d} | Fault number {n} | Do remedy {n} carefully and check again" for n in range(1, 40))
    block = Block("table", rows, 4, ("Troubleshooting",), header="Code | Meaning | Remedy")
    chunks = Chunker(approximate_tokens, target=60, overlap=10).chunk([block])
    assert len(chunks) > 2
    for c in chunks:
        assert c.text.startswith("Code | Meaning | Remedy") and c.page == 4
        for line in c.text.splitlines()[1:]:
            assert line in rows  # no row cut in the middle
    assert sum(len(c.text.splitlines()) - 1 for c in chunks) == len(rows)
