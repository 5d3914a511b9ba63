/**
 * Test fixtures for the organizations and memberships modules (imported by tests only): users, members
 * and custom roles inserted directly, and an HTTP app with both modules' routes behind the test
 * authenticator, whose tenant resolution reads real memberships through the membership lookup.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createTestAuthenticator } from '../../../test/support/app.js';
import { createTestOrg, createTestTenancy } from '../../../test/support/tenancy.js';
import { createPlatformDb } from '../../platform/db/platform-db.js';
import { createHttpServer, type App } from '../../platform/http/server.js';
import { uuidv7 } from '../../platform/ids.js';
import { createLogger } from '../../platform/logger.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import type { UserProof } from '../../platform/tenancy/privileged.js';
import {
  createOrganizationsService,
  type OrganizationsService,
} from '../organizations/organizations.service.js';
import { registerOrganizationsRoutes } from '../organizations/organizations.routes.js';
import { createMembershipLookup, type MembershipLookup } from './membership-lookup.js';
import { createMembershipsService, type MembershipsService } from './memberships.service.js';
import { registerMembershipsRoutes } from './memberships.routes.js';
import { createRolesService, type RolesService } from './roles.service.js';
import { registerRolesRoutes } from './roles.routes.js';

/** A tenant ctx acting as a signed-in user. */
export const userCtx = (tenantId: string, userId: string): TenantCtx => ({
  tenantId,
  actor: { kind: 'user', userId },
  requestId: 'test',
});

/** Direct inserts of users, memberships and custom roles. */
export function identityFixtures(tenancy: Tenancy) {
  const platform = createPlatformDb(tenancy.control.pool);
  const { withTenant } = tenancy;

  /** A user (global table, through the platform handle). */
  const user = async (): Promise<string> => {
    const id = uuidv7();
    const email = `u-${randomBytes(6).toString('hex')}@example.test`;
    await platform.insertInto('users').values({ id, email, email_normalized: email }).execute();
    return id;
  };

  /** A new user (or `userId`) with a membership in `orgId`. */
  const member = async (
    orgId: string,
    opts: { role?: string; status?: 'active' | 'pending'; userId?: string } = {},
  ): Promise<string> => {
    const userId = opts.userId ?? (await user());
    await withTenant(orgId, (db) =>
      db
        .insertInto('memberships')
        .values({
          organization_id: orgId,
          user_id: userId,
          role: opts.role ?? 'member',
          status: opts.status ?? 'active',
        })
        .execute(),
    );
    return userId;
  };

  /** A live session of `userId`: the proof privileged lookups about the user ask for. */
  const session = async (userId: string): Promise<UserProof> => {
    const token = randomBytes(32).toString('base64url');
    const tokenHash = createHash('sha256').update(token, 'utf8').digest();
    await platform
      .insertInto('sessions')
      .values({
        id: uuidv7(),
        user_id: userId,
        token_hash: tokenHash,
        idle_expires_at: new Date(Date.now() + 3600_000),
        absolute_expires_at: new Date(Date.now() + 3600_000),
      })
      .execute();
    return { kind: 'session', token };
  };

  return {
    org: (prefix = 'm') => createTestOrg(tenancy, prefix),
    user,
    member,
    session,

    /** A custom role inserted directly. */
    async role(orgId: string, key: string, permissions: string[]): Promise<void> {
      await withTenant(orgId, (db) =>
        db.insertInto('roles').values({ organization_id: orgId, key, name: key, permissions }).execute(),
      );
    },

    /** The membership row as stored. */
    membership: (orgId: string, userId: string) =>
      withTenant(
        orgId,
        (db) =>
          db
            .selectFrom('memberships')
            .select(['role', 'status', 'permissions_version'])
            .where('organization_id', '=', orgId)
            .where('user_id', '=', userId)
            .executeTakeFirst(),
        { mode: 'read' },
      ),

    /** An organization with an active owner, returned with the owner's id. */
    async orgWithOwner(prefix = 'm'): Promise<{ orgId: string; ownerId: string }> {
      const orgId = await createTestOrg(tenancy, prefix);
      return { orgId, ownerId: await member(orgId, { role: 'owner' }) };
    },
  };
}

export interface IdentityTestApp {
  app: App;
  tenancy: Tenancy;
  lookup: MembershipLookup;
  services: { organizations: OrganizationsService; memberships: MembershipsService; roles: RolesService };
  /** A bearer token of `userId` in `orgId` (null: user routes only). */
  token(orgId: string | null, userId: string): string;
  /** A token for user routes presenting a live session of `userId` as its proof. */
  sessionToken(userId: string): Promise<string>;
  close(): Promise<void>;
}

/** An HTTP app with the organizations, members and roles routes, wired as production wires them. */
export async function buildIdentityTestApp(): Promise<IdentityTestApp> {
  const tenancy = createTestTenancy(4);
  const lookup = createMembershipLookup({ withTenant: tenancy.withTenant });
  const services = {
    organizations: createOrganizationsService({
      withTenant: tenancy.withTenant,
      privileged: tenancy.privileged,
      invalidateOrganization: (id) => lookup.invalidateOrganization(id),
    }),
    memberships: createMembershipsService({ withTenant: tenancy.withTenant, lookup }),
    roles: createRolesService({ withTenant: tenancy.withTenant, lookup }),
  };
  const auth = createTestAuthenticator({
    resolveTenant: async (tenantId, userId) => {
      const m = await lookup.activeMembership(tenantId, userId);
      return m && { tenantId, role: m.role, permissions: m.permissions };
    },
  });
  const app = await createHttpServer({
    log: createLogger({ level: 'silent' }),
    bodyLimitBytes: 1024 * 1024,
    trustProxy: false,
    authenticator: auth.authenticator,
    version: 'test',
  });
  registerOrganizationsRoutes(app, { organizations: services.organizations });
  registerMembershipsRoutes(app, { memberships: services.memberships });
  registerRolesRoutes(app, { roles: services.roles });
  await app.ready();
  return {
    app,
    tenancy,
    lookup,
    services,
    token: (orgId, userId) => auth.issue(orgId, { userId }),
    sessionToken: async (userId) =>
      auth.issue(null, { userId, credential: await identityFixtures(tenancy).session(userId) }),
    async close() {
      await app.close();
      await tenancy.close();
    },
  };
}
