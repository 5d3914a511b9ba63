import type { FastifyRequest } from 'fastify';
import { AppError } from '../../platform/errors.js';
import { currentContext, type TenantCtx } from '../../platform/tenancy/context.js';
import { ScimError, scimUnauthorized } from './scim.errors.js';
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
 * Whether the organization's lifecycle admits a SCIM request of this method: the rules of the tenant path
 * (`admitByLifecycle`) as for an API key (never exempt). False for an organization that is gone or being
 * deleted; a refusal that says why (suspended, pending deletion) throws an AppError.
 */
export type ScimAdmission = (orgId: string, method: string) => Promise<boolean>;

/**
 * Authenticates a `/scim/v2/*` request by its SCIM token, resolved on every request (no cache: a revoked
 * token is refused from the next request on, on every instance), then admitted by the organization's
 * lifecycle (suspended: 403; pending deletion: reads only, 409; being deleted: 401). Anything else (an API key, a JWT, a
 * session cookie, no header) is 401. Returns the service ctx of the token's organization, whose actor is
 * the system principal `scim:<token id>`, and records the tenant in the request context (logs).
 */
export async function authenticateScim(
  request: FastifyRequest,
  lookup: ScimTokenLookup,
  admitted: ScimAdmission,
): Promise<TenantCtx & { scimTokenId: string }> {
  const presented = bearerValue(request.headers.authorization);
  const parsed = presented === undefined ? undefined : parseScimToken(presented);
  if (!parsed) throw scimUnauthorized();
  const found = await lookup(parsed.tokenId, hashScimSecret(parsed.secret));
  if (!found) throw scimUnauthorized();
  // A suspended organization's directory changes nothing, one pending deletion only reads, and one being
  // deleted has no valid token: the same lifecycle rules as every other credential of the organization.
  try {
    if (!(await admitted(found.organizationId, request.method))) throw scimUnauthorized();
  } catch (err) {
    if (err instanceof AppError) throw new ScimError(err.status, err.message);
    throw err;
  }
  const actor = { kind: 'system', name: `scim:${parsed.tokenId}` } as const;
  const ctx = currentContext();
  if (ctx) {
    ctx.tenantId = found.organizationId;
    ctx.principal = actor;
  }
  return { tenantId: found.organizationId, actor, requestId: request.id, scimTokenId: found.scimTokenId };
}
