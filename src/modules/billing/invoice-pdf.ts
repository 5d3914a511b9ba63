import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import PDFDocument from 'pdfkit';
import { addDays } from './billing-period.js';
import { formatMoney } from './money-format.js';
import type { Invoice } from './invoices.service.js';

// DejaVu Sans, embedded (subset) in every PDF: pdfkit's built-in Helvetica is WinAnsi only, so Cyrillic,
// Greek or Polish names would come out as garbage. Resolved through the module system, not a path.
const require = createRequire(import.meta.url);
let fonts: { body: Buffer; bold: Buffer } | undefined;
const loadFonts = () =>
  (fonts ??= {
    body: readFileSync(require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf')),
    bold: readFileSync(require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf')),
  });

/**
 * An invoice as a PDF, drawn with pdfkit (no PDF written by hand), from the invoice alone: the customer's
 * name, the issuer and the currency's minor digits are the snapshot taken when it was issued. The
 * document information carries the number and total too (`Title`, `Subject`), readable without
 * decompressing the page. `compress: false` leaves the page's content readable in the file (tests).
 */
export function renderInvoicePdf(invoice: Invoice, opts: { compress?: boolean } = {}): Promise<Buffer> {
  const number = invoice.number ?? 'DRAFT';
  const money = (amount: number) => formatMoney(amount, invoice.currency, invoice.minorUnits);
  const total = money(invoice.total);
  const doc = new PDFDocument({
    size: 'A4',
    margin: 50,
    compress: opts.compress ?? true,
    info: { Title: `Invoice ${number}`, Subject: `Total ${total}`, Author: invoice.issuer },
  });
  const { body, bold } = loadFonts();
  doc.registerFont('body', body);
  doc.registerFont('bold', bold);
  doc.font('body');
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
  doc.text(`Issued by: ${invoice.issuer}`);
  doc.text(`Billed to: ${invoice.customerName}`);
  if (invoice.finalizedAt) doc.text(`Finalized: ${invoice.finalizedAt.slice(0, 10)}`);
  doc.text(`Period: ${invoice.periodStart} to ${lastDay}`);
  doc.moveDown();

  const left = doc.page.margins.left;
  const width = doc.page.width - left - doc.page.margins.right;
  const row = (description: string, quantity: string, amount: string, bold = false) => {
    const y = doc.y;
    doc.font(bold ? 'bold' : 'body');
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
    row(`${l.description}\n${dates}`, String(l.quantity), money(l.amount));
    doc.moveDown(0.2);
  }
  doc.moveDown();
  row('Subtotal', '', money(invoice.subtotal), true);
  row('Total', '', total, true);
  doc.end();
  return done;
}
