import { randomUUID } from 'node:crypto';
import { AsyncLocalStorage } from 'node:async_hooks';

/** Who is acting. Always established by a verified source, never by a client-supplied id. */
export type Principal =
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'user'; readonly userId: string; readonly sessionId?: string }
  | {
      readonly kind: 'api_key';
      readonly keyId: string;
      /** The organization the key belongs to (its audit events' address and agent are sealed under its key). */
      readonly organizationId?: string;
      readonly userId?: string;
    }
  | { readonly kind: 'system'; readonly name: string };

/** Per-request (or per-job) context carried through async calls: logs, cache keys, jobs, events read it. */
export interface RequestContext {
  readonly requestId: string;
  /** Set once a tenant has been resolved from a verified source. */
  tenantId?: string;
  principal: Principal;
  /** The client address (proxy headers honoured only through TRUST_PROXY), for the audit log. */
  readonly ip?: string;
  readonly userAgent?: string;
}

/** What every service method receives as its first argument: who acts, for which tenant. */
export interface TenantCtx {
  readonly tenantId: string;
  readonly actor: Principal;
  readonly requestId: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Runs `fn` with `ctx` as the current request context. */
export function runWithContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

/** The current request context, if any. */
export function currentContext(): RequestContext | undefined {
  return storage.getStore();
}

/** Fields every log line inside a request carries. */
export function contextLogFields(): Record<string, string> {
  const ctx = storage.getStore();
  return ctx ? logFieldsOf(ctx) : {};
}

/** The log fields of one request context: `request_id`, and `tenant_id`, `user_id`, `api_key_id` or
 *  `system` when it has them. */
export function logFieldsOf(ctx: RequestContext): Record<string, string> {
  const fields: Record<string, string> = { request_id: ctx.requestId };
  if (ctx.tenantId) fields.tenant_id = ctx.tenantId;
  const p = ctx.principal;
  if (p.kind === 'user') fields.user_id = p.userId;
  else if (p.kind === 'api_key') {
    fields.api_key_id = p.keyId;
    if (p.userId) fields.user_id = p.userId;
  } else if (p.kind === 'system') fields.system = p.name;
  return fields;
}

/** Builds the service ctx for a system actor (jobs, CLI, scheduled work) in a tenant. */
export function systemCtx(tenantId: string, name: string, requestId = `system:${name}`): TenantCtx {
  return { tenantId, actor: { kind: 'system', name }, requestId };
}

/**
 * Builds the service ctx for a user acting in a tenant that the request did not resolve (sign-up's
 * Personal Organization, invitation acceptance, a new organization, platform administration): the current
 * request's id (so the audit log gets its IP and user agent), or a fresh one outside a request.
 */
export function userActingIn(tenantId: string, userId: string): TenantCtx {
  return {
    tenantId,
    actor: { kind: 'user', userId },
    requestId: storage.getStore()?.requestId ?? `no-request:${randomUUID()}`,
  };
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Ids that passed UUID_RE, so a known one is not matched again (at most this many; all forgotten then). */
const VALID_IDS_MAX = 50_000;
const validIds = new Set<string>();

/**
 * True for a canonical lowercase UUID, the only form a tenant id may take. Every `withTenant` and every
 * tenant cache key checks its id, mostly the same few ids again: an id that passed once is remembered
 * (a Set read, tens of nanoseconds, where the expression costs a few hundred). Only ids that matched
 * are remembered, so the answer is the expression's.
 */
export function isTenantId(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  if (validIds.has(value)) return true;
  if (!UUID_RE.test(value)) return false;
  if (validIds.size >= VALID_IDS_MAX) validIds.clear();
  validIds.add(value);
  return true;
}
