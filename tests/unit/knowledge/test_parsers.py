"""Each format's parser on small documents built here: sections, pages, lists, tables, titles, and
the refusals (corrupt, encrypted, scanned, too many pages)."""

from __future__ import annotations

import pytest

from knowledge import sniff
from knowledge.errors import (
    CorruptDocument,
    EncryptedDocument,
    ImageOnlyDocument,
    TooManyPages,
    UnsupportedType,
)
from knowledge.models import Block
from knowledge.parsing import PARSERS, parse
from knowledge.parsing.blocks import Sections, line_blocks, title_from
from tests.unit.knowledge.docs import docx_bytes, pdf_bytes


def kinds(blocks: tuple[Block, ...]) -> list[str]:
    return [b.kind for b in blocks]


# -- dispatch and shared helpers ------------------------------------------------------------------

def test_every_sniffed_type_has_a_parser() -> None:
    assert set(PARSERS) == sniff.ALLOWED


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(UnsupportedType):
        parse(b"GIF89a", "image/gif")


def test_sections_close_headings_at_the_same_level_or_deeper() -> None:
    sections = Sections()

    def push(level: int, title: str) -> tuple[str, ...]:
        sections.push(level, title)
        return sections.current

    assert push(1, "Manual") == ("Manual",)
    assert push(2, "Cleaning ") == ("Manual", "Cleaning")
    assert push(3, "Daily") == ("Manual", "Cleaning", "Daily")
    assert push(2, "Belts") == ("Manual", "Belts")
    assert push(1, "Appendix") == ("Appendix",)


def test_lines_starting_steps_or_codes_become_list_units() -> None:
    [block] = line_blocks(["1. Open the hatch", "   slowly", "2. Check the belt"], 3, ("S",))
    assert block == Block("list", ("1. Open the hatch slowly", "2. Check the belt"), 3, ("S",))
    [block] = line_blocks(["E07 blade blocked", "E08 motor hot"], 1, ())
    assert block.kind == "list" and block.units == ("E07 blade blocked", "E08 motor hot")
    [block] = line_blocks(["Just a sentence", "that wraps."], 1, ())
    assert block == Block("paragraph", ("Just a sentence that wraps.",), 1, ())


def test_title_is_the_first_section_else_the_file_name() -> None:
    assert title_from([Block("paragraph", ("x",), 1, ("Guide", "Intro"))], "f.md") == "Guide"
    assert title_from([Block("paragraph", ("x",), 1, ())], "docs/v4-manual.en.md") == "v4-manual.en"
    assert title_from([], "") == "Untitled"


# -- Markdown -------------------------------------------------------------------------------------

MARKDOWN = """# AutoBoss V4

Intro paragraph.

## Blade

3. Switch off
4. Remove the guard
   - keep the screws
5. Fit the blade

| Code | Meaning |
|------|---------|
| E07  | Blade blocked |
| E08  | Motor hot |

```
torque 12 Nm
```
"""


def test_markdown() -> None:
    doc = parse(MARKDOWN.encode(), sniff.MARKDOWN, filename="v4.md")
    assert doc.title == "AutoBoss V4" and doc.pages == 1 and not doc.paged
    assert kinds(doc.blocks) == ["paragraph", "list", "table", "pre"]
    intro, steps, table, pre = doc.blocks
    assert intro.section == ("AutoBoss V4",) and steps.section == ("AutoBoss V4", "Blade")
    assert steps.units == ("3. Switch off", "4. Remove the guard", "  - keep the screws", "5. Fit the blade")
    assert table.header == "Code | Meaning" and table.units == ("E07 | Blade blocked", "E08 | Motor hot")
    assert pre.units == ("torque 12 Nm",)


def test_markdown_without_headings_is_named_after_the_file() -> None:
    assert parse(b"Only text.", sniff.MARKDOWN, filename="notes/quick-guide.md").title == "quick-guide"


# -- HTML -----------------------------------------------------------------------------------------

HTML = """<!DOCTYPE html><html><head><title>V4 help</title><style>p {}</style></head><body>
<nav><p>Home | Manuals</p></nav>
<h1>Maintenance</h1><p>Check daily.</p>
<h2>Steps</h2><ol start="2"><li>Open <b>the</b> hatch</li><li>Clean</li></ol>
<ul><li>gloves<ul><li>nested, part of its item</li></ul></li></ul>
<table><tr><th>Code</th><th>Meaning</th></tr><tr><td>E07</td><td>Blade blocked</td></tr><tr><td></td><td></td></tr></table>
<pre>  line 1
  line 2</pre>
<script>var p = "<p>not text</p>";</script>
<footer><p>(c) AutoBoss</p></footer></body></html>"""


def test_html() -> None:
    doc = parse(HTML.encode(), sniff.HTML)
    assert doc.title == "V4 help" and doc.pages == 1
    assert kinds(doc.blocks) == ["paragraph", "list", "list", "table", "pre"]
    para, ordered, bullets, table, pre = doc.blocks
    assert para.units == ("Check daily.",) and para.section == ("Maintenance",)
    assert ordered.units == ("2. Open the hatch", "3. Clean") and ordered.section == ("Maintenance", "Steps")
    assert bullets.units == ("- gloves nested, part of its item",)
    assert table.header == "Code | Meaning" and table.units == ("E07 | Blade blocked",)  # the empty row is dropped
    assert pre.units == ("  line 1\n  line 2",)
    assert "AutoBoss" not in " ".join(b.text for b in doc.blocks)  # footer and nav are dropped


def test_html_without_a_title_uses_its_first_heading() -> None:
    assert parse(b"<html><body><h2>Winch</h2><p>x</p></body></html>", sniff.HTML).title == "Winch"


# -- plain text -----------------------------------------------------------------------------------

TEXT = """AUTOBOSS V4 MANUAL

For operators of the V4.

1 Safety

Wear gloves. Keep hands away from the blade
while it turns.

1.1 Before starting

1. Check the guard
2. Check the belt
   and its tension

\f2 Troubleshooting

E07 Blade blocked: remove the obstruction
E08 Motor hot: let it cool
"""


def test_plain_text() -> None:
    doc = parse(TEXT.encode(), sniff.TEXT, filename="v4.txt")
    assert doc.pages == 2 and doc.paged
    assert doc.title == "AUTOBOSS V4 MANUAL"
    assert kinds(doc.blocks) == ["paragraph", "paragraph", "list", "list"]
    intro, para, steps, codes = doc.blocks
    assert intro.section == ("AUTOBOSS V4 MANUAL",)
    # numbered headings nest by their numbers; "1 Safety" is level 1 like the capitalised title
    assert para.units == ("Wear gloves. Keep hands away from the blade while it turns.",)
    assert para.section == ("1 Safety",) and para.page == 1
    assert steps.section == ("1 Safety", "1.1 Before starting")
    assert steps.units == ("1. Check the guard", "2. Check the belt and its tension")
    assert codes.page == 2 and codes.section == ("2 Troubleshooting",)
    assert codes.units == ("E07 Blade blocked: remove the obstruction", "E08 Motor hot: let it cool")


def test_text_without_form_feeds_has_no_real_pages() -> None:
    doc = parse("\ufeffone paragraph only.".encode(), sniff.TEXT, filename="a.txt")
    assert doc.pages == 1 and not doc.paged and doc.blocks[0].units == ("one paragraph only.",)


# -- DOCX -----------------------------------------------------------------------------------------

def test_docx() -> None:
    doc = parse(docx_bytes(title="Blade guide"), sniff.DOCX)
    assert doc.title == "Blade guide" and doc.pages == 1
    assert kinds(doc.blocks) == ["list", "paragraph", "list", "table"]
    first, para, second, table = doc.blocks
    assert first.section == ("Blade maintenance", "Replacing the blade")
    assert first.units == ("1. Switch the machine off.", "2. Remove the guard.")
    assert para.units == ("Wear gloves at all times.",)
    assert second.units == ("1. Fit the new blade.", "- gloves", "- torque wrench")  # numbering restarts
    assert table.header == "Code | Meaning" and table.units == ("E07 | Blade blocked", "E08 | Motor hot")


def test_docx_title_falls_back_to_the_first_heading() -> None:
    assert parse(docx_bytes(), sniff.DOCX).title == "Blade maintenance"


def test_a_broken_docx_is_corrupt() -> None:
    with pytest.raises(CorruptDocument):
        parse(docx_bytes()[:300], sniff.DOCX)


# -- PDF ------------------------------------------------------------------------------------------

def test_pdf_headings_pages_and_running_footer() -> None:
    doc = parse(pdf_bytes(3, title="V4 manual"), sniff.PDF)
    assert doc.title == "V4 manual" and doc.pages == 3 and doc.paged
    assert [(b.page, b.section) for b in doc.blocks] == [(1, ("Section 1",)), (2, ("Section 2",)), (3, ("Section 3",))]
    assert doc.blocks[1].units[0].startswith("Page 2 explains how the winch is checked")
    assert not any("page 1" in b.text.lower() and "manual" in b.text.lower() for b in doc.blocks)  # footer dropped


def test_pdf_title_falls_back_to_the_first_heading() -> None:
    assert parse(pdf_bytes(1), sniff.PDF).title == "Section 1"


def test_pdf_refusals() -> None:
    with pytest.raises(TooManyPages):
        parse(pdf_bytes(3), sniff.PDF, max_pages=2)
    with pytest.raises(EncryptedDocument):
        parse(pdf_bytes(1, password="secret"), sniff.PDF)
    with pytest.raises(ImageOnlyDocument):
        parse(pdf_bytes(2, text=False), sniff.PDF)
    with pytest.raises(CorruptDocument):
        parse(b"%PDF-1.4\nnot really a pdf", sniff.PDF)
