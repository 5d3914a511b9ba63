import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import { systemCtx } from '../../platform/tenancy/context.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { scimTokenLookup } from './scim-auth.js';
import { hashScimSecret, parseScimToken } from './scim-token-format.js';
import { createScimTokensService } from './scim-tokens.service.js';

/**
 * `app_priv_scim_token` (migration 0057): the only path from a SCIM token to its organization. It answers
 * for the right secret of a live token only, refuses inside a tenant scope, and another organization's
 * scope can neither read nor remove the lookup row.
 */
describe('SCIM token lookup', () => {
  let tenancy: Tenancy;
  let app: pg.Client;
  let orgA: string;
  let orgB: string;

  beforeAll(async () => {
    tenancy = createTestTenancy(2);
    orgA = await createTestOrg(tenancy, 'scim-a');
    orgB = await createTestOrg(tenancy, 'scim-b');
    app = await connect(testDb().url);
  });
  afterAll(async () => {
    await app?.end();
    await tenancy?.close();
  });

  it('finds a live token by id and secret only; a revoked one no more', async () => {
    const tokens = createScimTokensService({ withTenant: tenancy.withTenant });
    const ctx = systemCtx(orgA, 'test');
    const { token } = await tokens.create(ctx);
    const parsed = parseScimToken(token.secret!)!;
    const lookup = scimTokenLookup(tenancy.control.pool);
    expect(await lookup(parsed.tokenId, hashScimSecret(parsed.secret))).toEqual({
      organizationId: orgA,
      scimTokenId: token.id,
    });
    expect(await lookup(parsed.tokenId, hashScimSecret(`${parsed.secret}x`))).toBeNull();
    expect(await lookup('0000000000000000', hashScimSecret(parsed.secret))).toBeNull();

    // B's scope sees no row of A's lookup and deletes none.
    await app.query('begin');
    try {
      await app.query(`select set_config('app.tenant_id', $1, true)`, [orgB]);
      const seen = await app.query('select * from scim_token_lookup where token_id = $1', [parsed.tokenId]);
      expect(seen.rowCount).toBe(0);
      const gone = await app.query('delete from scim_token_lookup where token_id = $1', [parsed.tokenId]);
      expect(gone.rowCount).toBe(0);
      // Inside any tenant scope the lookup itself is refused.
      await expect(
        app.query('select * from app_priv_scim_token($1, $2)', [
          parsed.tokenId,
          hashScimSecret(parsed.secret),
        ]),
      ).rejects.toThrow(/refused inside a tenant scope/);
    } finally {
      await app.query('rollback');
    }

    await tokens.revoke(ctx, token.id);
    expect(await lookup(parsed.tokenId, hashScimSecret(parsed.secret))).toBeNull();
    // Revoking again, or from B, changes nothing.
    await tokens.revoke(ctx, token.id);
    await expect(tokens.revoke(systemCtx(orgB, 'test'), token.id)).rejects.toThrow(/not found/);
  });
});
