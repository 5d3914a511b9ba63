import type { CacheItem, CacheProvider } from '@node-saml/node-saml';
import type { WithTenant } from '../../../platform/tenancy/with-tenant.js';
import {
  deletePendingRequest,
  findPendingRequest,
  insertPendingRequest,
  type PendingRequest,
} from './saml.repository.js';

/** How long an AuthnRequest may wait for its answer. */
export const REQUEST_TTL_MS = 10 * 60_000;

/**
 * node-saml's request id cache, backed by `saml_pending_requests` so a response may reach any instance.
 * One per sign-in step, bound to the connection (and its organization): it sees only that connection's
 * requests. `removed` is the row this step took out, if any: a request is consumed by exactly one step,
 * even when two responses naming it arrive at once.
 */
export class PendingRequestCache implements CacheProvider {
  removed: PendingRequest | undefined;
  constructor(
    private readonly withTenant: WithTenant,
    private readonly org: string,
    private readonly connectionId: string,
    private readonly pending: { flowId: string | null; returnTo: string } = { flowId: null, returnTo: '/' },
  ) {}

  async saveAsync(key: string, value: string): Promise<CacheItem | null> {
    await this.withTenant(this.org, (db) =>
      insertPendingRequest(db, this.org, {
        requestId: key,
        connectionId: this.connectionId,
        flowId: this.pending.flowId,
        returnTo: this.pending.returnTo,
        ttlMs: REQUEST_TTL_MS,
      }),
    );
    return { value, createdAt: Date.now() };
  }

  /** The request's creation time (ISO), as node-saml compares it with its expiration period. */
  async getAsync(key: string): Promise<string | null> {
    const row = await this.withTenant(
      this.org,
      (db) => findPendingRequest(db, this.org, this.connectionId, key),
      { mode: 'read' },
    );
    return row ? row.created_at.toISOString() : null;
  }

  async removeAsync(key: string | null): Promise<string | null> {
    if (key === null) return null;
    const row = await this.withTenant(this.org, (db) =>
      deletePendingRequest(db, this.org, this.connectionId, key),
    );
    if (row) this.removed ??= row;
    return row ? row.created_at.toISOString() : null;
  }
}
