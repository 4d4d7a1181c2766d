"""Render the sample Markdown manuals to PDF with fpdf2 (text layer, headings by font size).

Run ``python knowledge/samples/make_pdfs.py``; the PDFs are committed next to their sources.
Each level-2 section starts a new page, so citations point at real pages.
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace
from markdown_it import MarkdownIt

HERE = Path(__file__).parent
SIZES = {1: 20, 2: 15, 3: 12.5}
BODY = 10


class Manual(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self.doc_title = title
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(18, 18, 18)
        self.set_title(title)
        self.set_author("AutoBoss")
        self.set_creation_date(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))  # reproducible output

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(0, 6, f"{self.doc_title} - page {self.page_no()}", align="C")


def render(md_path: Path, pdf_path: Path) -> None:
    tokens = MarkdownIt("commonmark").enable("table").parse(md_path.read_text())
    title = next(tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open")
    pdf = Manual(title)
    pdf.add_page()
    i = 0
    first_h2 = True
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "heading_open":
            level = int(tok.tag[1])
            if level == 2 and not first_h2:
                pdf.add_page()
            if level == 2:
                first_h2 = False
            pdf.set_font("Helvetica", "B", SIZES.get(level, 11))
            pdf.ln(2)
            pdf.multi_cell(0, SIZES.get(level, 11) * 0.55, tokens[i + 1].content, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1.5)
            i += 3
            continue
        if tok.type == "paragraph_open" and tok.level == 0:
            pdf.set_font("Helvetica", size=BODY)
            pdf.multi_cell(0, 5, tokens[i + 1].content.replace("\n", " "), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
            i += 3
            continue
        if tok.type in ("ordered_list_open", "bullet_list_open"):
            ordered = tok.type == "ordered_list_open"
            n = 1
            pdf.set_font("Helvetica", size=BODY)
            j = i + 1
            while tokens[j].type not in ("ordered_list_close", "bullet_list_close") or tokens[j].level != tok.level:
                if tokens[j].type == "inline":
                    marker = f"{n}." if ordered else "-"
                    pdf.set_x(pdf.l_margin + 4)
                    pdf.multi_cell(0, 5, f"{marker} {tokens[j].content}", new_x="LMARGIN", new_y="NEXT")
                    n += 1
                j += 1
            pdf.ln(2)
            i = j + 1
            continue
        if tok.type == "table_open":
            rows: list[list[str]] = []
            row: list[str] = []
            j = i + 1
            while tokens[j].type != "table_close":
                if tokens[j].type == "tr_open":
                    row = []
                elif tokens[j].type == "inline":
                    row.append(tokens[j].content)
                elif tokens[j].type == "tr_close":
                    rows.append(row)
                j += 1
            pdf.set_font("Helvetica", size=8.5)
            widths = _widths(len(rows[0]))
            with pdf.table(col_widths=widths, headings_style=FontFace(emphasis="BOLD"), line_height=4.2,
                           first_row_as_headings=True) as table:
                for r in rows:
                    cells = table.row()
                    for c in r:
                        cells.cell(c)
            pdf.ln(3)
            i = j + 1
            continue
        i += 1
    pdf.output(str(pdf_path))


def _widths(n: int) -> tuple[int, ...]:
    return {2: (1, 3), 3: (1, 2, 2), 4: (1, 3, 4, 5)}.get(n, tuple([1] * n))


def main(argv: list[str]) -> int:
    sources = [Path(a) for a in argv] or sorted(HERE.glob("*.md"))
    for md in sources:
        if md.name.startswith("README"):
            continue
        out = md.with_suffix(".pdf")
        render(md, out)
        print(f"{md.name} -> {out.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
