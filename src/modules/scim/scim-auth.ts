import type { FastifyRequest } from 'fastify';
import { currentContext, type TenantCtx } from '../../platform/tenancy/context.js';
import { scimUnauthorized } from './scim.errors.js';
import { bearerValue, hashScimSecret, parseScimToken } from './scim-token-format.js';

/** The named privileged lookup (`app_priv_scim_token`, migration 0057): the organization and token row
 *  whose token id and secret hash both match a live token, or null. */
export type ScimTokenLookup = (
  tokenId: string,
  secretHash: Buffer,
) => Promise<{ organizationId: string; scimTokenId: string } | null>;

/** Builds the lookup on a runtime-role pool (outside any tenant scope, which the function refuses). */
export function scimTokenLookup(pool: {
  query: <R extends object>(text: string, values: unknown[]) => Promise<{ rows: R[] }>;
}): ScimTokenLookup {
  return async (tokenId, secretHash) => {
    const res = await pool.query<{ organization_id: string; scim_token_id: string }>(
      'select organization_id, scim_token_id from app_priv_scim_token($1, $2)',
      [tokenId, secretHash],
    );
    const row = res.rows[0];
    return row ? { organizationId: row.organization_id, scimTokenId: row.scim_token_id } : null;
  };
}

/**
 * Authenticates a `/scim/v2/*` request by its SCIM token, resolved on every request (no cache: a revoked
 * token is refused from the next request on, on every instance). Anything else (an API key, a JWT, a
 * session cookie, no header) is 401. Returns the service ctx of the token's organization, whose actor is
 * the system principal `scim:<token id>`, and records the tenant in the request context (logs).
 */
export async function authenticateScim(
  request: FastifyRequest,
  lookup: ScimTokenLookup,
): Promise<TenantCtx & { scimTokenId: string }> {
  const presented = bearerValue(request.headers.authorization);
  const parsed = presented === undefined ? undefined : parseScimToken(presented);
  if (!parsed) throw scimUnauthorized();
  const found = await lookup(parsed.tokenId, hashScimSecret(parsed.secret));
  if (!found) throw scimUnauthorized();
  const actor = { kind: 'system', name: `scim:${parsed.tokenId}` } as const;
  const ctx = currentContext();
  if (ctx) {
    ctx.tenantId = found.organizationId;
    ctx.principal = actor;
  }
  return { tenantId: found.organizationId, actor, requestId: request.id, scimTokenId: found.scimTokenId };
}
