/**
 * The Stripe billing state machine, pure (no I/O, no clock): what one webhook event does to an
 * organization's billing state. docs/billing.md ("Stripe") has the table.
 *
 * Order: every event carries Stripe's `created` time; an event older than the last one applied is
 * `stale` and changes nothing, so events delivered out of order end in the state of the newest one.
 * Events of the same second are applied in arrival order.
 */

export type BillingStatus = 'none' | 'active' | 'past_due' | 'canceled';

/** The stored state (a row of `stripe_customers`). */
export interface BillingState {
  status: BillingStatus;
  subscriptionId: string | null;
  statusEventAt: Date | null;
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
    }
  | { kind: 'invoice_paid'; created: Date }
  | { kind: 'invoice_payment_failed'; created: Date };

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
  if (state.statusEventAt && e.created.getTime() < state.statusEventAt.getTime()) return unchanged('stale');
  const to = target(e);
  if (to === null) return unchanged('ignored');
  // A subscription event of another subscription than the current one (an old one ending after a new one
  // started) does not end the current one.
  if (
    e.kind === 'subscription' &&
    state.subscriptionId !== null &&
    e.subscriptionId !== state.subscriptionId &&
    to === 'canceled'
  ) {
    return unchanged('ignored');
  }
  // An invoice of an ended subscription does not revive it.
  if (e.kind !== 'subscription' && state.status === 'canceled') return unchanged('ignored');

  const next: BillingState = { ...state, statusEventAt: e.created };
  let plan: string | null = null;
  let reactivate = false;
  const mails: BillingMail[] = [];
  if (e.kind === 'subscription') {
    next.subscriptionId = to === 'canceled' ? null : e.subscriptionId;
    if (to !== 'canceled' && e.plan) plan = e.plan;
  }
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
    next.graceEndsAt = null;
    next.suspendedByBilling = false;
    plan = PLAN_AFTER_CANCELLATION;
  }
  return { outcome: 'applied', next, plan, reactivate, mails };
}
