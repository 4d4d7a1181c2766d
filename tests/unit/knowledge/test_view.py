"""The readable page of a manual: each section at its anchor, the text escaped, no script allowed."""

from __future__ import annotations

from html.parser import HTMLParser

from knowledge import sniff
from knowledge.parsing import parse
from knowledge.parsing.blocks import Sections, slug
from knowledge.view import CSP, render

MANUAL = """# Pump P-200 manual

Read this first.

## Clearing a jam

1. Switch the pump off.
2. Open the cover <script>alert(1)</script> and remove the debris.

## Clearing a jam

The same heading twice gets a second anchor.

## Αντικατάσταση φίλτρου

| Part | Interval |
|---|---|
| Filter F-12 | 500 h |
""".encode()


class Sectioned(HTMLParser):
    """Text per section id, and whether any script element or event attribute is present."""

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.current = ""
        self.scripts = 0
        self.meta_csp = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self.current = a.get("id") or ""
        if tag == "script" or any(k.startswith("on") for k in a):
            self.scripts += 1
        if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy":
            self.meta_csp = a.get("content") or ""

    def handle_data(self, data: str) -> None:
        self.text[self.current] = self.text.get(self.current, "") + data


def test_markdown_sections_get_unique_github_style_anchors() -> None:
    doc = parse(MANUAL, sniff.MARKDOWN, filename="pump.md")
    anchors = [b.anchor for b in doc.blocks]
    assert anchors == ["pump-p-200-manual", "clearing-a-jam", "clearing-a-jam-1", "αντικατάσταση-φίλτρου"]


def test_the_page_puts_each_section_at_its_anchor_with_the_text_escaped() -> None:
    doc = parse(MANUAL, sniff.MARKDOWN, filename="pump.md")
    page = render(doc, lang="en")
    seen = Sectioned()
    seen.feed(page)
    assert "Switch the pump off" in seen.text["clearing-a-jam"]
    assert "<script>alert(1)</script>" in seen.text["clearing-a-jam"]  # shown as text, not run
    assert seen.scripts == 0 and seen.meta_csp == CSP and "script-src" not in CSP and "default-src 'none'" in CSP
    assert "second anchor" in seen.text["clearing-a-jam-1"]
    assert "Filter F-12" in seen.text["αντικατάσταση-φίλτρου"] and "<th>Part</th>" in page
    assert page.count("Pump P-200 manual</h") == 1  # the title heads the page once, not again as a section


def test_only_the_cited_section_is_marked() -> None:
    doc = parse(MANUAL, sniff.MARKDOWN, filename="pump.md")
    page = render(doc, cited="clearing-a-jam-1")
    marked = page.split('<section id="clearing-a-jam-1">', 1)[1].split("</section>", 1)[0]
    assert "<mark>The same heading twice gets a second anchor.</mark>" in marked
    assert page.count("<mark>") == marked.count("<mark>") == 2  # its heading and its paragraph
    assert "<mark>" not in render(doc)


def test_a_heading_slug_keeps_letters_of_any_script_and_drops_punctuation() -> None:
    assert slug("3.1 Error codes (E01-E09)") == "31-error-codes-e01-e09"
    assert slug("Fehler & Lösungen") == "fehler--lösungen"
    assert slug("???") == "section"
    sections = Sections()
    sections.push(1, "Start")
    sections.push(2, "Start")
    assert sections.anchor == "start-1"
