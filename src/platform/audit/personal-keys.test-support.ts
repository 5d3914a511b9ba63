/**
 * Test fixture for the audit personal-field tests (imported by tests only): a user key store on the suite's
 * KEK, a user's audited write from an address, and the stored rows read back as the superuser.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { expect } from 'vitest';
import { TEST_KEK } from '../../../test/support/job-key.js';
import { placeInSchema } from '../../../test/support/placements.js';
import type { ProvisionedDatabase } from '../../../test/support/provision.js';
import { createBareOrganization } from '../../modules/organizations/organization-records.js';
import { runWithContext, type TenantCtx } from '../tenancy/context.js';
import type { Tenancy } from '../tenancy/tenancy.js';
import { createKeyVault } from '../tenant-keys/key-vault.js';
import { createLocalKms } from '../tenant-keys/kms-local.js';
import { isSealedPersonal, sealedFor } from '../user-keys/personal-seal.js';
import { createUserKeyStore } from '../user-keys/user-keys.js';
import { recordAudit } from './record.js';

/**
 * A key vault on `keyVaultUrl`, its schema ensured (the caller closes it), and a user key store over it on
 * the suite's KEK with a fresh subject secret; `ttlMs` as the store takes it (its default when absent).
 */
export async function personalKeyStore(opts: { keyVaultUrl: string; ttlMs?: number }) {
  const vault = createKeyVault({ url: opts.keyVaultUrl });
  await vault.ensureSchema();
  const store = createUserKeyStore({
    kms: createLocalKms(TEST_KEK, []),
    vault: vault.persons,
    subjectSecret: randomBytes(32),
    ttlMs: opts.ttlMs,
  });
  return { vault, store };
}

/** The scope of `userId` acting in `org` under `requestId`. */
export const userCtx = (org: string, userId: string, requestId: string): TenantCtx => ({
  tenantId: org,
  actor: { kind: 'user', userId },
  requestId,
});

/** Inserts the user `id` (address `<prefix>-<id>@example.test`) through `client`. */
export const insertUser = (client: pg.Client, id: string, prefix: string) =>
  client.query('insert into users (id, email, email_normalized) values ($1, $2, $2)', [
    id,
    `${prefix}-${id}@example.test`,
  ]);

/**
 * One audited write `action` as `userId` in `org` from `ip` with `userAgent` (the request context the
 * recorder reads), its invitee's address `email` personal.
 */
export const writeWithInvitee = (
  tenancy: Tenancy,
  w: { org: string; userId: string; requestId: string; ip: string; userAgent: string; email: string },
  action: string,
) => {
  const ctx = userCtx(w.org, w.userId, w.requestId);
  return runWithContext(
    { requestId: w.requestId, principal: ctx.actor, ip: w.ip, userAgent: w.userAgent },
    () =>
      tenancy.withTenant(w.org, (db) =>
        recordAudit(db, ctx, {
          action,
          target: { type: 'thing', id: 't1' },
          metadata: { email: w.email, role: 'member' },
          personal: { subject: { kind: 'email', email: w.email }, keys: ['email'] },
        }),
      ),
  );
};

/** A stored audit row as the personal-field tests read it. */
export interface StoredRow {
  id: string;
  organization_id: string;
  actor_id: string | null;
  ip: string | null;
  user_agent: string | null;
  metadata: { email: string | null; role: string };
}

/** The organization's rows of `table` in schema `nsp`, oldest first, read through `client` (a superuser). */
export const storedRows = async (client: pg.Client, nsp: string, table: string, org: string) =>
  (
    await client.query<StoredRow>(
      `select id, organization_id, actor_id, ip, user_agent, metadata from "${nsp}"."${table}"
        where organization_id = $1 order by occurred_at, id`,
      [org],
    )
  ).rows;

/** A new bare organization named `name`, its slug `<name>-<suffix>`; its id. */
export const newOrganization = async (tenancy: Tenancy, name: string, suffix: string) =>
  (await createBareOrganization(tenancy.withTenant, { slug: `${name}-${suffix}`, name })).id;

/**
 * Places `placed` in a schema of its own in `own` and puts `moving` in an online move (pooled, state
 * `moving`), each routed afresh.
 */
export async function placeInSchemaAndMove(
  own: ProvisionedDatabase,
  admin: pg.Client,
  tenancy: Tenancy,
  orgs: { placed: string; moving: string },
): Promise<void> {
  await placeInSchema(own.adminUrl, own.migrationUrl, own.roles, orgs.placed);
  tenancy.router.invalidate(orgs.placed);
  await admin.query(
    `insert into tenant_placements (organization_id, kind, state, database_key) values ($1, 'pooled', 'moving', null)
     on conflict (organization_id) do update set state = 'moving'`,
    [orgs.moving],
  );
  tenancy.router.invalidate(orgs.moving);
}

/**
 * A stored row of a user's event written with `ip`, `ua` and the invitee `email`: each of the three sealed
 * (under `userId`'s key for the address and agent), none of them readable anywhere in the row.
 */
export function expectStoredSealed(
  row: StoredRow,
  clear: { userId: string; ip: string; ua: string; email: string },
): void {
  expect(isSealedPersonal(row.ip)).toBe(true);
  expect(isSealedPersonal(row.user_agent)).toBe(true);
  expect(isSealedPersonal(row.metadata.email)).toBe(true);
  expect(sealedFor(row.ip!)).toBe(clear.userId);
  expect(JSON.stringify(row)).not.toContain(clear.ua);
  expect(JSON.stringify(row)).not.toContain(clear.ip);
  expect(JSON.stringify(row)).not.toContain(clear.email);
}
