/**
 * The Stripe billing state machine, pure (no I/O, no clock): what one webhook event does to an
 * organization's billing state. docs/billing.md ("Stripe") has the table.
 *
 * The CURRENT subscription is the one whose event (active, trialing, past due, unpaid, paused) was applied
 * while the organization had none; it stays current until its own end (deleted, canceled,
 * incomplete_expired) is applied. Events of any other subscription are `ignored`, and so are invoice
 * events whose subscription is not the current one (one-off invoices, an old subscription's). A
 * subscription that ended is remembered (`endedSubscriptionIds`): its later events, whatever their time
 * (a late update of the same second as the deletion too), never make it current again; an end that
 * arrives before the subscription's first event is remembered the same way.
 *
 * Order, two clocks (Stripe's event `created` time): subscription events are ordered among themselves
 * (`subscriptionEventAt`: an older one is `stale`), so the plan and subscription follow the newest
 * subscription event whatever invoice events came between; the status follows the newest event of any
 * kind (`statusEventAt`): a subscription event older than the last invoice event applied still sets the
 * plan but not the status (a cancellation always ends it). Events of the same second apply in arrival
 * order. Both clocks start again with a new current subscription.
 *
 * Past due ends only with the payment of the invoice whose failure started it (`failedInvoiceId`; any
 * invoice of the current subscription when the past due came from a subscription event) or a subscription
 * event reporting `active`: a $0 or proration invoice paid meanwhile changes nothing.
 */

export type BillingStatus = 'none' | 'active' | 'past_due' | 'paused' | 'canceled';

/** The stored state (a row of `stripe_customers`). */
export interface BillingState {
  status: BillingStatus;
  subscriptionId: string | null;
  /** When the current subscription's usage starts: its start, or the first whole minute after the
   *  previous subscription's end if that is later (pushed from this minute on). */
  subscriptionStartedAt: Date | null;
  statusEventAt: Date | null;
  subscriptionEventAt: Date | null;
  graceEndsAt: Date | null;
  suspendedByBilling: boolean;
  /** Subscriptions that ended, newest first (at most {@link ENDED_KEPT}): their events are ignored. */
  endedSubscriptionIds: string[];
  /** When the last subscription ended: the next one's usage is pushed from no earlier than that. */
  subscriptionEndedAt: Date | null;
  /** The invoice whose failed payment made the organization past due (null otherwise). */
  failedInvoiceId: string | null;
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
      /** When it ended (`ended_at`), else the event's time; read only for an end. */
      endedAt: Date;
    }
  | { kind: 'invoice_paid'; created: Date; subscriptionId: string | null; invoiceId: string | null }
  | {
      kind: 'invoice_payment_failed';
      created: Date;
      subscriptionId: string | null;
      invoiceId: string | null;
    };

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

/** The plan an organization returns to when its subscription ends (or is paused). */
export const PLAN_AFTER_CANCELLATION = 'free';

/** How many ended subscription ids are remembered. */
export const ENDED_KEPT = 50;

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;

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
    case 'paused':
      return 'paused';
    case 'canceled':
    case 'incomplete_expired':
      return 'canceled';
    default:
      return null; // incomplete: nothing billing acts on
  }
}

const remember = (ended: string[], id: string): string[] =>
  ended.includes(id) ? ended : [id, ...ended].slice(0, ENDED_KEPT);

/** Applies one event to the state. */
export function decide(state: BillingState, e: BillingEvent, graceDays: number): BillingDecision {
  const unchanged = (outcome: BillingDecision['outcome'], next = state): BillingDecision => ({
    outcome,
    next,
    plan: null,
    reactivate: false,
    mails: [],
  });
  const older = (at: Date | null) => at !== null && e.created.getTime() < at.getTime();
  const to = target(e);
  const next: BillingState = { ...state };
  let plan: string | null = null;
  // The status clock: a new current subscription starts its own.
  let statusEventAt = state.statusEventAt;
  if (e.kind === 'subscription') {
    const current = state.subscriptionId;
    // An ended subscription stays ended, whatever the time of its late events.
    if (state.endedSubscriptionIds.includes(e.subscriptionId)) return unchanged('ignored');
    if (current === null || e.subscriptionId !== current) {
      // The end of a subscription that is not current (an old one, a second Checkout's, or one whose first
      // event has not arrived yet): remembered, so its events never make it current later.
      if (to === 'canceled') {
        return unchanged('ignored', {
          ...state,
          endedSubscriptionIds: remember(state.endedSubscriptionIds, e.subscriptionId),
        });
      }
      // Another subscription than the current one: not ours to follow.
      if (current !== null) return unchanged('ignored');
    }
    if (current !== null && older(state.subscriptionEventAt)) return unchanged('stale');
    if (to === null) return unchanged('ignored'); // incomplete: nothing billing acts on
    next.subscriptionEventAt = e.created;
    if (current === null) {
      next.subscriptionId = e.subscriptionId;
      // Stripe meters are per customer: usage pushed under the previous subscription (up to its end) is
      // not pushed again under this one. Usage counts from the start's minute, so after an end: from the
      // first whole minute after it.
      const ended = state.subscriptionEndedAt?.getTime() ?? null;
      next.subscriptionStartedAt =
        ended !== null && ended > e.startedAt.getTime()
          ? new Date(Math.ceil(ended / MINUTE_MS) * MINUTE_MS)
          : e.startedAt;
      statusEventAt = null;
    }
    if (to === 'active' || to === 'past_due') {
      plan = e.plan;
      // A newer invoice event already set the status: this older event sets the plan only.
      if (older(statusEventAt)) return { outcome: 'applied', next, plan, reactivate: false, mails: [] };
    }
  } else {
    if (state.subscriptionId === null || e.subscriptionId !== state.subscriptionId)
      return unchanged('ignored');
    if (older(state.statusEventAt)) return unchanged('stale');
    // Past due ends with the payment of the invoice that failed, not with any invoice paid meanwhile.
    if (
      e.kind === 'invoice_paid' &&
      state.status === 'past_due' &&
      state.failedInvoiceId !== null &&
      e.invoiceId !== state.failedInvoiceId
    ) {
      return unchanged('ignored');
    }
  }

  next.statusEventAt =
    statusEventAt && statusEventAt.getTime() > e.created.getTime() ? statusEventAt : e.created;
  let reactivate = false;
  const mails: BillingMail[] = [];
  if (to === 'active') {
    if (state.status === 'past_due' || state.suspendedByBilling) mails.push('reactivated');
    reactivate = state.suspendedByBilling;
    next.status = 'active';
    next.graceEndsAt = null;
    next.failedInvoiceId = null;
    next.suspendedByBilling = false;
  } else if (to === 'past_due') {
    if (state.status !== 'past_due') {
      next.graceEndsAt = new Date(e.created.getTime() + graceDays * DAY_MS);
      mails.push('past_due');
    }
    next.status = 'past_due';
    // The latest failed invoice is the one to pay (Stripe's subscription status follows the latest).
    if (e.kind === 'invoice_payment_failed' && e.invoiceId) next.failedInvoiceId = e.invoiceId;
  } else if (to === 'paused') {
    // Paused: nothing is billed, so the paid plan is not kept; the subscription stays current (resuming
    // reports `active` and brings its plan back). Billing's suspension, if any, stays: a pause pays nothing.
    next.status = 'paused';
    next.graceEndsAt = null;
    next.failedInvoiceId = null;
    plan = PLAN_AFTER_CANCELLATION;
  } else {
    if (state.status !== 'canceled') mails.push('canceled');
    reactivate = state.suspendedByBilling;
    next.status = 'canceled';
    if (state.subscriptionId) {
      next.endedSubscriptionIds = remember(state.endedSubscriptionIds, state.subscriptionId);
    }
    next.subscriptionEndedAt = e.kind === 'subscription' ? e.endedAt : e.created;
    next.subscriptionId = null;
    next.subscriptionStartedAt = null;
    next.graceEndsAt = null;
    next.failedInvoiceId = null;
    next.suspendedByBilling = false;
    plan = PLAN_AFTER_CANCELLATION;
  }
  return { outcome: 'applied', next, plan, reactivate, mails };
}
