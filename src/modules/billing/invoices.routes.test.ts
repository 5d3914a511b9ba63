import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createTestAuthenticator } from '../../../test/support/app.js';
import { createTestOrg } from '../../../test/support/tenancy.js';
import { createBareOrganization } from '../organizations/organization-records.js';
import type { Composition } from '../../app/compose.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import { closeJanuary } from './invoice-fixture.test-support.js';
import { createInvoicesService, type Invoice } from './invoices.service.js';
import { formatMoney } from './money-format.js';

/**
 * The text the pages of a pdfkit PDF show. Text in an embedded (subset) font is written as glyph codes,
 * hex strings in TJ arrays; each font's ToUnicode map turns its codes back into characters, and the
 * content stream says which font (`/F1 10 Tf`) each TJ uses. Deflated streams are inflated.
 */
function pageText(pdf: Buffer): string {
  const raw = pdf.toString('latin1');
  const objects = new Map<string, { dict: string; data: string }>();
  for (const m of raw.matchAll(/(\d+) 0 obj\s*([\s\S]*?)\bendobj/g)) {
    const [body, dict = body] = [m[2]!, /^([\s\S]*?)stream\r?\n/.exec(m[2]!)?.[1]];
    const stream = /stream\r?\n([\s\S]*)\r?\nendstream/.exec(body)?.[1];
    let data = stream ?? '';
    if (stream !== undefined && dict.includes('/FlateDecode')) {
      data = inflateSync(Buffer.from(stream, 'latin1')).toString('latin1');
    }
    objects.set(m[1]!, { dict, data });
  }
  /** Font object number → (glyph code → characters), from its ToUnicode CMap. */
  const toUnicode = new Map<string, Map<string, string>>();
  for (const [num, { dict }] of objects) {
    const ref = /\/ToUnicode (\d+) 0 R/.exec(dict)?.[1];
    if (!ref) continue;
    const map = new Map<string, string>();
    const cmap = objects.get(ref)!.data;
    const utf16 = (hex: string) =>
      String.fromCharCode(...(hex.match(/.{4}/g) ?? []).map((h) => parseInt(h, 16)));
    for (const r of cmap.matchAll(/<([0-9a-f]{4})> <([0-9a-f]{4})> \[([^\]]*)\]/gi)) {
      const start = parseInt(r[1]!, 16);
      [...r[3]!.matchAll(/<([0-9a-f ]+)>/gi)].forEach((u, i) =>
        map.set((start + i).toString(16).padStart(4, '0'), utf16(u[1]!.replace(/ /g, ''))),
      );
    }
    for (const r of cmap.matchAll(/<([0-9a-f]{4})> <([0-9a-f]+)>\s*$/gim))
      map.set(r[1]!.toLowerCase(), utf16(r[2]!));
    toUnicode.set(num, map);
  }
  const fontRefs = new Map([...raw.matchAll(/\/(F\d+) (\d+) 0 R/g)].map((m) => [m[1]!, m[2]!]));
  const lines: string[] = [];
  for (const { data } of objects.values()) {
    if (!/ T[fJ]\b/.test(data)) continue;
    let font: Map<string, string> | undefined;
    for (const t of data.matchAll(/\/(F\d+) [\d.]+ Tf|\[((?:<[0-9a-f]*>\s*-?[\d.]*\s*)+)\]\s*TJ/g)) {
      if (t[1]) font = toUnicode.get(fontRefs.get(t[1]) ?? '');
      else if (font) {
        const codes = [...t[2]!.matchAll(/<([0-9a-f]*)>/g)].flatMap((h) => h[1]!.match(/.{4}/g) ?? []);
        lines.push(codes.map((c) => font!.get(c) ?? '\ufffd').join(''));
      }
    }
  }
  return lines.join('\n');
}

describe('invoice routes', () => {
  let c: Composition;
  let issue: ReturnType<typeof createTestAuthenticator>['issue'];
  let orgA: string;
  let orgB: string;
  let invoiceA: Invoice;
  let invoiceB: Invoice;
  const auth = (t: string) => ({ authorization: `Bearer ${t}` });

  beforeAll(async () => {
    const r = createTestAuthenticator();
    issue = r.issue;
    c = await buildTestApp({ authenticator: r.authenticator, runJobs: false });
    orgA = await createTestOrg(c.tenancy, 'inv-a');
    orgB = await createTestOrg(c.tenancy, 'inv-b');
    invoiceA = await closeJanuary(c, orgA);
    invoiceB = await closeJanuary(c, orgB);
  });
  afterAll(async () => {
    await c.app.close();
    await c.close();
  });

  it('lists, paginated, and reads one invoice', async () => {
    const token = issue(orgA);
    const list = await c.app.inject({ url: '/v1/billing/invoices?limit=1', headers: auth(token) });
    expect(list.statusCode, list.body).toBe(200);
    expect(list.json()).toEqual({ data: [invoiceA], nextCursor: null });
    const one = await c.app.inject({ url: `/v1/billing/invoices/${invoiceA.id}`, headers: auth(token) });
    expect(one.json()).toEqual(invoiceA);
    // 123456 flat + 2 packages × 250.
    expect(invoiceA.total).toBe(123956);
  });

  it('the PDF: application/pdf, a real PDF naming the number and the total', async () => {
    const res = await c.app.inject({
      url: `/v1/billing/invoices/${invoiceA.id}/pdf`,
      headers: auth(issue(orgA)),
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/pdf');
    expect(res.headers['content-disposition']).toBe(`attachment; filename="${invoiceA.number}.pdf"`);
    const pdf = res.rawPayload;
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(pdf.subarray(-6).toString('latin1')).toMatch(/%%EOF/);
    const raw = pdf.toString('latin1');
    // The document information is never compressed.
    expect(raw).toContain(`(Invoice ${invoiceA.number})`);
    expect(raw).toContain('(Total 1,239.56 EUR)');
    // The page itself (its content stream is deflated in production).
    expect(pageText(pdf)).toContain(`Invoice ${invoiceA.number}`);
  });

  it('the page text, uncompressed: every line, the subtotal and the total', async () => {
    const invoices = createInvoicesService({
      withTenant: c.tenancy.withTenant,
      compressPdf: false,
    });
    const ctx: TenantCtx = { tenantId: orgA, actor: { kind: 'system', name: 't' }, requestId: 'r' };
    const text = pageText((await invoices.pdf(ctx, invoiceA.id)).pdf);
    for (const s of [
      `Invoice ${invoiceA.number}`,
      'Billed to: inv-a test org',
      'Period: 2026-01-01 to 2026-01-31',
      'team: Flat fee',
      formatMoney(123456, 'EUR'),
      'team: sms: 150 units in 2 package(s) of 100',
      '5.00 EUR',
      'Total',
      '1,239.56 EUR',
    ]) {
      expect(text).toContain(s);
    }
  });

  it('the PDF embeds a Unicode font: Cyrillic, Greek and Polish names are text; printed from the snapshot', async () => {
    const name = 'ООО Ромашка · Ελληνικά · Zażółć gęślą jaźń';
    const org = (await createBareOrganization(c.tenancy.withTenant, { slug: `uni-${Date.now()}`, name })).id;
    const invoice = await closeJanuary(c, org);
    expect(invoice.customerName).toBe(name);
    // Renamed afterwards: the issued invoice still bills the name it was issued to.
    await c.tenancy.withTenant(org, (db) =>
      db.updateTable('organizations').set({ name: 'Renamed' }).where('id', '=', org).execute(),
    );
    const invoices = createInvoicesService({ withTenant: c.tenancy.withTenant, compressPdf: false });
    const ctx: TenantCtx = { tenantId: org, actor: { kind: 'system', name: 't' }, requestId: 'r' };
    const { pdf } = await invoices.pdf(ctx, invoice.id);
    expect(pdf.toString('latin1')).toContain('/FontFile2');
    const text = pageText(pdf);
    expect(text).toContain(`Billed to: ${name}`);
    expect(text).toContain('Issued by: saasready.test');
    expect(text).not.toContain('Renamed');
  });

  it('another tenant’s invoice: 404, the same body as a missing one, on every route', async () => {
    const token = issue(orgA);
    for (const suffix of ['', '/pdf']) {
      const theirs = await c.app.inject({
        url: `/v1/billing/invoices/${invoiceB.id}${suffix}`,
        headers: auth(token),
      });
      const none = await c.app.inject({
        url: `/v1/billing/invoices/00000000-0000-7000-8000-000000000000${suffix}`,
        headers: auth(token),
      });
      expect(theirs.statusCode).toBe(404);
      expect(theirs.body).toBe(none.body);
      expect(theirs.json()).toEqual({ error: { code: 'INVOICE_NOT_FOUND', message: 'invoice not found' } });
    }
    const list = await c.app.inject({ url: '/v1/billing/invoices', headers: auth(token) });
    expect(list.body).not.toContain(invoiceB.id);
  });

  it('needs billing:read (a member without it: 403); a bad cursor is a 400', async () => {
    const member = issue(orgA, { role: 'member', permissions: new Set(['org:read', 'projects:read']) });
    for (const url of [
      '/v1/billing/invoices',
      `/v1/billing/invoices/${invoiceA.id}`,
      `/v1/billing/invoices/${invoiceA.id}/pdf`,
    ]) {
      expect((await c.app.inject({ url, headers: auth(member) })).statusCode).toBe(403);
    }
    const bad = await c.app.inject({ url: '/v1/billing/invoices?cursor=nope', headers: auth(issue(orgA)) });
    expect(bad.statusCode).toBe(400);
  });
});
