/**
 * Test fixtures for the invitations module (imported by tests only): users and memberships inserted
 * directly as the superuser, organizations through the tenancy core, and the invitation mails read back
 * from the job queue (or, once some test process's worker delivered them, from the suite's SMTP sink).
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { queuedJobs } from '../../../test/support/jobs.js';
import { sharedMailbox } from '../../../test/support/mailbox.js';
import { mailText } from '../../../test/support/smtp.js';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import { uuidv7 } from '../../platform/ids.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { rolePermissionsIn } from '../memberships/role-permissions.js';
import {
  createInvitationsService,
  type InvitationsDeps,
  type InvitationsService,
} from './invitations.service.js';

/** A tenant ctx acting as a signed-in user. */
export const userCtx = (tenantId: string, userId: string): TenantCtx => ({
  tenantId,
  actor: { kind: 'user', userId },
  requestId: 'test',
});

/** What a call threw (`resolved` when it did not), for comparing failures. */
export const failure = (p: Promise<unknown>) =>
  p.then(
    () => ({ code: 'resolved', status: 0, message: '', details: undefined as unknown }),
    (e: { code: string; status: number; message: string; details?: unknown }) => ({
      code: e.code,
      status: e.status,
      message: e.message,
      details: e.details,
    }),
  );

/** A unique address for one test. */
export const freshEmail = (prefix = 'inv') => `${prefix}-${randomBytes(6).toString('hex')}@example.test`;

/** The `rolePermissions` dependency, as src/app/services/organizations.ts wires it. */
export const rolePermissions = rolePermissionsIn;

/** One invitation mail as queued or delivered. */
export interface InvitationMail {
  /** The job row while it is still queued (undefined once a worker delivered it). */
  readonly job?: { key: string | null; tenantId: string | null };
  readonly text: string;
  readonly token: string;
}

const TOKEN_RE = /\/accept-invitation\?token=([A-Za-z0-9_-]+)/;

/** Direct inserts and superuser reads for the invitations tests. Call `close()` when done. */
export async function invitationFixtures(tenancy: Tenancy) {
  const admin: pg.Client = await connect(testDb().adminUrl);

  /** A user row (global table); its email as given, its normalized form lowercased. */
  async function user(email = freshEmail('user')): Promise<{ id: string; email: string }> {
    const id = uuidv7();
    await admin.query('insert into users (id, email, email_normalized) values ($1, $2, $3)', [
      id,
      email,
      email.trim().toLowerCase(),
    ]);
    return { id, email };
  }

  /** A membership of `userId` (a new user unless given) in `orgId`. */
  async function member(
    orgId: string,
    opts: { role?: string; status?: 'active' | 'pending'; userId?: string } = {},
  ): Promise<string> {
    const userId = opts.userId ?? (await user()).id;
    await admin.query(
      'insert into memberships (organization_id, user_id, role, status) values ($1, $2, $3, $4)',
      [orgId, userId, opts.role ?? 'member', opts.status ?? 'active'],
    );
    return userId;
  }

  /** Every invitation mail to `email`: still queued (`mail.send` jobs) or already delivered. */
  async function mailsTo(email: string): Promise<InvitationMail[]> {
    // Job payloads are sealed: open them with the test KEK.
    const mails: InvitationMail[] = [];
    for (const j of await queuedJobs(admin, 'mail.send')) {
      const { to, text } = j.payload as { to: string; text: string };
      if (to !== email) continue;
      const token = TOKEN_RE.exec(text)?.[1];
      if (token) mails.push({ job: { key: j.key, tenantId: j.tenantId }, text, token });
    }
    for (const m of sharedMailbox().all()) {
      if (!m.to.includes(email)) continue;
      const text = mailText(m.raw);
      const token = TOKEN_RE.exec(text)?.[1];
      if (token && !mails.some((x) => x.token === token)) mails.push({ text, token });
    }
    return mails;
  }

  return {
    admin,
    user,
    member,
    mailsTo,
    org: (prefix = 'inv') => createTestOrg(tenancy, prefix),

    /** An organization with an active member of `role` (owner by default). */
    async orgWithMember(role = 'owner', prefix = 'inv'): Promise<{ orgId: string; userId: string }> {
      const orgId = await createTestOrg(tenancy, prefix);
      return { orgId, userId: await member(orgId, { role }) };
    },

    /** The token of the one invitation mail to `email` whose token is not in `except` (waits for it). */
    async nextToken(email: string, except: readonly string[] = []): Promise<string> {
      const end = Date.now() + 10_000;
      let found = (await mailsTo(email)).filter((m) => !except.includes(m.token));
      while (found.length === 0 && Date.now() < end) {
        // A worker of another test process may be delivering it right now.
        await new Promise((r) => setTimeout(r, 50));
        found = (await mailsTo(email)).filter((m) => !except.includes(m.token));
      }
      if (found.length !== 1) throw new Error(`expected one new mail to ${email}, found ${found.length}`);
      return found[0]!.token;
    },

    /** The membership row as stored. */
    async membership(orgId: string, userId: string) {
      const r = await admin.query<{ role: string; status: string; permissions_version: number }>(
        `select role, status, permissions_version from memberships
          where organization_id = $1 and user_id = $2`,
        [orgId, userId],
      );
      return r.rows[0];
    },

    /** The invitation row as stored. */
    async invitation(orgId: string, id: string) {
      const r = await admin.query<{ status: string; expires_at: Date; accepted_at: Date | null }>(
        'select status, expires_at, accepted_at from invitations where organization_id = $1 and id = $2',
        [orgId, id],
      );
      return r.rows[0];
    },

    /** Moves an invitation's expiry into the past. */
    async expire(orgId: string, id: string): Promise<void> {
      await admin.query(
        `update invitations set expires_at = now() - interval '1 minute'
          where organization_id = $1 and id = $2`,
        [orgId, id],
      );
    },

    /** `select count(*)` of users with this normalized address. */
    async usersWithEmail(email: string): Promise<number> {
      const r = await admin.query<{ n: number }>(
        'select count(*)::int as n from users where email_normalized = $1',
        [email.toLowerCase()],
      );
      return r.rows[0]!.n;
    },

    close: () => admin.end(),
  };
}

export type InvitationFixtures = Awaited<ReturnType<typeof invitationFixtures>>;

/** Base of the links in mails, as the service tests configure it (given with a trailing slash). */
export const PUBLIC_URL = 'https://app.example.test';

/**
 * The service on the tenancy core with its real privileged lookup, recording every `membershipChanged`
 * call together with the membership as ANOTHER connection saw it at that moment (to prove the call comes
 * after the commit). `reset()` clears the records (call it before each test).
 */
export function serviceHarness(tenancy: Tenancy, fx: InvitationFixtures) {
  const changed: [string, string][] = [];
  const seenOnChange: Promise<{ status: string } | undefined>[] = [];
  const make = (over: Partial<InvitationsDeps> = {}): InvitationsService =>
    createInvitationsService({
      withTenant: tenancy.withTenant,
      invitationByToken: (hash) => tenancy.privileged.invitationByToken(hash),
      rolePermissions,
      membershipChanged: (orgId, userId) => {
        changed.push([orgId, userId]);
        seenOnChange.push(fx.membership(orgId, userId));
      },
      publicUrl: `${PUBLIC_URL}/`,
      ...over,
    });
  const svc = make();
  return {
    svc,
    make,
    changed,
    seenOnChange,
    reset() {
      changed.length = 0;
      seenOnChange.length = 0;
    },
    /** Invites `email` and returns the invitation with its mailed token. */
    async invited(ctx: TenantCtx, email = freshEmail(), role = 'member') {
      const inv = await svc.invite(ctx, { email, role });
      return { inv, token: await fx.nextToken(email.toLowerCase()) };
    },
  };
}

export type ServiceHarness = ReturnType<typeof serviceHarness>;

/** What `useServiceSuite` builds for a describe block. */
export interface ServiceSuite {
  tenancy: Tenancy;
  fx: InvitationFixtures;
  h: ServiceHarness;
  svc: InvitationsService;
  /** An organization whose owner is `owner`. */
  org: string;
  owner: TenantCtx;
}

/**
 * The service tests' setting, for the calling describe block: a tenancy core, the fixtures, the harness
 * and an organization (slug prefix `orgPrefix`) with its owner, built before the block's tests and handed
 * to `bind`; the harness's records reset before each test; everything closed after the tests.
 */
export function useServiceSuite(bind: (suite: ServiceSuite) => void, orgPrefix?: string): void {
  let suite: ServiceSuite | undefined;
  beforeAll(async () => {
    const tenancy = createTestTenancy(4);
    const fx = await invitationFixtures(tenancy);
    const h = serviceHarness(tenancy, fx);
    const o = await fx.orgWithMember('owner', orgPrefix);
    suite = { tenancy, fx, h, svc: h.svc, org: o.orgId, owner: userCtx(o.orgId, o.userId) };
    bind(suite);
  });
  beforeEach(() => suite!.h.reset());
  afterAll(async () => {
    await suite?.fx.close();
    await suite?.tenancy.close();
  });
}
