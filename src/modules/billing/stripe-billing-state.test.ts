import { describe, expect, it } from 'vitest';
import { decide, type BillingEvent, type BillingState } from './stripe-billing-state.js';

const t = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000);
const none: BillingState = {
  status: 'none',
  subscriptionId: null,
  statusEventAt: null,
  graceEndsAt: null,
  suspendedByBilling: false,
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
});

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
    const r = run([sub(0, 'active', 'pro'), { kind: 'invoice_payment_failed', created: t(10) }]);
    expect(r.state).toMatchObject({
      status: 'past_due',
      graceEndsAt: new Date(t(10).getTime() + 7 * 86_400_000),
    });
    const paid = decide(
      { ...r.state, suspendedByBilling: true },
      { kind: 'invoice_paid', created: t(20) },
      7,
    );
    expect(paid).toMatchObject({ outcome: 'applied', reactivate: true, mails: ['reactivated'] });
    expect(paid.next).toMatchObject({ status: 'active', graceEndsAt: null, suspendedByBilling: false });
  });

  it('every order of the same events ends in the state of the newest', () => {
    const events = [
      sub(0, 'active', 'pro'),
      sub(10, 'past_due', 'pro'),
      { kind: 'invoice_paid', created: t(20) } as BillingEvent,
      sub(30, 'active', 'enterprise'),
    ];
    const perms = (xs: BillingEvent[]): BillingEvent[][] =>
      xs.length <= 1
        ? [xs]
        : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
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
    expect(decide(d.next, { kind: 'invoice_paid', created: t(6) }, 7).outcome).toBe('ignored');
    // The end of an old subscription does not end the current one.
    const current = { ...none, status: 'active' as const, subscriptionId: 'sub_2', statusEventAt: t(0) };
    expect(decide(current, sub(5, 'canceled', null, true, 'sub_1'), 7).outcome).toBe('ignored');
    // Statuses billing does not act on.
    expect(decide(none, sub(1, 'incomplete', 'pro'), 7).outcome).toBe('ignored');
  });
});
