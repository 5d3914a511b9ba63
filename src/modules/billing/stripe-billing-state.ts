/**
 * The Stripe billing state machine, pure (no I/O, no clock): what one webhook event does to an
 * organization's billing state. docs/billing.md ("Stripe") has the table.
 *
 * The CURRENT subscription is the one whose event (active, trialing, past due, unpaid) was applied while
 * the organization had none; it stays current until its own cancellation (deleted, canceled,
 * incomplete_expired) is applied. Events of any other subscription are `ignored`, and so are invoice
 * events whose subscription is not the current one (one-off invoices, an old subscription's).
 *
 * Order, two clocks (Stripe's event `created` time): subscription events are ordered among themselves
 * (`subscriptionEventAt`: an older one is `stale`), so the plan and subscription follow the newest
 * subscription event whatever invoice events came between; the status follows the newest event of any
 * kind (`statusEventAt`): a subscription event older than the last invoice event applied still sets the
 * plan but not the status (a cancellation always ends it). Events of the same second apply in arrival
 * order.
 */

export type BillingStatus = 'none' | 'active' | 'past_due' | 'canceled';

/** The stored state (a row of `stripe_customers`). */
export interface BillingState {
  status: BillingStatus;
  subscriptionId: string | null;
  /** When the current subscription started (its usage is pushed from then on). */
  subscriptionStartedAt: Date | null;
  statusEventAt: Date | null;
  subscriptionEventAt: Date | null;
  graceEndsAt: Date | null;
  suspendedByBilling: boolean;
}

/** What the webhook route hands over, already reduced to what the state machine reads. */
export type BillingEvent =
  | {
      kind: 'subscription';
      created: Date;
      deleted: boolean;
      subscriptionId: string;
      /** Stripe's subscription status. */
      stripeStatus: string;
      /** The plan its price maps to (STRIPE_PRICES), or null when the price is not mapped. */
      plan: string | null;
      /** The subscription's start (`start_date`), else the event's time. */
      startedAt: Date;
    }
  | { kind: 'invoice_paid'; created: Date; subscriptionId: string | null }
  | { kind: 'invoice_payment_failed'; created: Date; subscriptionId: string | null };

export type BillingMail = 'past_due' | 'reactivated' | 'canceled';

export interface BillingDecision {
  outcome: 'applied' | 'stale' | 'ignored';
  next: BillingState;
  /** A plan to move the organization to (through the audited plan-change path). */
  plan: string | null;
  /** Lift the suspension billing set. */
  reactivate: boolean;
  mails: BillingMail[];
}

/** The plan an organization returns to when its subscription ends. */
export const PLAN_AFTER_CANCELLATION = 'free';

const DAY_MS = 86_400_000;

function target(e: BillingEvent): BillingStatus | null {
  if (e.kind === 'invoice_paid') return 'active';
  if (e.kind === 'invoice_payment_failed') return 'past_due';
  if (e.deleted) return 'canceled';
  switch (e.stripeStatus) {
    case 'active':
    case 'trialing':
      return 'active';
    case 'past_due':
    case 'unpaid':
      return 'past_due';
    case 'canceled':
    case 'incomplete_expired':
      return 'canceled';
    default:
      return null; // incomplete, paused: nothing billing acts on
  }
}

/** Applies one event to the state. */
export function decide(state: BillingState, e: BillingEvent, graceDays: number): BillingDecision {
  const unchanged = (outcome: BillingDecision['outcome']): BillingDecision => ({
    outcome,
    next: state,
    plan: null,
    reactivate: false,
    mails: [],
  });
  const older = (at: Date | null) => at !== null && e.created.getTime() < at.getTime();
  const to = target(e);
  const next: BillingState = { ...state };
  let plan: string | null = null;
  if (e.kind === 'subscription') {
    const current = state.subscriptionId;
    // Another subscription than the current one (an old one, or a second Checkout's): not ours to follow.
    if (current !== null && e.subscriptionId !== current) return unchanged('ignored');
    if (current !== null && older(state.subscriptionEventAt)) return unchanged('stale');
    if (to === null) return unchanged('ignored'); // incomplete, paused: nothing billing acts on
    if (current === null && to === 'canceled') return unchanged('ignored'); // nothing current to end
    next.subscriptionEventAt = e.created;
    if (current === null) {
      next.subscriptionId = e.subscriptionId;
      next.subscriptionStartedAt = e.startedAt;
    }
    if (to !== 'canceled') {
      plan = e.plan;
      // A newer invoice event already set the status: this older event sets the plan only.
      if (older(state.statusEventAt)) return { outcome: 'applied', next, plan, reactivate: false, mails: [] };
    }
  } else {
    if (state.subscriptionId === null || e.subscriptionId !== state.subscriptionId)
      return unchanged('ignored');
    if (older(state.statusEventAt)) return unchanged('stale');
  }

  next.statusEventAt =
    state.statusEventAt && state.statusEventAt.getTime() > e.created.getTime()
      ? state.statusEventAt
      : e.created;
  let reactivate = false;
  const mails: BillingMail[] = [];
  if (to === 'active') {
    if (state.status === 'past_due' || state.suspendedByBilling) mails.push('reactivated');
    reactivate = state.suspendedByBilling;
    next.status = 'active';
    next.graceEndsAt = null;
    next.suspendedByBilling = false;
  } else if (to === 'past_due') {
    if (state.status !== 'past_due') {
      next.graceEndsAt = new Date(e.created.getTime() + graceDays * DAY_MS);
      mails.push('past_due');
    }
    next.status = 'past_due';
  } else {
    if (state.status !== 'canceled') mails.push('canceled');
    reactivate = state.suspendedByBilling;
    next.status = 'canceled';
    next.subscriptionId = null;
    next.subscriptionStartedAt = null;
    next.graceEndsAt = null;
    next.suspendedByBilling = false;
    plan = PLAN_AFTER_CANCELLATION;
  }
  return { outcome: 'applied', next, plan, reactivate, mails };
}
