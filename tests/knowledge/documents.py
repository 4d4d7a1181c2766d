"""Small documents in every supported format, built with real libraries (fpdf2, python-docx, pypdf)."""

from __future__ import annotations

import io

from fpdf import FPDF

TROUBLE_ROWS = [
    ("E21", "Brush motor overload", "Net caught in the brush", "Stop the brush and remove the net; check fuse F3."),
    ("E22", "Pump cavitation", "Suction hose kinked", "Straighten the hose and bleed the pump with valve V2."),
]


def pdf(pages: int = 3, *, title: str = "Test Robot Manual") -> bytes:
    """A PDF with a title, one bold heading per page, a numbered procedure and a troubleshooting table."""
    doc = FPDF()
    doc.set_title(title)
    for n in range(1, pages + 1):
        doc.add_page()
        if n == 1:
            doc.set_font("Helvetica", "B", 20)
            doc.cell(0, 12, title, new_x="LMARGIN", new_y="NEXT")
        doc.set_font("Helvetica", "B", 15)
        doc.cell(0, 10, f"{n} Chapter {n}", new_x="LMARGIN", new_y="NEXT")
        doc.set_font("Helvetica", size=10)
        doc.multi_cell(0, 5, f"This is the body text of chapter {n}. It explains the machine in plain words.",
                       new_x="LMARGIN", new_y="NEXT")
        if n == 2:
            doc.set_font("Helvetica", "B", 12.5)
            doc.cell(0, 8, "2.1 Replacing the brush", new_x="LMARGIN", new_y="NEXT")
            doc.set_font("Helvetica", size=10)
            for i, step in enumerate(["Stop the machine.", "Remove the cover.", "Fit brush AB-9001-11.", "Refit the cover."], 1):
                doc.multi_cell(0, 5, f"{i}. {step}", new_x="LMARGIN", new_y="NEXT")
        if n == 3:
            doc.set_font("Helvetica", "B", 12.5)
            doc.cell(0, 8, "3.1 Error codes", new_x="LMARGIN", new_y="NEXT")
            doc.set_font("Helvetica", size=8.5)
            with doc.table(col_widths=(1, 3, 3, 5)) as table:
                for row in [("Code", "Meaning", "Cause", "Remedy"), *TROUBLE_ROWS]:
                    cells = table.row()
                    for c in row:
                        cells.cell(c)
    return bytes(doc.output())


def image_only_pdf() -> bytes:
    """A 'scanned' PDF: pages with a picture and no text layer."""
    from PIL import Image

    img = Image.new("RGB", (200, 100), "white")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    doc = FPDF()
    for _ in range(2):
        doc.add_page()
        doc.image(io.BytesIO(buf.getvalue()), x=10, y=10, w=100)
    return bytes(doc.output())


def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(pdf(1))).pages:
        writer.add_page(page)
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx() -> bytes:
    import docx as python_docx

    d = python_docx.Document()
    d.core_properties.title = "Docx Manual"
    d.add_heading("Docx Manual", level=1)
    d.add_heading("Maintenance", level=2)
    d.add_paragraph("Check the winch every week.")
    d.add_paragraph("Open the valve V2.", style="List Number")
    d.add_paragraph("Drain the tank.", style="List Number")
    d.add_heading("Troubleshooting", level=2)
    table = d.add_table(rows=1, cols=3)
    for cell, text in zip(table.rows[0].cells, ("Code", "Meaning", "Remedy"), strict=True):
        cell.text = text
    for code, meaning, _cause, remedy in TROUBLE_ROWS:
        cells = table.add_row().cells
        cells[0].text, cells[1].text, cells[2].text = code, meaning, remedy
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


HTML = b"""<!DOCTYPE html><html><head><title>Html Manual</title><script>var x = 1;</script></head><body>
<nav>Home | Products</nav>
<h1>Html Manual</h1><h2>Operation</h2><h3>Start-up</h3>
<ol><li>Switch on the main switch.</li><li>Wait for READY.</li><li>Press START.</li></ol>
<h2>Troubleshooting</h2>
<table><tr><th>Code</th><th>Meaning</th><th>Remedy</th></tr>
<tr><td>E21</td><td>Brush motor overload</td><td>Remove the net; check fuse F3.</td></tr>
<tr><td>E22</td><td>Pump cavitation</td><td>Straighten the hose.</td></tr></table>
</body></html>"""

MARKDOWN = b"""# Markdown Manual

## Maintenance

### Every 250 h

1. Replace the filter AB-7001-02.
2. Grease the winch.
3. Check the hoses.

## Troubleshooting

| Code | Meaning | Remedy |
|---|---|---|
| E21 | Brush motor overload | Remove the net; check fuse F3. |
| E22 | Pump cavitation | Straighten the hose. |
"""

TEXT = (b"TEXT MANUAL\n\n1 Safety\n\nAlways stop the pump before service.\n\f"
        b"2 Troubleshooting\n\nE21 Brush motor overload: remove the net.\nE22 Pump cavitation: straighten the hose.\n")
