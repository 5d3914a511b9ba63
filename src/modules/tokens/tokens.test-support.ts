/**
 * Test fixtures for the tokens module (imported by its tests only): users and memberships inserted
 * directly, a membership lookup over the real tables, and Ed25519 keys shaped like `loadSecrets()`'s.
 */
import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { createTestOrg } from '../../../test/support/tenancy.js';
import { builtInRoles, isBuiltInRole } from '../../platform/authz/roles.js';
import type { Permission } from '../../platform/authz/permissions.js';
import { uuidv7 } from '../../platform/ids.js';
import type { Secrets } from '../../platform/secrets.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import type { MembershipLookup } from './tokens.service.js';

/** A JWT key as `loadSecrets()` builds it. */
export async function testJwtKey(): Promise<Secrets['jwtKeys'][number]> {
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const { kty, crv, x, d } = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint({ kty, crv, x }, 'sha256');
  return {
    kid,
    privateJwk: { kty, crv, x, d, kid, alg: 'EdDSA' },
    publicJwk: { kty, crv, x, kid, alg: 'EdDSA', use: 'sig' },
  };
}

/** Reads ACTIVE memberships straight from the table; built-in roles give the permissions. */
export function testMembershipLookup(tenancy: Tenancy): MembershipLookup {
  return {
    activeMembership: (orgId, userId) =>
      tenancy.withTenant(
        orgId,
        async (db) => {
          const m = await db
            .selectFrom('memberships')
            .select(['role', 'permissions_version'])
            .where('organization_id', '=', orgId)
            .where('user_id', '=', userId)
            .where('status', '=', 'active')
            .executeTakeFirst();
          if (!m) return null;
          const permissions: readonly Permission[] = isBuiltInRole(m.role) ? builtInRoles[m.role] : [];
          return {
            role: m.role,
            permissions: new Set(permissions),
            permissionsVersion: m.permissions_version,
          };
        },
        { mode: 'read' },
      ),
  };
}

/** Direct inserts and updates of users and memberships, through `withTenant`. */
export function identityFixtures(tenancy: Tenancy) {
  const { withTenant } = tenancy;
  return {
    org: (prefix = 'tok') => createTestOrg(tenancy, prefix),

    /** A user (global table, written inside the organization's transaction) with a membership. */
    async member(
      orgId: string,
      opts: { role?: string; status?: 'active' | 'pending'; userId?: string } = {},
    ): Promise<string> {
      const userId = opts.userId ?? uuidv7();
      await withTenant(orgId, async (db) => {
        if (!opts.userId) {
          const email = `u-${randomBytes(5).toString('hex')}@example.test`;
          await db.insertInto('users').values({ id: userId, email, email_normalized: email }).execute();
        }
        await db
          .insertInto('memberships')
          .values({
            organization_id: orgId,
            user_id: userId,
            role: opts.role ?? 'member',
            status: opts.status ?? 'active',
          })
          .execute();
      });
      return userId;
    },

    /** What a role or permission change does: bump the membership's permissions_version. */
    bumpPermissionsVersion: (orgId: string, userId: string) =>
      withTenant(orgId, async (db) => {
        await db
          .updateTable('memberships')
          .set((eb) => ({ permissions_version: eb('permissions_version', '+', 1) }))
          .where('organization_id', '=', orgId)
          .where('user_id', '=', userId)
          .execute();
      }),

    removeMembership: (orgId: string, userId: string) =>
      withTenant(orgId, async (db) => {
        await db
          .deleteFrom('memberships')
          .where('organization_id', '=', orgId)
          .where('user_id', '=', userId)
          .execute();
      }),
  };
}
