"""Invoice and credit-note PDFs, drawn with fpdf2 from the same view as the hosted page
(``web/invoice_view.py``): number, dates, seller, buyer, lines with their periods, quantity
and unit price, subtotal, discount, tax, credit applied, total and status.

fpdf2 is pure Python and its core fonts (Helvetica) need no font file, so the PDF works
wherever billgate installs from PyPI. Those fonts cover Windows-1252 (Western European
text, €, £, ¥, the middle dot and dashes); a character outside it (₹, or a name in a
non-Latin script) is written as its closest ASCII form or "?" (``_text``): the hosted page
shows it exactly.
"""

from __future__ import annotations

import unicodedata

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from billgate.web.invoice_view import CreditNoteView, InvoiceView, PartyView

ENCODING = "windows-1252"
_REPLACEMENTS = {"₹": "INR "}
MARGIN = 18.0
WIDTH = 210.0 - 2 * MARGIN  # A4
# Columns of the lines table: description, quantity, unit price, amount.
COLUMNS = (WIDTH - 22 - 32 - 32, 22.0, 32.0, 32.0)
INK, MUTED, RULE = (29, 35, 48), (91, 100, 117), (221, 225, 232)


def _text(value: str) -> str:
    """``value`` as the core fonts can draw it (see the module's docstring)."""
    for char, replacement in _REPLACEMENTS.items():
        value = value.replace(char, replacement)
    try:
        value.encode(ENCODING)
        return value
    except UnicodeEncodeError:
        out = []
        for char in value:
            try:
                char.encode(ENCODING)
                out.append(char)
            except UnicodeEncodeError:
                plain = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
                out.append(plain or "?")
        return "".join(out)


class _Document(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self.core_fonts_encoding = ENCODING
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=MARGIN)
        self.set_title(_text(title))
        self.set_creator("billgate")
        self.add_page()
        self.set_text_color(*INK)

    def write_line(self, value: str, *, size: float = 10, style: str = "", width: float = 0,
                   align: str = "L", color: tuple[int, int, int] = INK, height: float = 5.5,
                   next_line: bool = True) -> None:
        self.set_font("Helvetica", style, size)
        self.set_text_color(*color)
        self.cell(width, height, _text(value), align=align,
                  new_x=XPos.LMARGIN if next_line else XPos.RIGHT,
                  new_y=YPos.NEXT if next_line else YPos.TOP)

    def rule(self) -> None:
        self.set_draw_color(*RULE)
        self.line(MARGIN, self.get_y(), MARGIN + WIDTH, self.get_y())

    def parties(self, left: PartyView, right: PartyView) -> None:
        top = self.get_y()
        half = WIDTH / 2
        bottom = top
        for index, who in enumerate((left, right)):
            self.set_xy(MARGIN + index * half, top)
            self.set_font("Helvetica", "B", 9)
            self.set_text_color(*MUTED)
            self.cell(half, 5, _text(who.title.upper()), new_x=XPos.LEFT, new_y=YPos.NEXT)
            self.set_font("Helvetica", "", 10)
            self.set_text_color(*INK)
            for text in who.lines or ["-"]:
                self.multi_cell(half - 4, 5, _text(text), align="L", new_x=XPos.LEFT,
                                new_y=YPos.NEXT)
            bottom = max(bottom, self.get_y())
        self.set_xy(MARGIN, bottom + 4)

    def facts(self, rows: list[tuple[str, str]]) -> None:
        for label, value in rows:
            self.write_line(label, size=10, color=MUTED, width=35, next_line=False)
            self.write_line(value, size=10)

    def totals(self, rows: list[tuple[str, str, bool]]) -> None:
        for label, value, strong in rows:
            self.set_x(MARGIN + WIDTH - 90)
            self.write_line(label, style="B" if strong else "", width=58, next_line=False,
                            color=INK if strong else MUTED)
            self.write_line(value, style="B" if strong else "", width=32, align="R")


def invoice_pdf(invoice: InvoiceView) -> bytes:
    """The invoice as a PDF (``GET /invoices/{public_id}/pdf``)."""
    doc = _Document(invoice.title)
    doc.write_line("INVOICE", size=20, style="B", height=9, width=WIDTH / 2, next_line=False)
    doc.write_line(invoice.number or "Draft", size=12, style="B", height=9, width=WIDTH / 2,
                   align="R")
    doc.write_line(invoice.status_text, size=10, color=MUTED)
    doc.ln(4)
    doc.parties(invoice.seller, invoice.buyer)
    facts = [("Invoice number", invoice.number or "not issued yet"), ("Issued", invoice.issued)]
    if invoice.paid:
        facts.append(("Paid", invoice.paid))
    facts.append(("Status", invoice.status))
    doc.facts(facts)
    doc.ln(4)
    _lines_table(doc, invoice)
    doc.ln(2)
    rows = [("Subtotal", invoice.subtotal, False)]
    if invoice.discount:
        rows.append(("Discount", invoice.discount, False))
    if invoice.tax and invoice.tax_label:
        rows.append((invoice.tax_label, invoice.tax, False))
    if invoice.credit_applied:
        rows.append(("Account credit applied", invoice.credit_applied, False))
    rows.append(("Total", invoice.total, True))
    if invoice.status == "PAID":
        rows.append(("Amount paid", invoice.total, False))
    elif invoice.status == "OPEN":
        rows.append(("Amount due", invoice.total, True))
    doc.totals(rows)
    if invoice.to_account_credit:
        doc.ln(4)
        doc.write_line(f"{invoice.to_account_credit} was added to your account credit and is "
                       "used on your next invoices.", color=MUTED)
    if invoice.pay_url:
        doc.ln(6)
        doc.set_font("Helvetica", "U", 10)
        doc.set_text_color(52, 84, 209)
        doc.cell(0, 6, _text("Pay in the customer portal"), link=invoice.pay_url,
                 new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(doc.output())


def _lines_table(doc: _Document, invoice: InvoiceView) -> None:
    headers = ("Description", "Qty", "Unit price", "Amount")
    for index, (header, width) in enumerate(zip(headers, COLUMNS, strict=True)):
        doc.write_line(header, size=9, style="B", color=MUTED, width=width,
                       align="L" if index == 0 else "R", next_line=index == len(headers) - 1)
    doc.rule()
    doc.ln(1)
    for line in invoice.lines:
        top = doc.get_y()
        doc.set_font("Helvetica", "", 10)
        doc.set_text_color(*INK)
        # The description may wrap: draw it first and remember where it ended.
        doc.multi_cell(COLUMNS[0], 5.5, _text(line.description), align="L", new_x=XPos.LMARGIN,
                       new_y=YPos.NEXT)
        bottom = doc.get_y()
        x = MARGIN + COLUMNS[0]
        for value, width in ((line.quantity or "", COLUMNS[1]), (line.unit_price or "", COLUMNS[2]),
                             (line.amount, COLUMNS[3])):
            doc.set_xy(x, top)
            doc.cell(width, 5.5, _text(value), align="R")
            x += width
        doc.set_xy(MARGIN, bottom + 1.5)
    doc.rule()
    doc.ln(1)


def credit_note_pdf(note: CreditNoteView) -> bytes:
    """A credit note as a PDF (``GET /credit-notes/{public_id}/pdf``)."""
    doc = _Document(f"Credit note {note.number}")
    doc.write_line("CREDIT NOTE", size=20, style="B", height=9, width=WIDTH / 2, next_line=False)
    doc.write_line(note.number, size=12, style="B", height=9, width=WIDTH / 2, align="R")
    doc.ln(4)
    doc.parties(note.seller, note.buyer)
    facts = [("Credit note", note.number), ("Issued", note.issued)]
    if note.invoice_number:
        facts.append(("Invoice", note.invoice_number))
    doc.facts(facts)
    doc.ln(4)
    doc.write_line("Description", size=9, style="B", color=MUTED, width=WIDTH - 32,
                   next_line=False)
    doc.write_line("Amount", size=9, style="B", color=MUTED, width=32, align="R")
    doc.rule()
    doc.ln(1)
    doc.write_line(note.description, width=WIDTH - 32, next_line=False)
    doc.write_line(note.amount, width=32, align="R")
    doc.rule()
    doc.ln(2)
    doc.totals([("Total credited", note.amount, True)])
    return bytes(doc.output())
