"""HTML manuals as they are written in the wild: titles, entities, other charsets, loose text, anchors."""

from __future__ import annotations

from knowledge import sniff
from knowledge.chunking import Chunker
from knowledge.models import document_url
from knowledge.parsing import parse
from knowledge.parsing.text import parse as parse_text


def words(text: str) -> int:
    return len(text.split())


def test_the_title_comes_from_title_else_h1_with_entities_decoded() -> None:
    page = (b"<html><head><title>UPS &amp; cables &#8211; help</title></head><body>"
            b"<pre>POWER-FAIL (2)  &gt;------&lt; RxD</pre><h1>Other</h1></body></html>")
    assert parse(page, sniff.HTML).title == "UPS & cables \u2013 help"
    no_title = b"<html><body><pre>&gt;----&lt;</pre><h1>Smart &amp;amp; simple UPS</h1><p>x</p></body></html>"
    assert parse(no_title, sniff.HTML).title == "Smart & simple UPS"  # doubly escaped too


def test_a_page_in_iso_8859_1_is_accepted_and_decoded() -> None:
    page = ('<!DOCTYPE html><html><head><meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">'
            "<title>Aide</title></head><body><h2>Probl\u00e8mes</h2><p>L'imprimante n'est pas d\u00e9tect\u00e9e.</p>"
            "</body></html>").encode("latin-1")
    assert sniff.sniff(page, "help.html") == sniff.HTML
    doc = parse(page, sniff.HTML)
    assert doc.blocks[0].section == ("Probl\u00e8mes",) and "d\u00e9tect\u00e9e" in doc.blocks[0].text


def test_loose_text_with_line_breaks_becomes_paragraphs_and_steps() -> None:
    page = (b"<html><body><h3>Run hp-check</h3><span>hp-check shows the install status.</span><br><br>"
            b"<span>1. Open a terminal.</span><br><span>2. Run hp-check -t</span><br><br>"
            b"<div>Read the output.</div></body></html>")
    blocks = parse(page, sniff.HTML).blocks
    assert [b.kind for b in blocks] == ["paragraph", "list", "paragraph"]
    assert blocks[1].units == ("1. Open a terminal.", "2. Run hp-check -t")
    assert all(b.section == ("Run hp-check",) for b in blocks)


def test_a_citation_opens_the_section_at_its_anchor() -> None:
    page = (b'<html><body><div class="section" id="battery-replacement"><h2>Battery Replacement</h2>'
            b"<p>Swap the battery.</p></div><a name=\"leds\"></a><h2>Flashing LEDs</h2><p>They flash.</p>"
            b'<h2 id="own">Own id</h2><p>Here.</p></body></html>')
    doc = parse(page, sniff.HTML)
    assert [b.anchor for b in doc.blocks] == ["battery-replacement", "leds", "own"]
    chunks = Chunker(words, target=50).chunk(doc.blocks, doc.title)
    assert [c.anchor for c in chunks] == ["battery-replacement", "leds", "own"]
    assert document_url(7, None, "battery-replacement") == "/api/kb/documents/7/view#battery-replacement"
    assert document_url(7, 3, "ignored") == "/api/kb/documents/7/file#page=3"
    assert document_url(7, None) == "/api/kb/documents/7/view"


def test_a_markdown_heading_has_its_entities_decoded() -> None:
    assert parse(b"# Pumps &amp; valves\n\ntext\n", sniff.MARKDOWN, filename="x.md").title == "Pumps & valves"


def test_a_manual_page_layout_gets_its_sections_and_title() -> None:
    page = (b"SMARTCTL(8)          SMART Monitoring Tools          SMARTCTL(8)\n\n\n"
            b"NAME\n       smartctl - Control and Monitor Utility for SMART Disks\n\n"
            b"OPTIONS\n       -t TEST, --test=TEST\n              Executes TEST immediately.\n\n"
            b"              short - runs SMART Short Self Test.\n")
    doc = parse_text(page, filename="smartctl.txt")
    assert doc.title == "smartctl - Control and Monitor Utility for SMART Disks"  # the NAME line, not the header
    sections = [b.section for b in doc.blocks]
    assert sections[0] == ("NAME",)
    assert sections[1] == sections[2] == ("OPTIONS", "-t TEST, --test=TEST")


def test_a_manual_page_in_lower_case_gets_its_name_line_as_title_and_loses_its_header_and_footer() -> None:
    page = (b"scanimage(1)             SANE Scanner Access Now Easy             scanimage(1)\n\n\n\n"
            b"NAME\n       scanimage - scan an image\n\n"
            b"DESCRIPTION\n       scanimage is a command-line interface to control image acquisition devices.\n\n\n"
            b"                                  10 Jul 2008                     scanimage(1)\n")
    doc = parse_text(page, filename="scanimage.txt")
    assert doc.title == "scanimage - scan an image"
    texts = " ".join(b.text for b in doc.blocks)
    assert "command-line interface" in texts
    assert "scanimage(1)" not in texts and "10 Jul 2008" not in texts
