"""Small documents of every accepted format, built in memory for the unit tests."""

from __future__ import annotations

import io

import docx
from fpdf import FPDF


def docx_bytes(*, title: str = "") -> bytes:
    """A Word document: a heading, a numbered procedure, a paragraph, a bulleted list and a table."""
    document = docx.Document()
    if title:
        document.core_properties.title = title
    document.add_heading("Blade maintenance", level=1)
    document.add_heading("Replacing the blade", level=2)
    document.add_paragraph("Switch the machine off.", style="List Number")
    document.add_paragraph("Remove the guard.", style="List Number")
    document.add_paragraph("Wear gloves at all times.")
    document.add_paragraph("Fit the new blade.", style="List Number")
    document.add_paragraph("gloves", style="List Bullet")
    document.add_paragraph("torque wrench", style="List Bullet")
    table = document.add_table(rows=3, cols=2)
    for r, (code, meaning) in enumerate([("Code", "Meaning"), ("E07", "Blade blocked"), ("E08", "Motor hot")]):
        table.cell(r, 0).text = code
        table.cell(r, 1).text = meaning
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


class _Manual(FPDF):
    def __init__(self, *, running_footer: bool) -> None:
        super().__init__()
        self.running_footer = running_footer

    def footer(self) -> None:
        if not self.running_footer:
            return
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(0, 6, f"AutoBoss V4 manual - page {self.page_no()}", align="C")


def pdf_bytes(pages: int = 3, *, title: str = "", text: bool = True, password: str = "") -> bytes:
    """A PDF with a bold heading (larger than the body), a paragraph of body text and a running footer
    per page; with ``text=False`` pages that only hold a picture (like a scan without OCR)."""
    pdf = _Manual(running_footer=text)
    if title:
        pdf.set_title(title)
    if password:
        pdf.set_encryption(owner_password=password, user_password=password)
    for n in range(1, pages + 1):
        pdf.add_page()
        if not text:
            pdf.rect(20, 20, 100, 100, style="F")  # a page with no text layer, like a scan
            continue
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(0, 10, f"Section {n}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)
        pdf.multi_cell(0, 5, f"Page {n} explains how the winch is checked before every shift, and what to do "
                             "when the brake slips under load.", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
