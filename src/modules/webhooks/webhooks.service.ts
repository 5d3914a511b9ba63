import { isIP } from 'node:net';
import { recordAudit } from '../../platform/audit/record.js';
import { EVENT_TYPES, isEventPattern } from '../../platform/events/catalog.js';
import { uuidv7 } from '../../platform/ids.js';
import { requestHash, withIdempotency } from '../../platform/idempotency.js';
import { decodeCursor, pageLimit, toPage, type Page } from '../../platform/pagination.js';
import { isTenantId, type TenantCtx } from '../../platform/tenancy/context.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { TenantSealer } from '../../platform/tenant-keys/contract.js';
import {
  newWebhookSecret,
  previousSecretBinding,
  queueDeliveryAttempt,
  secretBinding,
  webhookId,
  type WebhookSettings,
} from './webhook-delivery.js';
import { deliveryNotFound, endpointNotFound, WebhooksError } from './webhooks.errors.js';
import * as repo from './webhooks.repository.js';

/** An endpoint as the API shows it (never its secret). */
export interface WebhookEndpoint {
  id: string;
  url: string;
  description: string;
  eventTypes: string[];
  enabled: boolean;
  /** Why it is disabled: `manual` (a person) or `failing` (WEBHOOK_DISABLE_AFTER_DAYS without success). */
  disabledReason: 'manual' | 'failing' | null;
  failingSince: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface DeliveryAttempt {
  attempt: number;
  trigger: 'automatic' | 'manual';
  startedAt: string;
  durationMs: number;
  responseStatus: number | null;
  responseBody: string | null;
  error: string | null;
}

export interface WebhookDeliveryView {
  id: string;
  eventId: string;
  eventType: string;
  webhookId: string;
  status: 'pending' | 'succeeded' | 'dead';
  attempts: number;
  nextAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: string;
  succeededAt: string | null;
  /** The last 20 attempts, oldest first. */
  log: DeliveryAttempt[];
}

export interface EndpointInput {
  url: string;
  eventTypes: string[];
  description?: string;
  enabled?: boolean;
}

export interface WebhooksServiceDeps {
  withTenant: WithTenant;
  sealer: TenantSealer;
  settings: Pick<WebhookSettings, 'policy' | 'allowHttp' | 'secretOverlapSeconds'>;
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

/**
 * Endpoints per organization. Every event goes to every matching endpoint: without a bound, one action
 * would fan out into any number of POSTs (at a third party's server, or filling the delivery runner).
 */
export const MAX_ENDPOINTS_PER_ORGANIZATION = 20;

export const toEndpoint = (r: repo.EndpointRow): WebhookEndpoint => ({
  id: r.id,
  url: r.url,
  description: r.description,
  eventTypes: r.event_types,
  enabled: r.enabled,
  disabledReason: r.disabled_reason,
  failingSince: iso(r.failing_since),
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

const toAttempt = (a: repo.AttemptRow): DeliveryAttempt => ({
  attempt: a.attempt,
  trigger: a.trigger,
  startedAt: a.started_at.toISOString(),
  durationMs: a.duration_ms,
  responseStatus: a.response_status,
  responseBody: a.response_body,
  error: a.error,
});

/** Endpoints (create with the secret shown once, list, edit, delete, rotate), their delivery log and
 *  manual redelivery; every change audited in its transaction. */
export function createWebhooksService(deps: WebhooksServiceDeps) {
  const { withTenant, sealer, settings } = deps;

  /** https only (http with WEBHOOK_ALLOW_HTTP), no credentials, and no refused literal address or
   *  `localhost` name (names are checked again, resolved, at every connection). */
  function checkUrl(raw: string): string {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new WebhooksError('WEBHOOK_URL_INVALID', 'url must be an absolute URL');
    }
    const http = url.protocol === 'http:';
    if (url.protocol !== 'https:' && !(http && settings.allowHttp)) {
      throw new WebhooksError('WEBHOOK_URL_INVALID', 'url must be an https:// URL');
    }
    if (url.username || url.password) {
      throw new WebhooksError('WEBHOOK_URL_INVALID', 'url must not carry credentials');
    }
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const why =
      isIP(host) !== 0
        ? settings.policy.refusal(host)
        : host === 'localhost' || host.endsWith('.localhost')
          ? `${host} is a loopback name`
          : null;
    if (why) throw new WebhooksError('WEBHOOK_URL_NOT_ALLOWED', `url is not allowed: ${why}`);
    return url.toString();
  }

  function checkEventTypes(types: readonly string[]): string[] {
    const bad = types.filter((t) => !isEventPattern(t));
    if (bad.length > 0) {
      throw new WebhooksError(
        'WEBHOOK_EVENT_TYPES_INVALID',
        `unknown event type(s): ${bad.join(', ')} (see GET /v1/webhooks/event-types)`,
        { unknown: bad },
      );
    }
    return [...new Set(types)].sort();
  }

  async function insert(ctx: TenantCtx, db: TenantDb, input: EndpointInput, url: string, types: string[]) {
    if ((await repo.countEndpointsLocked(db, ctx.tenantId)) >= MAX_ENDPOINTS_PER_ORGANIZATION) {
      throw new WebhooksError(
        'WEBHOOK_ENDPOINT_LIMIT',
        `an organization has at most ${MAX_ENDPOINTS_PER_ORGANIZATION} webhook endpoints; delete one first`,
      );
    }
    const id = uuidv7();
    const secret = newWebhookSecret();
    const sealed = await sealer.sealForTenant(db, ctx.tenantId, secretBinding(id), secret);
    const row = await repo.insertEndpoint(db, ctx.tenantId, {
      id,
      url,
      description: input.description ?? '',
      eventTypes: types,
      enabled: input.enabled ?? true,
      secret: sealed,
      createdBy: ctx.actor.kind === 'user' ? ctx.actor.userId : null,
    });
    await recordAudit(db, ctx, {
      action: 'webhook_endpoint.created',
      target: { type: 'webhook_endpoint', id },
      metadata: { url, event_types: types, enabled: row.enabled },
    });
    return { endpoint: toEndpoint(row), secret };
  }

  async function load(db: TenantDb, ctx: TenantCtx, id: string, forUpdate = false) {
    if (!isTenantId(id)) throw endpointNotFound();
    const row = await repo.findEndpoint(db, ctx.tenantId, id, { forUpdate });
    if (!row) throw endpointNotFound();
    return row;
  }

  return {
    eventTypes: (): readonly string[] => EVENT_TYPES,

    /** A new endpoint and its secret (shown this once; `null` in an idempotent replay: never stored clear). */
    async create(
      ctx: TenantCtx,
      input: EndpointInput,
      opts: { idempotencyKey?: string } = {},
    ): Promise<{ endpoint: WebhookEndpoint; secret: string | null; replayed: boolean }> {
      const url = checkUrl(input.url);
      const types = checkEventTypes(input.eventTypes);
      return withTenant(ctx.tenantId, async (db) => {
        if (!opts.idempotencyKey) return { ...(await insert(ctx, db, input, url, types)), replayed: false };
        let secret: string | null = null;
        const { result, replayed } = await withIdempotency(
          db,
          ctx.tenantId,
          { scope: 'webhooks.create', key: opts.idempotencyKey, hash: requestHash({ ...input, url, types }) },
          async () => {
            const created = await insert(ctx, db, input, url, types);
            secret = created.secret;
            return created.endpoint;
          },
        );
        return { endpoint: result, secret, replayed };
      });
    },

    async list(
      ctx: TenantCtx,
      opts: { limit?: number; cursor?: string } = {},
    ): Promise<Page<WebhookEndpoint>> {
      const limit = pageLimit(opts.limit);
      const before = decodeCursor(opts.cursor, isTenantId);
      const rows = await withTenant(
        ctx.tenantId,
        (db) => repo.listEndpoints(db, ctx.tenantId, { before, limit }),
        { mode: 'read' },
      );
      return toPage(rows, limit, (r) => r.id, toEndpoint);
    },

    async get(ctx: TenantCtx, id: string): Promise<WebhookEndpoint> {
      return withTenant(ctx.tenantId, async (db) => toEndpoint(await load(db, ctx, id)), { mode: 'read' });
    },

    async update(ctx: TenantCtx, id: string, patch: Partial<EndpointInput>): Promise<WebhookEndpoint> {
      const url = patch.url === undefined ? undefined : checkUrl(patch.url);
      const types = patch.eventTypes === undefined ? undefined : checkEventTypes(patch.eventTypes);
      return withTenant(ctx.tenantId, async (db) => {
        const before = await load(db, ctx, id, true);
        const after = await repo.updateEndpoint(db, ctx.tenantId, id, {
          url,
          description: patch.description,
          eventTypes: types,
          enabled: patch.enabled,
        });
        if (!after) throw endpointNotFound();
        const fields = ['url', 'description', 'event_types', 'enabled'] as const;
        const changed = fields.filter((f) => JSON.stringify(before[f]) !== JSON.stringify(after[f]));
        if (changed.length > 0) {
          await recordAudit(db, ctx, {
            action: 'webhook_endpoint.updated',
            target: { type: 'webhook_endpoint', id },
            changes: {
              before: Object.fromEntries(changed.map((f) => [f, before[f]])),
              after: Object.fromEntries(changed.map((f) => [f, after[f]])),
            },
          });
        }
        return toEndpoint(after);
      });
    },

    async remove(ctx: TenantCtx, id: string): Promise<void> {
      await withTenant(ctx.tenantId, async (db) => {
        const row = await load(db, ctx, id, true);
        await repo.deleteEndpoint(db, ctx.tenantId, id);
        await recordAudit(db, ctx, {
          action: 'webhook_endpoint.deleted',
          target: { type: 'webhook_endpoint', id },
          metadata: { url: row.url },
        });
      });
    },

    /**
     * A new secret, shown this once. The old one keeps signing beside it for the overlap
     * (WEBHOOK_SECRET_OVERLAP_HOURS), then stops; a second rotation within the overlap drops the oldest.
     */
    async rotateSecret(
      ctx: TenantCtx,
      id: string,
    ): Promise<{ secret: string; previousSecretExpiresAt: string | null }> {
      return withTenant(ctx.tenantId, async (db) => {
        await load(db, ctx, id, true);
        const current = await repo.findEndpoint(db, ctx.tenantId, id, { forUpdate: true });
        if (!current) throw endpointNotFound();
        const overlap = settings.secretOverlapSeconds;
        let previous: string | null = null;
        if (overlap > 0) {
          // The old secret moves to the previous_secret column: sealed again under that column's binding.
          const old = await sealer.openForTenant(db, ctx.tenantId, secretBinding(id), current.secret);
          previous = await sealer.sealForTenant(db, ctx.tenantId, previousSecretBinding(id), old);
          old.fill(0);
        }
        const secret = newWebhookSecret();
        const sealed = await sealer.sealForTenant(db, ctx.tenantId, secretBinding(id), secret);
        await repo.rotateEndpointSecret(db, ctx.tenantId, id, { secret: sealed, previous }, overlap);
        const expiresAt = previous === null ? null : new Date(Date.now() + overlap * 1000).toISOString();
        await recordAudit(db, ctx, {
          action: 'webhook_endpoint.secret_rotated',
          target: { type: 'webhook_endpoint', id },
          metadata: { previous_secret_signs_until: expiresAt },
        });
        return { secret, previousSecretExpiresAt: expiresAt };
      });
    },

    async deliveries(
      ctx: TenantCtx,
      endpointId: string,
      opts: { limit?: number; cursor?: string } = {},
    ): Promise<Page<WebhookDeliveryView>> {
      const limit = pageLimit(opts.limit);
      const before = decodeCursor(opts.cursor, isTenantId);
      return withTenant(
        ctx.tenantId,
        async (db) => {
          await load(db, ctx, endpointId);
          const rows = await repo.listDeliveries(db, ctx.tenantId, endpointId, { before, limit });
          const attempts = await repo.attemptsOf(
            db,
            ctx.tenantId,
            rows.slice(0, limit).map((r) => r.id),
          );
          return toPage(
            rows,
            limit,
            (r) => r.id,
            (r) => ({
              id: r.id,
              eventId: r.event_id,
              eventType: r.event_type,
              webhookId: webhookId(r.id),
              status: r.status,
              attempts: r.attempts,
              nextAttemptAt: iso(r.next_attempt_at),
              lastStatus: r.last_status,
              lastError: r.last_error,
              createdAt: r.created_at.toISOString(),
              succeededAt: iso(r.succeeded_at),
              log: attempts.filter((a) => a.delivery_id === r.id).map(toAttempt),
            }),
          );
        },
        { mode: 'read' },
      );
    },

    /** Sends a delivery again now (same `webhook-id`), whatever its state; if that attempt fails, the
     *  automatic schedule goes on where it stood (dead when it was exhausted). */
    async redeliver(ctx: TenantCtx, deliveryId: string): Promise<void> {
      if (!isTenantId(deliveryId)) throw deliveryNotFound();
      await withTenant(ctx.tenantId, async (db) => {
        const d = await repo.findDelivery(db, ctx.tenantId, deliveryId, { forUpdate: true });
        if (!d) throw deliveryNotFound();
        const ep = await repo.findEndpoint(db, ctx.tenantId, d.endpoint_id);
        if (!ep?.enabled) {
          throw new WebhooksError('WEBHOOK_ENDPOINT_DISABLED', 'enable the endpoint before redelivering');
        }
        await repo.setDeliveryState(db, ctx.tenantId, d.id, { status: 'pending', nextAttemptAt: new Date() });
        await queueDeliveryAttempt(db, ctx.tenantId, d.id, 'manual');
        await recordAudit(db, ctx, {
          action: 'webhook_delivery.redelivered',
          target: { type: 'webhook_delivery', id: d.id },
          metadata: { endpoint_id: d.endpoint_id, event_id: d.event_id, event_type: d.event_type },
        });
      });
    },
  };
}

export type WebhooksService = ReturnType<typeof createWebhooksService>;
