"""A manual as a readable HTML page built from its parsed blocks, with every section at its anchor.

Citations of HTML, Markdown, text and DOCX manuals link here (``/api/kb/documents/{id}/view#anchor``)
so the reader lands on the cited section, highlighted: by ``:target`` where the page's own style
applies, and, when the section is named (``?at=anchor``: the widget shows the page from a ``blob:``
URL, which takes on the host page's style policy), by ``<mark>`` around its text, which needs no
style at all. The page is written from the parser's
blocks, never from the uploaded markup: every piece of text is escaped, and the page forbids
scripts, frames, forms and any request beyond itself (a Content-Security-Policy in the page and on
the response), so a hostile manual cannot run anything where it is shown.
"""

from __future__ import annotations

from html import escape

from knowledge.models import Block, ParsedDocument

# also sent as a response header; in the page too, because the widget shows it from a blob: URL
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'; base-uri 'none'"

STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem; color: #1f2328; }
section { padding: .25rem .75rem; border-left: 4px solid transparent; scroll-margin-top: 1rem; }
section:target { background: #fff8c5; border-left-color: #d4a72c; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.3rem; } h3, h4, h5, h6 { font-size: 1.1rem; }
table { border-collapse: collapse; margin: .5rem 0; } th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: left; vertical-align: top; }
ul.units { list-style: none; padding-left: .5rem; } pre { white-space: pre-wrap; background: #f6f8fa; padding: .5rem; }
"""


def _block(block: Block, marked: bool) -> str:
    def text(value: str) -> str:
        return f"<mark>{escape(value)}</mark>" if marked else escape(value)

    if block.kind == "list":
        items = "".join(f"<li>{text(unit)}</li>" for unit in block.units)
        return f'<ul class="units">{items}</ul>'
    if block.kind == "table":
        head = ""
        if block.header:
            head = "<thead><tr>" + "".join(f"<th>{text(c.strip())}</th>" for c in block.header.split(" | ")) + "</tr></thead>"
        rows = "".join("<tr>" + "".join(f"<td>{text(c.strip())}</td>" for c in unit.split(" | ")) + "</tr>"
                       for unit in block.units)
        return f"<table>{head}<tbody>{rows}</tbody></table>"
    if block.kind == "pre":
        return f"<pre>{text(block.text)}</pre>"
    return "".join(f"<p>{text(unit)}</p>" for unit in block.units)


def render(parsed: ParsedDocument, *, lang: str | None = None, cited: str = "") -> str:
    """The whole page: the title, then each run of blocks of one section inside ``<section id=anchor>``
    under its heading (headings the previous section already opened are not repeated); the text of the
    section whose anchor is ``cited`` is marked."""
    out = ["<!doctype html>", f'<html lang="{escape(lang or "")}">', "<head>", '<meta charset="utf-8">',
           f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{escape(parsed.title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
           f"<h1>{escape(parsed.title)}</h1>"]
    used: set[str] = set()
    shown: tuple[str, ...] = ()
    current: tuple[tuple[str, ...], str] | None = None
    marked = False
    for block in parsed.blocks:
        key = (block.section, block.anchor)
        if key != current:
            if current is not None:
                out.append("</section>")
            anchor = block.anchor if block.anchor and block.anchor not in used else ""
            used.add(anchor)
            marked = bool(cited) and anchor == cited
            out.append(f'<section id="{escape(anchor)}">' if anchor else "<section>")
            # the headings this section opens: those past the part of the path already shown
            common = 0
            while common < min(len(shown), len(block.section)) and shown[common] == block.section[common]:
                common += 1
            if common == len(block.section) and common and anchor:
                common -= 1  # a new section with the same headings (two "## Clearing a jam"): its own heading
            for depth in range(common, len(block.section)):
                if depth == 0 and block.section[0].strip().lower() == parsed.title.strip().lower():
                    continue  # the document's title is the page's heading already
                level = min(depth + 2, 6)
                heading = escape(block.section[depth])
                out.append(f"<h{level}>{f'<mark>{heading}</mark>' if marked else heading}</h{level}>")
            shown = block.section
            current = key
        out.append(_block(block, marked))
    if current is not None:
        out.append("</section>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
