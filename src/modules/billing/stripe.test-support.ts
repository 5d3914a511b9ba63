import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect } from 'vitest';
import type pg from 'pg';
import Stripe from 'stripe';
import { buildTestApp, createTestAuthenticator } from '../../../test/support/app.js';
import { connect, createTestOrg, testDb } from '../../../test/support/tenancy.js';
import { queuedJobs } from '../../../test/support/jobs.js';
import type { Composition } from '../../app/compose.js';
import { createPool } from '../../platform/db/pool.js';
import { MAIL_TASK } from '../../platform/mail/mail-job.js';
import { uuidv7 } from '../../platform/ids.js';
import { startStripeFake, type StripeFakeServer } from './providers/stripe-fake-server.js';

/**
 * TEST SUPPORT: the Stripe suites' set-up (stripe.test.ts, stripe-webhooks.test.ts): the real `stripe` SDK
 * against the local fake (providers/stripe-fake-server.ts), webhooks signed with the SDK's own test-header
 * helper, the real composition on the test database, and helpers reading what they changed.
 */
export const KEY = 'sk_test_fake' + randomBytes(6).toString('hex');
export const SECRET = 'whsec_' + randomBytes(12).toString('hex');
export const DAY = 86_400_000;

export interface StripeSuite {
  fake: StripeFakeServer;
  c: Composition & { logs: Record<string, unknown>[] };
  admin: pg.Client;
  workerPool: pg.Pool;
}
let suite: StripeSuite | undefined;
export const auth = createTestAuthenticator();
export const sdk = new Stripe(KEY);

/** Starts the fake and the app for the file (closed after it); read them with {@link stripeSuite}. */
export function useStripeSuite(): void {
  beforeAll(async () => {
    const fake = await startStripeFake(KEY);
    const c = await buildTestApp({
      authenticator: auth.authenticator,
      stripe: {
        secretKey: KEY,
        webhookSecret: SECRET,
        apiBase: fake.sdkOptions,
        graceDays: 7,
        planPrices: { pro: 'price_pro', enterprise: 'price_enterprise', ghost: 'price_ghost' },
        meterEvents: {},
      },
    });
    const admin = await connect(testDb().adminUrl);
    const workerPool = createPool({ url: testDb().workerUrl, max: 2, applicationName: 'stripe-test' });
    suite = { fake, c, admin, workerPool };
  });
  afterAll(async () => {
    await suite?.c.app.close();
    await suite?.c.close();
    await suite?.admin.end();
    await suite?.workerPool.end();
    await suite?.fake.close();
  });
}

export function stripeSuite(): StripeSuite {
  if (!suite) throw new Error('useStripeSuite() has not started yet');
  return suite;
}

const the = () => stripeSuite();

/** An organization with an owner (a real user, for mails) and a token of that owner. */
export async function org(prefix: string) {
  const id = await createTestOrg(the().c.tenancy, prefix);
  const userId = uuidv7();
  const email = `${prefix}-${userId}@example.test`;
  await the().admin.query(`insert into users (id, email, email_normalized) values ($1, $2, $2)`, [
    userId,
    email,
  ]);
  await the().admin.query(
    `insert into memberships (organization_id, user_id, role, status) values ($1, $2, 'owner', 'active')`,
    [id, userId],
  );
  return { id, email, token: auth.issue(id, { userId }) };
}
export const post = (token: string, url: string, payload?: unknown) =>
  the().c.app.inject({
    method: 'POST',
    url,
    headers: { authorization: `Bearer ${token}` },
    payload: payload as object,
  });
export async function customerOf(orgId: string): Promise<string> {
  const r = await the().admin.query<{ customer_id: string }>(
    'select customer_id from stripe_customers where organization_id = $1',
    [orgId],
  );
  return r.rows[0]!.customer_id;
}
/** An org with its Stripe customer (created through the checkout route). */
export async function customerOrg(prefix: string) {
  const o = await org(prefix);
  expect((await post(o.token, '/v1/billing/checkout-session', { plan: 'pro' })).statusCode).toBe(200);
  return { ...o, customer: await customerOf(o.id) };
}

let seq = 0;
export const event = (type: string, object: Record<string, unknown>, created: number) => ({
  id: `evt_${Date.now().toString(36)}${(seq++).toString(36)}${randomBytes(3).toString('hex')}`,
  object: 'event',
  api_version: '2024-06-20',
  created,
  livemode: false,
  type,
  data: { object },
});
export const subscription = (customer: string, status: string, price: string, id = 'sub_1') => ({
  id,
  object: 'subscription',
  customer,
  status,
  items: { object: 'list', data: [{ id: 'si_1', price: { id: price } }] },
});
/** An invoice of `subscription` (the fixtures' default one), or a one-off invoice with null. By default
 *  the same invoice id each time (its failure, then its payment). */
export const invoice = (customer: string, subscription: string | null = 'sub_1', id = 'in_1') => ({
  id,
  object: 'invoice',
  customer,
  subscription,
});
export function deliver(e: unknown, secret = SECRET) {
  const payload = JSON.stringify(e);
  const header = sdk.webhooks.generateTestHeaderString({ payload, secret });
  return the().c.app.inject({
    method: 'POST',
    url: '/webhooks/stripe',
    headers: { 'content-type': 'application/json', 'stripe-signature': header },
    payload,
  });
}
export const now = () => Math.floor(Date.now() / 1000);
export const state = async (orgId: string) =>
  (
    await the().admin.query<{
      plan: string;
      suspended_at: Date | null;
      status: string;
      grace_ends_at: Date | null;
    }>(
      `select o.plan, o.suspended_at, s.status, s.grace_ends_at from organizations o
         join stripe_customers s on s.organization_id = o.id where o.id = $1`,
      [orgId],
    )
  ).rows[0]!;
export const planChanges = async (orgId: string) =>
  (
    await the().admin.query<{ n: string }>(
      `select count(*)::text as n from organization_plan_changes where organization_id = $1 and via = 'provider'`,
      [orgId],
    )
  ).rows[0]!.n;
export const mails = async (orgId: string, subject: RegExp) =>
  (await queuedJobs(the().admin, MAIL_TASK)).filter(
    (j) => j.tenantId === orgId && subject.test((j.payload as { subject: string }).subject),
  );

/** Adds `value` of count usage at `at` to its minute, hour and day buckets (as the rollup does). */
export const addUsage = (orgId: string, value: number, at = new Date(), meter = 'api_requests') =>
  the().admin.query(
    `insert into usage_aggregates (organization_id, meter, granularity, bucket_start, aggregation, value, events)
     select $1, $4, g, date_trunc(g, $3::timestamptz at time zone 'UTC') at time zone 'UTC', 'count',
            $2::numeric, $2::bigint
     from unnest(array['minute', 'hour', 'day']) g
     on conflict (organization_id, meter, granularity, bucket_start)
       do update set value = usage_aggregates.value + excluded.value,
                     events = usage_aggregates.events + excluded.events`,
    [orgId, value, at, meter],
  );
