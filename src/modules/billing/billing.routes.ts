import { Type } from '@fastify/type-provider-typebox';
import type { App } from '../../platform/http/server.js';
import { tenantCtx } from '../../platform/http/auth.js';
import { ErrorResponse } from '../../platform/http/schemas.js';
import { CurrencyCode, MinorUnits } from './price-model.js';
import { InvoiceLine } from './invoices.routes.js';
import type { BillingService } from './billing.service.js';

const InvoicePreview = Type.Object(
  {
    periodStart: Type.String({ format: 'date' }),
    periodEnd: Type.String({ format: 'date', description: 'exclusive' }),
    currency: CurrencyCode,
    lines: Type.Array(InvoiceLine),
    subtotal: MinorUnits,
    total: MinorUnits,
  },
  {
    $id: 'InvoicePreview',
    description:
      'The current period’s invoice as it stands now (usage so far, seats now); amounts in minor units',
  },
);

/** `GET /v1/billing/preview`: the invoice of the current billing period, priced now, nothing stored. */
export function registerBillingRoutes(app: App, deps: { billing: BillingService }): void {
  app.get(
    '/v1/billing/preview',
    {
      config: { auth: { kind: 'tenant', permission: 'billing:read' }, quotaExempt: true },
      schema: {
        operationId: 'previewInvoice',
        tags: ['billing'],
        response: {
          200: InvoicePreview,
          400: ErrorResponse,
          401: ErrorResponse,
          403: ErrorResponse,
          422: ErrorResponse,
        },
      },
    },
    async (req) => deps.billing.preview(tenantCtx(req)),
  );
}
