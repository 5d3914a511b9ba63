import { describe, expect, it } from 'vitest';
import { decide, type BillingEvent, type BillingState } from './stripe-billing-state.js';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000);
const none: BillingState = {
  status: 'none',
  subscriptionId: null,
  subscriptionStartedAt: null,
  statusEventAt: null,
  subscriptionEventAt: null,
  graceEndsAt: null,
  suspendedByBilling: false,
  endedSubscriptionIds: [],
  subscriptionEndedAt: null,
  failedInvoiceId: null,
};
const sub = (
  s: number,
  stripeStatus: string,
  plan: string | null,
  deleted = false,
  id = 'sub_1',
): BillingEvent => ({
  kind: 'subscription',
  created: t(s),
  deleted,
  subscriptionId: id,
  stripeStatus,
  plan,
  startedAt: t(0),
  endedAt: t(s),
});
const paidAt = (
  s: number,
  subscriptionId: string | null = 'sub_1',
  invoiceId: string | null = 'in_1',
): BillingEvent => ({
  kind: 'invoice_paid',
  created: t(s),
  subscriptionId,
  invoiceId,
});
const failed = (
  s: number,
  subscriptionId: string | null = 'sub_1',
  invoiceId: string | null = 'in_1',
): BillingEvent => ({
  kind: 'invoice_payment_failed',
  created: t(s),
  subscriptionId,
  invoiceId,
});
const perms = (xs: BillingEvent[]): BillingEvent[][] =>
  xs.length <= 1
    ? [xs]
    : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));

/** Applies events in order; returns the final state and every decision's outcome. */
function run(events: BillingEvent[], from = none) {
  let state = from;
  const outcomes: string[] = [];
  let plan: string | null = null;
  for (const e of events) {
    const d = decide(state, e, 7);
    outcomes.push(d.outcome);
    state = d.next;
    plan = d.plan ?? plan;
  }
  return { state, outcomes, plan };
}

describe('the Stripe billing state machine', () => {
  it('active → past due (grace from the event time) → paid → active', () => {
    const r = run([sub(0, 'active', 'pro'), failed(10)]);
    expect(r.state).toMatchObject({
      status: 'past_due',
      graceEndsAt: new Date(t(10).getTime() + 7 * 86_400_000),
    });
    const paid = decide({ ...r.state, suspendedByBilling: true }, paidAt(20), 7);
    expect(paid).toMatchObject({ outcome: 'applied', reactivate: true, mails: ['reactivated'] });
    expect(paid.next).toMatchObject({ status: 'active', graceEndsAt: null, suspendedByBilling: false });
  });

  it('every order of the same events ends in the state of the newest', () => {
    const events = [
      sub(0, 'active', 'pro'),
      sub(10, 'past_due', 'pro'),
      paidAt(20),
      sub(30, 'active', 'enterprise'),
    ];
    for (const order of perms(events)) {
      const r = run(order);
      expect(r.state).toMatchObject({ status: 'active', statusEventAt: t(30), graceEndsAt: null });
      // The plan of the newest subscription event is the last one applied.
      expect(r.plan).toBe('enterprise');
    }
  });

  it('cancellation returns to the free plan and lifts billing’s suspension; invoices do not revive it', () => {
    const d = decide(
      {
        ...none,
        status: 'past_due',
        subscriptionId: 'sub_1',
        statusEventAt: t(0),
        graceEndsAt: t(9),
        suspendedByBilling: true,
      },
      sub(5, 'canceled', 'pro', true),
      7,
    );
    expect(d).toMatchObject({ outcome: 'applied', plan: 'free', reactivate: true, mails: ['canceled'] });
    expect(decide(d.next, paidAt(6), 7).outcome).toBe('ignored');
    // The end of an old subscription does not end the current one.
    const current = { ...none, status: 'active' as const, subscriptionId: 'sub_2', statusEventAt: t(0) };
    expect(decide(current, sub(5, 'canceled', null, true, 'sub_1'), 7).outcome).toBe('ignored');
    // Statuses billing does not act on.
    expect(decide(none, sub(1, 'incomplete', 'pro'), 7).outcome).toBe('ignored');
  });

  it('a subscription event older than a newer invoice event still sets the plan (not the status)', () => {
    const r = run([sub(0, 'active', 'pro'), paidAt(10)]);
    const late = decide(r.state, sub(5, 'active', 'enterprise'), 7);
    expect(late).toMatchObject({ outcome: 'applied', plan: 'enterprise', mails: [] });
    expect(late.next).toMatchObject({ status: 'active', statusEventAt: t(10), subscriptionEventAt: t(5) });
    // A late past-due update does not undo the newer payment.
    const lateDue = decide(r.state, sub(5, 'past_due', 'pro'), 7);
    expect(lateDue.next).toMatchObject({ status: 'active', graceEndsAt: null });
    // Subscription events are still ordered among themselves.
    expect(decide(late.next, sub(3, 'active', 'pro'), 7).outcome).toBe('stale');
  });

  it('ignores invoices of no subscription or another one, and events of a non-current subscription', () => {
    const due = run([sub(0, 'active', 'pro'), failed(10)]).state;
    expect(decide(due, paidAt(20, null), 7).outcome).toBe('ignored');
    expect(decide(due, paidAt(20, 'sub_old'), 7).outcome).toBe('ignored');
    expect(decide(none, paidAt(20), 7).outcome).toBe('ignored');
    expect(decide(none, failed(20, null), 7).outcome).toBe('ignored');
    expect(decide(due, sub(30, 'active', 'enterprise', false, 'sub_old'), 7).outcome).toBe('ignored');
    // Once the current one ends, the next subscription becomes current (its own start).
    const ended = decide(due, sub(40, 'canceled', 'pro', true), 7).next;
    const next = decide(
      ended,
      { ...sub(50, 'active', 'enterprise', false, 'sub_2'), startedAt: t(45) } as BillingEvent,
      7,
    );
    expect(next.next).toMatchObject({
      subscriptionId: 'sub_2',
      subscriptionStartedAt: t(45),
      status: 'active',
    });
  });

  it('every order of a subscription’s events with its deletion ends it for good; the next one is adopted', () => {
    const events = [
      sub(0, 'active', 'pro'),
      sub(10, 'past_due', 'pro'),
      paidAt(20),
      sub(30, 'active', 'enterprise'),
      sub(40, 'canceled', 'enterprise', true),
      // A late update of the same second as the deletion: a time-only check would adopt it again.
      sub(40, 'active', 'pro'),
    ];
    for (const order of perms(events)) {
      const r = run(order);
      expect(r.state.subscriptionId).toBeNull();
      expect(r.state.endedSubscriptionIds).toEqual(['sub_1']);
      expect(['none', 'canceled']).toContain(r.state.status);
      // The plan ends as after cancellation (or was never changed, when the deletion came first).
      expect(r.plan ?? 'free').toBe('free');
      // A new subscription afterwards is adopted, whatever came before; sub_1's late events stay ignored.
      const next = run([sub(50, 'active', 'enterprise', false, 'sub_2'), sub(60, 'active', 'pro')], r.state);
      expect(next.outcomes).toEqual(['applied', 'ignored']);
      expect(next.state).toMatchObject({ subscriptionId: 'sub_2', status: 'active' });
      expect(next.plan).toBe('enterprise');
    }
  });

  it('the next subscription’s usage starts no earlier than the previous one’s end; its status clock is its own', () => {
    const ended = run([sub(0, 'active', 'pro'), paidAt(100), sub(90, 'canceled', 'pro', true)]).state;
    expect(ended).toMatchObject({ subscriptionEndedAt: t(90), status: 'canceled' });
    // sub_2 started at t(0) (created while sub_1 was current), adopted by an event older than the last
    // status event of sub_1.
    const adopted = decide(ended, sub(80, 'active', 'enterprise', false, 'sub_2'), 7);
    expect(adopted.next).toMatchObject({
      subscriptionId: 'sub_2',
      subscriptionStartedAt: t(120),
      status: 'active',
    });
  });

  it('past due ends only with the failed invoice paid (or an active subscription event)', () => {
    const due = run([sub(0, 'active', 'pro'), failed(10, 'sub_1', 'in_failed')]).state;
    expect(due).toMatchObject({ status: 'past_due', failedInvoiceId: 'in_failed' });
    // A $0 / proration invoice of the same subscription paid meanwhile changes nothing.
    const proration = decide({ ...due, suspendedByBilling: true }, paidAt(20, 'sub_1', 'in_zero'), 7);
    expect(proration).toMatchObject({ outcome: 'ignored', reactivate: false, mails: [] });
    const paid = decide({ ...due, suspendedByBilling: true }, paidAt(30, 'sub_1', 'in_failed'), 7);
    expect(paid).toMatchObject({ outcome: 'applied', reactivate: true });
    expect(paid.next).toMatchObject({ status: 'active', failedInvoiceId: null });
    // Or Stripe reports the subscription active again.
    const active = decide(due, sub(30, 'active', 'pro'), 7);
    expect(active.next).toMatchObject({ status: 'active', failedInvoiceId: null, graceEndsAt: null });
  });

  it('a paused subscription keeps no paid plan; resuming brings it back', () => {
    const paused = decide(run([sub(0, 'active', 'pro')]).state, sub(10, 'paused', 'pro'), 7);
    expect(paused).toMatchObject({ outcome: 'applied', plan: 'free', mails: [] });
    expect(paused.next).toMatchObject({ status: 'paused', subscriptionId: 'sub_1' });
    const resumed = decide(paused.next, sub(20, 'active', 'pro'), 7);
    expect(resumed).toMatchObject({ outcome: 'applied', plan: 'pro' });
    expect(resumed.next).toMatchObject({ status: 'active' });
  });
});
