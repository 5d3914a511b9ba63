import { beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { deleteOrganization } from '../organization-lifecycle/deletion-job.js';
import {
  stripeCustomerDeletionResult,
  stripeCustomerDeletionsDue,
} from '../../platform/tenancy/privileged.js';
import {
  deleteStripeCustomers,
  retryDelayMs,
  STRIPE_CUSTOMER_DELETION_TASK,
} from './stripe-customer-deletion.js';
import { stripeJobs } from './stripe-jobs.js';
import { customerOrg, stripeSuite, useStripeSuite, type StripeSuite } from './stripe.test-support.js';

/**
 * Review 4, finding 4: the hard delete of an organization deletes its Stripe customer in Stripe (through the
 * real SDK, against the local fake): recorded by the purge itself, deleted by its own job, retried after a
 * failure that never held up the purge, and idempotent (a customer already gone counts as deleted).
 */
describe('Stripe: a deleted organization’s customer is deleted in Stripe', () => {
  useStripeSuite();
  let c: StripeSuite['c'];
  let fake: StripeSuite['fake'];
  let admin: pg.Client;
  let workerPool: pg.Pool;
  beforeAll(() => {
    ({ c, fake, admin, workerPool } = stripeSuite());
  });

  /** Makes the organization's deletion due and runs its hard delete (this organization only: the database
   *  is shared with other files). */
  async function hardDelete(orgId: string) {
    await admin.query(
      `update organizations set lifecycle_state = 'pending_deletion',
         deletion_requested_at = now() - interval '31 days', deletion_due_at = now() - interval '1 day'
       where id = $1`,
      [orgId],
    );
    const done = await deleteOrganization(
      {
        workerPool,
        shredder: c.services.tenantKeyShredder,
        now: () => new Date(),
        organizationChanged: () => undefined,
      },
      { organizationId: orgId, phase: 'due' },
    );
    expect(done).toBe(true);
    const left = await admin.query('select 1 from organizations where id = $1', [orgId]);
    expect(left.rows).toEqual([]);
  }
  const pending = async (customerId: string) =>
    (
      await admin.query<{
        deleted_organization_id: string;
        attempts: number;
        last_error: string | null;
        next_attempt_at: Date;
        deleted_at: Date | null;
      }>(
        `select deleted_organization_id, attempts, last_error, next_attempt_at, deleted_at
           from stripe_customer_deletions where customer_id = $1`,
        [customerId],
      )
    ).rows[0];
  /** The job at `at`, for the given customers only (others of the shared database are not this file's). */
  const run = (at: Date, only: string[]) =>
    deleteStripeCustomers({
      stripe: c.services.billingProviders.stripe!.client,
      due: async (n, limit) =>
        (await stripeCustomerDeletionsDue(workerPool, n, limit)).filter((d) => only.includes(d.customerId)),
      result: (id, error, next) => stripeCustomerDeletionResult(workerPool, id, error, next),
      now: () => at,
    });

  it('the purge records the customer; a Stripe outage is retried later without holding up the purge; then deleted once', async () => {
    const o = await customerOrg('cd-outage');
    // A subscription still live in Stripe (say its cancellation's webhook was lost): deleting the customer
    // cancels it.
    const sub = await c.services.billingProviders.stripe!.client.subscriptions.create({
      customer: o.customer,
      items: [{ price: 'price_pro' }],
    });
    fake.failNext(`/v1/customers/${o.customer}`, 1);
    await hardDelete(o.id);
    // Our rows are gone, the customer is recorded for deletion (in the purge batch's transaction).
    const mapped = await admin.query('select 1 from stripe_customers where organization_id = $1', [o.id]);
    expect(mapped.rows).toEqual([]);
    expect(await pending(o.customer)).toMatchObject({ deleted_organization_id: o.id, attempts: 0 });
    expect(fake.customers.has(o.customer)).toBe(true);

    const t0 = new Date();
    expect(await run(t0, [o.customer])).toEqual([]);
    const failed = (await pending(o.customer))!;
    expect(failed.attempts).toBe(1);
    expect(failed.last_error).toMatch(/fake outage/);
    expect(failed.deleted_at).toBeNull();
    expect(failed.next_attempt_at.getTime()).toBe(t0.getTime() + retryDelayMs(1));
    // Not due yet: nothing is sent.
    const sent = fake.requests.filter((r) => r === `DELETE /v1/customers/${o.customer}`).length;
    expect(await run(new Date(t0.getTime() + 60_000), [o.customer])).toEqual([]);
    expect(fake.requests.filter((r) => r === `DELETE /v1/customers/${o.customer}`)).toHaveLength(sent);

    // Due again: deleted in Stripe, its subscription cancelled with it; recorded as done, never sent again.
    const t1 = new Date(t0.getTime() + retryDelayMs(1));
    expect(await run(t1, [o.customer])).toEqual([o.customer]);
    expect(fake.customers.has(o.customer)).toBe(false);
    expect(fake.deletedCustomers.has(o.customer)).toBe(true);
    expect(fake.subscriptions.get(sub.id)!.status).toBe('canceled');
    const done = (await pending(o.customer))!;
    expect(done.attempts).toBe(2);
    expect(done.deleted_at).not.toBeNull();
    expect(await run(new Date(t1.getTime() + 86_400_000), [o.customer])).toEqual([]);
    expect(fake.requests.filter((r) => r === `DELETE /v1/customers/${o.customer}`)).toHaveLength(sent + 1);
  });

  it('a customer already gone in Stripe (an earlier answer lost, an operator) counts as deleted', async () => {
    const o = await customerOrg('cd-gone');
    await hardDelete(o.id);
    fake.customers.delete(o.customer);
    expect(await run(new Date(), [o.customer])).toEqual([o.customer]);
    expect((await pending(o.customer))!.deleted_at).not.toBeNull();
  });

  it('the job is on the worker’s crontab with Stripe, and its retry delays double from 5 minutes to a day', () => {
    const jobs = stripeJobs({
      stripe: c.services.billingProviders.stripe,
      scan: async () => [],
      customerDeletions: { due: async () => [], result: async () => null },
      withTenant: c.tenancy.withTenant,
      now: () => new Date(),
      organizationChanged: () => undefined,
    });
    expect(Object.keys(jobs.handlers)).toContain(STRIPE_CUSTOMER_DELETION_TASK);
    expect(jobs.crontab).toContain(`*/5 * * * * ${STRIPE_CUSTOMER_DELETION_TASK}`);
    expect([1, 2, 3].map(retryDelayMs)).toEqual([300_000, 600_000, 1_200_000]);
    expect(retryDelayMs(30)).toBe(86_400_000);
  });
});
