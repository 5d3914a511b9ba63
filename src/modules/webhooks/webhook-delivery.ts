import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { Webhook } from 'standardwebhooks';
import { recordAudit } from '../../platform/audit/record.js';
import { DISPATCH_JOB_KEY, DISPATCH_TASK } from '../../platform/events/outbox.js';
import { matchesEventFilter } from '../../platform/events/catalog.js';
import { uuidv7 } from '../../platform/ids.js';
import { enqueueJob } from '../../platform/jobs/enqueue.js';
import type { JobHandler } from '../../platform/jobs/worker.js';
import { MAIL_TASK } from '../../platform/mail/mail-job.js';
import { systemCtx } from '../../platform/tenancy/context.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { TenantSealer } from '../../platform/tenant-keys/contract.js';
import type { AddressPolicy } from './address-policy.js';
import { postJson, type SendOutcome } from './webhook-http.js';
import * as repo from './webhooks.repository.js';

/** The tenant job of one delivery attempt (payload {@link DeliverPayload}). */
export const DELIVER_TASK = 'webhooks.deliver';
/** Per delivery: a retry or a redelivery replaces its pending job instead of adding one. */
export const deliverJobKey = (deliveryId: string) => `webhooks.deliver:${deliveryId}`;

export interface DeliverPayload {
  deliveryId: string;
  trigger: 'automatic' | 'manual';
}

/** Where the signing secret lives (the sealer's binding). */
export const secretBinding = (endpointId: string) => ({
  table: 'webhook_endpoints',
  column: 'secret',
  rowId: endpointId,
});

/** Where an endpoint's previous secret lives while it still signs (after a rotation). */
export const previousSecretBinding = (endpointId: string) => ({
  table: 'webhook_endpoints',
  column: 'previous_secret',
  rowId: endpointId,
});

/**
 * The `webhook-signature` header: the signature with the current secret, then, while a rotation's overlap
 * lasts, the one with the previous secret, space-separated (Standard Webhooks: a receiver accepts the
 * request when any signature verifies with its secret).
 */
export function signatureHeader(secrets: readonly string[], msgId: string, at: Date, body: string): string {
  return secrets.map((s) => new Webhook(s).sign(msgId, at, body)).join(' ');
}

/** A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** The `webhook-id` of a delivery: the same for every attempt of one event to one endpoint. */
export const webhookId = (deliveryId: string) => `msg_${deliveryId.replace(/-/g, '')}`;

export interface WebhookSettings {
  readonly policy: AddressPolicy;
  readonly allowHttp: boolean;
  /** Seconds before each retry; attempts = this length + 1. */
  readonly retryScheduleSeconds: readonly number[];
  readonly timeoutMs: number;
  readonly disableAfterDays: number;
  /** How long a rotated-out secret still signs, beside the new one (WEBHOOK_SECRET_OVERLAP_HOURS). */
  readonly secretOverlapSeconds: number;
  /** How much of a response body is read (64 KiB); 2,048 characters are kept in the log. */
  readonly maxResponseBytes?: number;
}

export interface WebhookDeliveryDeps {
  withTenant: WithTenant;
  sealer: TenantSealer;
  settings: WebhookSettings;
  /** Links in the owners' mail: the console page of the organization's webhooks. */
  webhooksLink: (slug: string) => string;
  log?: Logger;
  /** Tests: called after the POST was answered and before its result is recorded (a crash there). */
  afterSend?: (delivery: { id: string; endpointId: string }, outcome: SendOutcome) => Promise<void> | void;
}

const DISPATCH_BATCH = 100;

/** Queues one attempt of a delivery in the caller's transaction (replacing its pending one, if any). */
export function queueDeliveryAttempt(
  db: TenantDb,
  org: string,
  deliveryId: string,
  trigger: DeliverPayload['trigger'],
  runAt?: Date,
): Promise<void> {
  const payload: DeliverPayload = { deliveryId, trigger };
  return enqueueJob(
    db,
    DELIVER_TASK,
    { tenantId: org, payload },
    { jobKey: deliverJobKey(deliveryId), maxAttempts: 5, ...(runAt ? { runAt } : {}) },
  );
}
const clip = (s: string | null, n: number) => (s === null ? null : s.slice(0, n));

/**
 * The two job handlers: `webhooks.dispatch` fans the organization's undispatched outbox events out into
 * one delivery per matching enabled endpoint (unique per event and endpoint) and queues a
 * `webhooks.deliver` job for each, marking the events dispatched, all in one transaction;
 * `webhooks.deliver` makes one signed attempt and records it (see {@link createWebhookDelivery}).
 */
export function createWebhookDelivery(deps: WebhookDeliveryDeps) {
  const { withTenant, settings } = deps;
  const maxBytes = settings.maxResponseBytes ?? 64 * 1024;

  async function dispatch(org: string): Promise<number> {
    return withTenant(org, async (db) => {
      const events = await repo.undispatchedEvents(db, org, DISPATCH_BATCH);
      if (events.length === 0) return 0;
      const endpoints = await repo.enabledEndpoints(db, org);
      let created = 0;
      for (const ev of events) {
        for (const ep of endpoints) {
          if (!matchesEventFilter(ep.event_types, ev.type)) continue;
          const id = await repo.insertDelivery(db, org, { id: uuidv7(), eventId: ev.id, endpointId: ep.id });
          if (!id) continue;
          created++;
          await queueDeliveryAttempt(db, org, id, 'automatic');
        }
      }
      await repo.markDispatched(
        db,
        org,
        events.map((e) => e.id),
      );
      if (events.length === DISPATCH_BATCH) {
        await enqueueJob(db, DISPATCH_TASK, { tenantId: org, payload: {} }, { jobKey: DISPATCH_JOB_KEY });
      }
      return created;
    });
  }

  /** One attempt: read, sign, POST (outside any transaction), then record it in one transaction. */
  async function deliver(org: string, p: DeliverPayload): Promise<void> {
    let prepared: Awaited<ReturnType<typeof prepare>>;
    const preparedAt = new Date();
    try {
      prepared = await prepare(org, p);
    } catch (err) {
      // A failure of ours (a secret that cannot be opened, an inconsistent row): an attempt like any
      // other, logged with the error and no response, so the schedule ends it `dead` after the last one
      // instead of the job failing (and the delivery being queued again) forever.
      deps.log?.error(
        { component: 'webhooks', tenant_id: org, delivery: p.deliveryId, err },
        'webhook delivery attempt failed before sending',
      );
      const message = err instanceof Error ? err.message : String(err);
      await record(
        org,
        p,
        preparedAt,
        {
          kind: 'error',
          error: `internal error: ${message}`,
          durationMs: Date.now() - preparedAt.getTime(),
        },
        { internal: true },
      );
      return;
    }
    if (!prepared) return;
    const { d, ep, headers, body, startedAt } = prepared;
    const outcome = await sendTo(ep.url, headers, body);
    await deps.afterSend?.({ id: d.id, endpointId: ep.id }, outcome);
    await record(org, p, startedAt, outcome);
  }

  /** Reads the delivery and its endpoint, opens the secrets and signs; undefined when nothing is to send. */
  async function prepare(org: string, p: DeliverPayload) {
    const loaded = await withTenant(org, async (db) => {
      const d = await repo.findDelivery(db, org, p.deliveryId);
      if (d?.status !== 'pending') return undefined;
      const ep = await repo.findEndpoint(db, org, d.endpoint_id);
      if (!ep) throw new Error(`the endpoint ${d.endpoint_id} of the delivery is missing`);
      if (!ep.enabled) return { d, ep, secrets: null };
      const secret = await deps.sealer.openForTenant(db, org, secretBinding(ep.id), ep.secret);
      const secrets = [secret.toString('utf8')];
      if (ep.previous_secret !== null) {
        // The rotated-out secret, still signing during its overlap (repo: null once expired).
        const previous = await deps.sealer.openForTenant(
          db,
          org,
          previousSecretBinding(ep.id),
          ep.previous_secret,
        );
        secrets.push(previous.toString('utf8'));
      }
      return { d, ep, secrets };
    });
    if (!loaded) return undefined;
    const { d, ep, secrets } = loaded;
    if (secrets === null) {
      await withTenant(org, (db) =>
        repo.setDeliveryState(db, org, d.id, {
          status: 'dead',
          nextAttemptAt: null,
          lastError: 'endpoint disabled',
          lastStatus: null,
        }),
      );
      return undefined;
    }
    const body = JSON.stringify(d.payload);
    const msgId = webhookId(d.id);
    const startedAt = new Date();
    const signature = signatureHeader(secrets, msgId, startedAt, body);
    const headers: Record<string, string> = {
      'webhook-id': msgId,
      'webhook-timestamp': String(Math.floor(startedAt.getTime() / 1000)),
      'webhook-signature': signature,
    };
    return { d, ep, headers, body, startedAt };
  }

  function sendTo(url: string, headers: Record<string, string>, body: string): Promise<SendOutcome> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return Promise.resolve({ kind: 'error', error: 'the endpoint URL does not parse', durationMs: 0 });
    }
    if (parsed.protocol !== 'https:' && !(settings.allowHttp && parsed.protocol === 'http:')) {
      return Promise.resolve({ kind: 'error', error: 'refused: not an https URL', durationMs: 0 });
    }
    return postJson(parsed, headers, body, {
      policy: settings.policy,
      timeoutMs: settings.timeoutMs,
      maxResponseBytes: maxBytes,
    });
  }

  async function record(
    org: string,
    p: DeliverPayload,
    startedAt: Date,
    outcome: SendOutcome,
    opts: { internal?: boolean } = {},
  ) {
    const ok = outcome.kind === 'response' && outcome.status >= 200 && outcome.status < 300;
    const status =
      outcome.kind === 'response' && outcome.status >= 100 && outcome.status <= 599 ? outcome.status : null;
    const error =
      outcome.kind === 'error'
        ? clip(outcome.error, 500)
        : ok
          ? null
          : `HTTP ${outcome.status}${outcome.status >= 300 && outcome.status < 400 ? ' (redirects are not followed)' : ''}`;
    await withTenant(org, async (db) => {
      const d = await repo.findDelivery(db, org, p.deliveryId, { forUpdate: true });
      if (!d) return;
      const attempt = await repo.insertAttempt(db, org, {
        id: uuidv7(),
        deliveryId: d.id,
        trigger: p.trigger,
        startedAt,
        durationMs: outcome.durationMs,
        status,
        // PostgreSQL text holds no NUL character.
        body: outcome.kind === 'response' ? clip(outcome.body.replaceAll('\u0000', ''), 2048) : null,
        error,
      });
      // Another attempt of this delivery recorded its end first (a redelivery racing a retry): this one
      // is only logged.
      if (d.status !== 'pending') return;
      if (ok) {
        await repo.setDeliveryState(db, org, d.id, {
          status: 'succeeded',
          attempts: attempt,
          nextAttemptAt: null,
          lastStatus: status,
          lastError: null,
        });
        await repo.markEndpointHealthy(db, org, d.endpoint_id);
        return;
      }
      // After the n-th automatic attempt the next waits schedule[n-1]; a manual attempt that fails
      // continues the schedule where it stood (dead when it was exhausted).
      const automaticDone = await automaticAttempts(db, org, d.id);
      const delay = settings.retryScheduleSeconds[Math.max(automaticDone, 1) - 1];
      const retry = delay !== undefined;
      const next = retry ? new Date(Date.now() + delay * 1000) : null;
      await repo.setDeliveryState(db, org, d.id, {
        status: retry ? 'pending' : 'dead',
        attempts: attempt,
        nextAttemptAt: next,
        lastStatus: status,
        lastError: error,
      });
      if (next) await queueDeliveryAttempt(db, org, d.id, 'automatic', next);
      // Our own failure says nothing about the receiver: the endpoint is not marked failing for it.
      if (!opts.internal) await failing(db, org, d.endpoint_id);
    });
  }

  async function automaticAttempts(db: TenantDb, org: string, deliveryId: string): Promise<number> {
    const rows = await repo.attemptsOf(db, org, [deliveryId]);
    // attemptsOf keeps the last 20; the schedule has at most 20 retries, so this count is exact.
    return rows.filter((r) => r.trigger === 'automatic').length;
  }

  /** A failed attempt: the endpoint fails since…; past WEBHOOK_DISABLE_AFTER_DAYS it is disabled. */
  async function failing(db: TenantDb, org: string, endpointId: string): Promise<void> {
    const since = await repo.markEndpointFailing(db, org, endpointId);
    if (!since || Date.now() - since.getTime() < settings.disableAfterDays * 86_400_000) return;
    if (!(await repo.disableForFailing(db, org, endpointId))) return;
    const ctx = systemCtx(org, 'webhooks');
    await recordAudit(db, ctx, {
      action: 'webhook_endpoint.disabled',
      target: { type: 'webhook_endpoint', id: endpointId },
      metadata: { reason: 'failing', failing_since: since.toISOString(), days: settings.disableAfterDays },
    });
    const { name, slug, owners } = await repo.ownersToMail(db, org);
    const ep = await repo.findEndpoint(db, org, endpointId);
    for (const o of owners) {
      await enqueueJob(
        db,
        MAIL_TASK,
        {
          tenantId: org,
          payload: {
            to: o.email,
            subject: `A webhook endpoint of ${name} was disabled`,
            text:
              `Deliveries to ${ep?.url ?? 'a webhook endpoint'} have failed since ` +
              `${since.toISOString()} without a success, so the endpoint was disabled after ` +
              `${settings.disableAfterDays} days. Fix the receiver, then enable it again and redeliver ` +
              `what it missed:\n\n${deps.webhooksLink(slug)}\n`,
          },
        },
        { jobKey: `webhooks:disabled:${endpointId}:${since.getTime()}:${o.userId}` },
      );
    }
    deps.log?.warn({ tenant_id: org, endpoint: endpointId }, 'webhook endpoint disabled for failing');
  }

  const handlers: Record<string, JobHandler> = {
    [DISPATCH_TASK]: async (_payload, job) => {
      if (!job.tenantId) throw new Error('webhooks.dispatch without a tenant');
      await dispatch(job.tenantId);
    },
    [DELIVER_TASK]: async (payload, job) => {
      const p = payload as Partial<DeliverPayload> | null;
      if (!job.tenantId || typeof p?.deliveryId !== 'string') {
        throw new Error(`webhooks.deliver job ${job.id} has an invalid payload`);
      }
      await deliver(job.tenantId, {
        deliveryId: p.deliveryId,
        trigger: p.trigger === 'manual' ? 'manual' : 'automatic',
      });
    },
  };

  return { handlers, dispatch, deliver };
}

export type WebhookDelivery = ReturnType<typeof createWebhookDelivery>;
