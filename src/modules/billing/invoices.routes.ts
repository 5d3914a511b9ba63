import { Type } from '@fastify/type-provider-typebox';
import type { App } from '../../platform/http/server.js';
import { tenantCtx } from '../../platform/http/auth.js';
import { ErrorResponse, PageOf, PageQuery } from '../../platform/http/schemas.js';
import { CurrencyCode, MinorUnits } from './price-model.js';
import type { InvoicesService } from './invoices.service.js';

const IsoDate = Type.String({ format: 'date' });
export const InvoiceLine = Type.Object(
  {
    description: Type.String(),
    planKey: Type.String(),
    component: Type.Union([
      Type.Literal('flat'),
      Type.Literal('per_seat'),
      Type.Literal('per_unit'),
      Type.Literal('graduated'),
      Type.Literal('volume'),
      Type.Literal('package'),
      Type.Literal('hybrid'),
    ]),
    meter: Type.Optional(Type.String()),
    quantity: MinorUnits,
    unitAmount: Type.Optional(MinorUnits),
    amount: MinorUnits,
    periodStart: IsoDate,
    periodEnd: Type.String({ format: 'date', description: 'exclusive' }),
  },
  { $id: 'InvoiceLine' },
);
const Invoice = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    number: Type.Union([Type.String(), Type.Null()], { description: 'INV-000001, ...; per deployment' }),
    status: Type.Union([Type.Literal('draft'), Type.Literal('finalized'), Type.Literal('void')]),
    currency: CurrencyCode,
    minorUnits: Type.Integer({
      minimum: 0,
      maximum: 4,
      description: 'ISO 4217 minor-unit digits of the currency, as when the invoice was issued',
    }),
    customerName: Type.String({ description: 'The organization’s name when the invoice was issued' }),
    issuer: Type.String({ description: 'Who issued the invoice' }),
    periodStart: IsoDate,
    periodEnd: Type.String({ format: 'date', description: 'exclusive' }),
    subtotal: MinorUnits,
    total: MinorUnits,
    lines: Type.Array(InvoiceLine),
    createdAt: Type.String({ format: 'date-time' }),
    finalizedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'Invoice', description: 'Amounts in minor units of the currency' },
);
const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse };
const READ = { auth: { kind: 'tenant', permission: 'billing:read' } } as const;

/** `/v1/billing/invoices`: the organization's finalized invoices, one by one, and as PDF. */
export function registerInvoicesRoutes(app: App, deps: { invoices: InvoicesService }): void {
  const { invoices } = deps;

  app.get(
    '/v1/billing/invoices',
    {
      config: { ...READ, quotaExempt: true },
      schema: {
        operationId: 'listInvoices',
        tags: ['billing'],
        querystring: PageQuery,
        response: { 200: PageOf(Invoice), ...errors },
      },
    },
    async (req) => invoices.list(tenantCtx(req), req.query),
  );

  app.get(
    '/v1/billing/invoices/:id',
    {
      config: { ...READ, quotaExempt: true },
      schema: {
        operationId: 'getInvoice',
        tags: ['billing'],
        params: IdParams,
        response: { 200: Invoice, ...errors },
      },
    },
    async (req) => invoices.get(tenantCtx(req), req.params.id),
  );

  app.get(
    '/v1/billing/invoices/:id/pdf',
    {
      config: { ...READ, quotaExempt: true },
      schema: {
        operationId: 'getInvoicePdf',
        tags: ['billing'],
        params: IdParams,
        response: {
          200: {
            description: 'The invoice as a PDF document',
            content: {
              'application/pdf': {
                schema: Type.Unsafe<Buffer>({ type: 'string', format: 'binary' }),
              },
            },
          },
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const { fileName, pdf } = await invoices.pdf(tenantCtx(req), req.params.id);
      void reply
        .header('content-type', 'application/pdf')
        .header('content-disposition', `attachment; filename="${fileName}"`)
        .header('cache-control', 'private, no-store');
      return reply.send(pdf);
    },
  );
}
