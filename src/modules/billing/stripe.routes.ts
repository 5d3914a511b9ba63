import { Type } from '@fastify/type-provider-typebox';
import type { App } from '../../platform/http/app-type.js';
import { tenantCtx } from '../../platform/http/auth.js';
import { ErrorResponse } from '../../platform/http/schemas.js';
import { PlanKey } from '../plans/plan-model.js';
import type { BillingProvider } from './providers/billing-provider.js';
import type { StripeWebhooks } from './stripe-webhooks.service.js';
import { StripeBillingError } from './stripe.errors.js';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse };
const ProviderInfo = Type.Object(
  {
    provider: Type.Union([Type.Literal('local'), Type.Literal('stripe')]),
    checkout: Type.Boolean(),
    portal: Type.Boolean(),
    checkoutPlans: Type.Array(Type.String(), { description: 'plans Checkout sells (Stripe only), by key' }),
    status: Type.Union([
      Type.Literal('none'),
      Type.Literal('active'),
      Type.Literal('past_due'),
      Type.Literal('paused'),
      Type.Literal('canceled'),
      Type.Null(),
    ]),
    graceEndsAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'BillingProviderInfo' },
);
const LinkResponse = Type.Object({ url: Type.String() }, { $id: 'BillingLink' });
const linkDoc =
  '409 BILLING_PROVIDER_LOCAL when the deployment bills with the built-in provider; 503 STRIPE_UNAVAILABLE ' +
  'when Stripe fails (nothing stored but, at most, the organization’s Stripe customer).';

/** The billing provider's routes: which provider, and (Stripe) the Checkout and Customer Portal links. */
export function registerBillingProviderRoutes(app: App, deps: { provider: BillingProvider }): void {
  const { provider } = deps;
  app.get(
    '/v1/billing/provider',
    {
      // Reachable while billing has suspended the organization (docs/billing.md): it shows why.
      config: { auth: { kind: 'tenant', permission: 'billing:read' }, allowWhenBillingSuspended: true },
      schema: {
        operationId: 'getBillingProvider',
        tags: ['billing'],
        description:
          'The deployment’s billing provider (`local`: the product prices and invoices; `stripe`: Stripe ' +
          'does) and, with Stripe, the organization’s subscription status and grace period end.',
        response: { 200: ProviderInfo, 401: ErrorResponse, 403: ErrorResponse },
      },
    },
    async (req) => provider.info(tenantCtx(req)),
  );
  app.post(
    '/v1/billing/checkout-session',
    {
      config: { auth: { kind: 'tenant', permission: 'billing:manage' } },
      schema: {
        operationId: 'createCheckoutSession',
        tags: ['billing'],
        description:
          'A Stripe Checkout URL that subscribes the organization to `plan` (its Stripe price, ' +
          'STRIPE_PRICES); the plan changes when Stripe reports the subscription. 409 PLAN_NOT_SOLD for a ' +
          'plan without a price; 409 SUBSCRIPTION_EXISTS while a subscription is active or past due (change ' +
          `it in the portal). ${linkDoc}`,
        body: Type.Object({ plan: PlanKey }, { additionalProperties: false }),
        response: { 200: LinkResponse, 409: ErrorResponse, 503: ErrorResponse, ...errors },
      },
    },
    async (req) => ({ url: await provider.checkoutUrl(tenantCtx(req), req.body.plan) }),
  );
  app.post(
    '/v1/billing/portal-session',
    {
      // Reachable while billing has suspended the organization: the portal is where an owner pays.
      config: { auth: { kind: 'tenant', permission: 'billing:manage' }, allowWhenBillingSuspended: true },
      schema: {
        operationId: 'createPortalSession',
        tags: ['billing'],
        description:
          'A Stripe Customer Portal URL (payment method, invoices, plan). Also answered while billing has ' +
          `suspended the organization for non-payment, so that an owner can pay. ${linkDoc}`,
        response: { 200: LinkResponse, 409: ErrorResponse, 503: ErrorResponse, ...errors },
      },
    },
    async (req) => ({ url: await provider.portalUrl(tenantCtx(req)) }),
  );
}

/**
 * `POST /webhooks/stripe`: the raw body (the signature covers its exact bytes), verified with the
 * Stripe SDK. Without Stripe (`webhooks` undefined) it answers 404 STRIPE_NOT_CONFIGURED. Its own
 * content-type parsers, in an encapsulated context, so the rest of the API keeps the JSON parser.
 */
export function registerStripeWebhookRoute(app: App, deps: { webhooks: StripeWebhooks | undefined }): void {
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope.post(
      '/webhooks/stripe',
      {
        config: {
          auth: { kind: 'public', reason: 'Stripe signs the body; the signature is the credential' },
        },
        schema: {
          operationId: 'receiveStripeWebhook',
          tags: ['billing'],
          description:
            'Stripe events (subscription created/updated/deleted, invoice paid/payment failed), verified ' +
            'with the `Stripe-Signature` header (400 STRIPE_SIGNATURE_INVALID otherwise) and applied ' +
            'exactly once: a replayed or concurrent duplicate answers 200 `duplicate` and changes nothing.',
          headers: Type.Object({ 'stripe-signature': Type.Optional(Type.String({ maxLength: 2000 })) }),
          response: {
            200: Type.Object({ received: Type.Boolean(), id: Type.String(), outcome: Type.String() }),
            400: ErrorResponse,
            404: ErrorResponse,
          },
        },
      },
      async (req) => {
        if (!deps.webhooks) {
          throw new StripeBillingError('STRIPE_NOT_CONFIGURED', 'this deployment does not use Stripe');
        }
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const r = await deps.webhooks.receive(body, req.headers['stripe-signature'] as string | undefined);
        return { received: true, ...r };
      },
    );
  });
}
