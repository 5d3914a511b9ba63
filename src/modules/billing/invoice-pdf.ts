import PDFDocument from 'pdfkit';
import { addDays } from './billing-period.js';
import { formatMoney } from './money-format.js';
import type { Invoice } from './invoices.service.js';

/**
 * An invoice as a PDF, drawn with pdfkit (no PDF written by hand). The document information carries the
 * number and total too (`Title`, `Subject`), readable without decompressing the page. `compress: false`
 * leaves the page's text readable in the file (tests).
 */
export function renderInvoicePdf(
  invoice: Invoice,
  parties: { seller: string; customer: string },
  opts: { compress?: boolean } = {},
): Promise<Buffer> {
  const number = invoice.number ?? 'DRAFT';
  const total = formatMoney(invoice.total, invoice.currency);
  const doc = new PDFDocument({
    size: 'A4',
    margin: 50,
    compress: opts.compress ?? true,
    info: { Title: `Invoice ${number}`, Subject: `Total ${total}`, Author: parties.seller },
  });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });

  const lastDay = addDays(invoice.periodEnd, -1);
  doc.fontSize(20).text(`Invoice ${number}`);
  doc.moveDown(0.5).fontSize(10);
  doc.text(`Status: ${invoice.status}`);
  doc.text(`Issued by: ${parties.seller}`);
  doc.text(`Billed to: ${parties.customer}`);
  if (invoice.finalizedAt) doc.text(`Finalized: ${invoice.finalizedAt.slice(0, 10)}`);
  doc.text(`Period: ${invoice.periodStart} to ${lastDay}`);
  doc.moveDown();

  const left = doc.page.margins.left;
  const width = doc.page.width - left - doc.page.margins.right;
  const row = (description: string, quantity: string, amount: string, bold = false) => {
    const y = doc.y;
    doc.font(bold ? 'Helvetica-Bold' : 'Helvetica');
    doc.text(description, left, y, { width: width - 170 });
    const after = doc.y;
    doc.text(quantity, left + width - 160, y, { width: 60, align: 'right' });
    doc.text(amount, left + width - 100, y, { width: 100, align: 'right' });
    doc.y = Math.max(after, doc.y);
    doc.x = left;
  };
  row('Description', 'Quantity', 'Amount', true);
  doc.moveDown(0.3);
  for (const l of invoice.lines) {
    const dates = `${l.periodStart} to ${addDays(l.periodEnd, -1)}`;
    row(`${l.description}\n${dates}`, String(l.quantity), formatMoney(l.amount, invoice.currency));
    doc.moveDown(0.2);
  }
  doc.moveDown();
  row('Subtotal', '', formatMoney(invoice.subtotal, invoice.currency), true);
  row('Total', '', total, true);
  doc.end();
  return done;
}
