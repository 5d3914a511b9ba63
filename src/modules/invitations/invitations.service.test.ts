import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { auditEvents } from '../../../test/support/audit.js';
import { uuidv7 } from '../../platform/ids.js';
import { systemCtx, type TenantCtx } from '../../platform/tenancy/context.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import type { InvitationsService } from './invitations.service.js';
import {
  failure,
  freshEmail,
  PUBLIC_URL,
  useServiceSuite,
  userCtx,
  type InvitationFixtures,
  type ServiceHarness,
} from './invitations.test-support.js';

describe('invitations service: invite, list, revoke, resend (through the tenancy core)', () => {
  let tenancy: Tenancy;
  let fx: InvitationFixtures;
  let h: ServiceHarness;
  let svc: InvitationsService;
  let org: string;
  let owner: TenantCtx;
  const invited = (ctx: TenantCtx, email?: string, role?: string) => h.invited(ctx, email, role);
  useServiceSuite((s) => ({ tenancy, fx, h, svc, org, owner } = s));

  describe('invite', () => {
    it('creates a pending invitation and queues its mail; only the token hash is stored', async () => {
      const email = freshEmail('New.Person');
      const before = Date.now();
      const inv = await svc.invite(owner, { email: `  ${email.toUpperCase()} `, role: 'member' });
      expect(inv).toMatchObject({ email: email.toLowerCase(), role: 'member', status: 'pending' });
      expect(JSON.stringify(inv)).not.toMatch(/token/i);
      const ttl = Date.parse(inv.expiresAt) - before;
      expect(ttl).toBeGreaterThan(7 * 24 * 3600_000 - 60_000);
      expect(ttl).toBeLessThanOrEqual(7 * 24 * 3600_000 + 60_000);

      const [mail, ...others] = await fx.mailsTo(email.toLowerCase());
      expect(others).toEqual([]);
      expect(mail!.text).toContain(`${PUBLIC_URL}/accept-invitation?token=${mail!.token}`);
      expect(mail!.text).toContain('inv test org');
      if (mail!.job) expect(mail!.job).toEqual({ key: `invitation:${inv.id}`, tenantId: org });

      const stored = await fx.admin.query<{ token_hash: Buffer; row: string }>(
        'select token_hash, i::text as row from invitations i where id = $1',
        [inv.id],
      );
      expect(stored.rows[0]!.token_hash).toEqual(createHash('sha256').update(mail!.token).digest());
      expect(stored.rows[0]!.row).not.toContain(mail!.token);
      // Nobody has this address yet: no membership (it needs a user row).
      expect(await fx.usersWithEmail(email)).toBe(0);
    });

    it('for an existing account (any case) also creates a PENDING membership with the role', async () => {
      const u = await fx.user(freshEmail('Existing'));
      await svc.invite(owner, { email: u.email.toUpperCase(), role: 'viewer' });
      expect(await fx.membership(org, u.id)).toMatchObject({ role: 'viewer', status: 'pending' });
      expect(h.changed).toEqual([]);
    });

    it('queues the mail in the same transaction: invisible until commit, gone with a rollback', async () => {
      const email = freshEmail();
      let seenInside: unknown[] = ['not read'];
      await tenancy.withTenant(org, async () => {
        await svc.invite(owner, { email, role: 'member' });
        seenInside = await fx.mailsTo(email); // another connection: nothing committed yet
      });
      expect(seenInside).toEqual([]);
      expect(await fx.nextToken(email)).toMatch(/^[A-Za-z0-9_-]{43}$/);

      const u = await fx.user(freshEmail('rolled'));
      await expect(
        tenancy.withTenant(org, async () => {
          await svc.invite(owner, { email: u.email, role: 'member' });
          throw new Error('later step failed');
        }),
      ).rejects.toThrow('later step failed');
      expect(await fx.mailsTo(u.email)).toEqual([]);
      expect(await fx.membership(org, u.id)).toBeUndefined();
      const pending = await svc.listPending(owner, { limit: 200 });
      expect(pending.data.map((i) => i.email)).not.toContain(u.email);
    });

    it('refuses an active member, a pending address, an unknown role and a role above the inviter’s', async () => {
      const m = await fx.user();
      await fx.member(org, { role: 'viewer', userId: m.id });
      expect(await failure(svc.invite(owner, { email: m.email, role: 'admin' }))).toMatchObject({
        code: 'INVITATION_MEMBER_EXISTS',
        status: 409,
      });

      const email = freshEmail();
      await svc.invite(owner, { email, role: 'member' });
      expect(await failure(svc.invite(owner, { email: email.toUpperCase(), role: 'admin' }))).toMatchObject({
        code: 'INVITATION_ALREADY_PENDING',
        status: 409,
      });

      expect(await failure(svc.invite(owner, { email: freshEmail(), role: 'wizard' }))).toMatchObject({
        code: 'INVITATION_ROLE_UNKNOWN',
        status: 400,
      });

      const admin = userCtx(org, await fx.member(org, { role: 'admin' }));
      const above = freshEmail();
      expect(await failure(svc.invite(admin, { email: above, role: 'owner' }))).toMatchObject({
        code: 'INVITATION_ROLE_NOT_ALLOWED',
        status: 403,
      });
      await expect(svc.invite(admin, { email: above, role: 'admin' })).resolves.toMatchObject({
        role: 'admin',
      });
      // A pending member holds no permission to give out, not even a role granting nothing.
      const pendingInviter = userCtx(org, await fx.member(org, { role: 'owner', status: 'pending' }));
      expect(
        await failure(svc.invite(pendingInviter, { email: freshEmail(), role: 'viewer' })),
      ).toMatchObject({ code: 'INVITATION_ROLE_NOT_ALLOWED' });
      await fx.admin.query(
        `insert into roles (organization_id, key, name, permissions) values ($1, 'nobody', 'Nobody', '{}')`,
        [org],
      );
      expect(
        await failure(svc.invite(pendingInviter, { email: freshEmail(), role: 'nobody' })),
      ).toMatchObject({ code: 'INVITATION_ROLE_NOT_ALLOWED' });
      // Only a signed-in member manages invitations (an API key or a system actor: 403, whatever it holds).
      const system = systemCtx(org, 'test');
      const pending = await svc.invite(owner, { email: freshEmail(), role: 'member' });
      for (const attempt of [
        () => svc.invite(system, { email: freshEmail(), role: 'viewer' }),
        () => svc.listPending(system),
        () => svc.resend(system, pending.id),
        () => svc.revoke(system, pending.id),
      ]) {
        expect(await failure(attempt())).toMatchObject({ code: 'MEMBERSHIP_FORBIDDEN', status: 403 });
      }
    });

    it('gives out a custom role the inviter covers', async () => {
      await fx.admin.query(
        `insert into roles (organization_id, key, name, permissions) values ($1, 'auditor', 'Auditor', $2)`,
        [org, ['org:read', 'audit:read']],
      );
      await expect(svc.invite(owner, { email: freshEmail(), role: 'auditor' })).resolves.toMatchObject({
        role: 'auditor',
      });
    });

    it('two concurrent invitations of one address: one wins, the other is 409', async () => {
      const email = freshEmail('race');
      const results = await Promise.all(
        [1, 2, 3].map(() => failure(svc.invite(owner, { email, role: 'member' }))),
      );
      expect(results.filter((r) => r.code === 'resolved')).toHaveLength(1);
      expect(results.filter((r) => r.code === 'INVITATION_ALREADY_PENDING')).toHaveLength(2);
      expect(await fx.mailsTo(email)).toHaveLength(1);
    });

    it('beyond the hourly limit: 429 with the seconds until a slot frees; revoked ones count', async () => {
      const limited = h.make({ perHourLimit: 3 });
      const o = await fx.orgWithMember('owner', 'limit');
      const ctx = userCtx(o.orgId, o.userId);
      const first = await limited.invite(ctx, { email: freshEmail(), role: 'member' });
      for (let i = 0; i < 2; i++) await limited.invite(ctx, { email: freshEmail(), role: 'member' });
      const over = await failure(limited.invite(ctx, { email: freshEmail(), role: 'member' }));
      expect(over).toMatchObject({ code: 'INVITATION_RATE_LIMITED', status: 429 });
      const retry = (over.details as { retryAfterSeconds: number }).retryAfterSeconds;
      expect(retry).toBeGreaterThan(3500);
      expect(retry).toBeLessThanOrEqual(3600);

      await limited.revoke(ctx, first.id);
      expect(await failure(limited.invite(ctx, { email: freshEmail(), role: 'member' }))).toMatchObject({
        code: 'INVITATION_RATE_LIMITED',
      });
      // Once the oldest leaves the window, a slot frees.
      await fx.admin.query(
        `update invitation_sends set sent_at = now() - interval '61 minutes'
          where organization_id = $1 and invitation_id = $2`,
        [o.orgId, first.id],
      );
      await expect(limited.invite(ctx, { email: freshEmail(), role: 'member' })).resolves.toBeTruthy();
    });

    it('resends count toward the hourly allowance', async () => {
      const limited = h.make({ perHourLimit: 3, perRecipientHourLimit: 100 });
      const o = await fx.orgWithMember('owner', 'resendlimit');
      const ctx = userCtx(o.orgId, o.userId);
      const inv = await limited.invite(ctx, { email: freshEmail(), role: 'member' });
      await limited.resend(ctx, inv.id);
      await limited.resend(ctx, inv.id);
      const over = await failure(limited.resend(ctx, inv.id));
      expect(over).toMatchObject({ code: 'INVITATION_RATE_LIMITED', status: 429 });
      expect((over.details as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThan(3500);
      // A new invitation is refused too: the resends used the allowance up.
      expect(await failure(limited.invite(ctx, { email: freshEmail(), role: 'member' }))).toMatchObject({
        code: 'INVITATION_RATE_LIMITED',
      });
    });

    it('caps the mails to one address: 60 resends send 2 more mails, then 429 with Retry-After', async () => {
      const o = await fx.orgWithMember('owner', 'cannon');
      const ctx = userCtx(o.orgId, o.userId);
      const email = freshEmail('cannon');
      const inv = await svc.invite(ctx, { email, role: 'member' });
      const results = [];
      for (let i = 0; i < 60; i++) results.push(await failure(svc.resend(ctx, inv.id)));
      expect(results.filter((r) => r.code === 'resolved')).toHaveLength(2);
      const refused = results.filter((r) => r.code !== 'resolved');
      expect(refused).toHaveLength(58);
      for (const r of refused) {
        expect(r).toMatchObject({ code: 'INVITATION_RATE_LIMITED', status: 429 });
        expect((r.details as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThan(0);
      }
      const { rows } = await fx.admin.query<{ n: number }>(
        'select count(*)::int as n from invitation_sends where organization_id = $1 and email_normalized = $2',
        [o.orgId, email],
      );
      expect(rows[0]!.n).toBe(3);
    });
  });

  it('caps invitation mails to one address across organizations (10 an hour), not only per organization', async () => {
    const email = freshEmail('many-orgs');
    const results = [];
    for (let n = 0; n < 4; n++) {
      const o = await fx.orgWithMember('owner', `spray${n}`);
      const ctx = userCtx(o.orgId, o.userId);
      let id: string | undefined;
      results.push(await failure(svc.invite(ctx, { email, role: 'member' }).then((inv) => (id = inv.id))));
      // Each organization may send 3 mails to the address (an invitation and 2 resends).
      for (let i = 0; id && i < 2; i++) results.push(await failure(svc.resend(ctx, id)));
    }
    expect(results.map((r) => r.code)).toEqual([
      ...Array<string>(10).fill('resolved'),
      'INVITATION_RATE_LIMITED',
      'INVITATION_RATE_LIMITED',
    ]);
    const refused = results.at(-1)!;
    expect(refused).toMatchObject({ status: 429 });
    expect((refused.details as { retryAfterSeconds: number }).retryAfterSeconds).toBeGreaterThan(3500);
    const { rows } = await fx.admin.query<{ n: number }>(
      'select count(*)::int as n from invitation_sends where email_normalized = $1',
      [email],
    );
    expect(rows[0]!.n).toBe(10);
  });

  it('lists pending invitations newest first, paginated without gaps or repeats', async () => {
    const o = await fx.orgWithMember('owner', 'list');
    const ctx = userCtx(o.orgId, o.userId);
    const made: string[] = [];
    for (let i = 0; i < 7; i++)
      made.push((await svc.invite(ctx, { email: freshEmail(), role: 'viewer' })).id);
    await svc.revoke(ctx, made[3]!);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await svc.listPending(ctx, { limit: 2, cursor });
      expect(page.data.length).toBeLessThanOrEqual(2);
      expect(page.data.every((i) => i.status === 'pending')).toBe(true);
      seen.push(...page.data.map((i) => i.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(made.filter((_, i) => i !== 3).reverse());
    expect(await failure(svc.listPending(ctx, { cursor: 'garbage' }))).toMatchObject({
      code: 'INVALID_CURSOR',
      status: 400,
    });
  });

  it('revoke removes the pending membership; the revoked token answers 410', async () => {
    const u = await fx.user();
    const inv = await svc.invite(owner, { email: u.email, role: 'member' });
    const token = await fx.nextToken(u.email);
    expect(await fx.membership(org, u.id)).toMatchObject({ status: 'pending' });

    await svc.revoke(owner, inv.id);
    expect(await fx.membership(org, u.id)).toBeUndefined();
    expect(await fx.invitation(org, inv.id)).toMatchObject({ status: 'revoked' });
    expect((await svc.listPending(owner, { limit: 200 })).data.map((i) => i.id)).not.toContain(inv.id);
    expect(await failure(svc.accept(u.id, token))).toMatchObject({ code: 'INVITATION_REVOKED', status: 410 });
    expect(await fx.membership(org, u.id)).toBeUndefined();
    expect(await failure(svc.revoke(owner, inv.id))).toMatchObject({ code: 'INVITATION_NOT_FOUND' });
    expect(await failure(svc.resend(owner, inv.id))).toMatchObject({ code: 'INVITATION_NOT_FOUND' });
    // The address may be invited again.
    await expect(svc.invite(owner, { email: u.email, role: 'viewer' })).resolves.toBeTruthy();
  });

  it('resend: a new token and a new mail; the old token is dead and its unsent mail replaced', async () => {
    const u = await fx.user();
    const { inv, token: oldToken } = await invited(owner, u.email);
    await fx.expire(org, inv.id);
    const resent = await svc.resend(owner, inv.id);
    expect(Date.parse(resent.expiresAt)).toBeGreaterThan(Date.now() + 6 * 24 * 3600_000);
    const newToken = await fx.nextToken(u.email, [oldToken]);
    expect(newToken).not.toBe(oldToken);
    // No queued mail still carries the dead link.
    expect((await fx.mailsTo(u.email)).filter((m) => m.job && m.token === oldToken)).toEqual([]);

    expect(await failure(svc.accept(u.id, oldToken))).toMatchObject({
      code: 'INVITATION_NOT_FOUND',
      status: 404,
    });
    await expect(svc.accept(u.id, newToken)).resolves.toEqual({ organizationId: org, role: 'member' });
  });

  it('another tenant’s invitation id is 404, exactly like a missing or malformed one', async () => {
    const b = await fx.orgWithMember('owner', 'other');
    const ctxB = userCtx(b.orgId, b.userId);
    const { inv } = await invited(owner);
    for (const op of [(id: string) => svc.revoke(ctxB, id), (id: string) => svc.resend(ctxB, id)]) {
      const missing = await failure(op(uuidv7()));
      expect(missing).toMatchObject({ code: 'INVITATION_NOT_FOUND', status: 404 });
      expect(await failure(op(inv.id))).toEqual(missing);
      expect(await failure(op('not-a-uuid'))).toEqual(missing);
    }
    expect((await svc.listPending(ctxB)).data).toEqual([]);
    expect(await fx.invitation(org, inv.id)).toMatchObject({ status: 'pending' });
  });

  it('audits invite, resend, accept (as the accepting user) and revoke; refusals write nothing; no token', async () => {
    const o = await fx.orgWithMember('owner', 'aud');
    const ctx = userCtx(o.orgId, o.userId);
    const u = await fx.user();
    const { inv, token: first } = await invited(ctx, u.email, 'viewer');
    expect(await failure(svc.invite(ctx, { email: u.email, role: 'member' }))).toMatchObject({
      code: 'INVITATION_ALREADY_PENDING',
    });
    await svc.resend(ctx, inv.id);
    const second = await fx.nextToken(u.email, [first]);
    await svc.accept(u.id, second);
    await svc.accept(u.id, second); // harmless again: no second pair of events
    const other = await invited(ctx, freshEmail('gone'));
    await svc.revoke(ctx, other.inv.id);

    const events = await auditEvents(tenancy.withTenant, o.orgId);
    expect(events.map((e) => e.action)).toEqual([
      'member.invited',
      'invitation.resent',
      'invitation.accepted',
      'member.joined',
      'member.invited',
      'invitation.revoked',
    ]);
    const byOwner = { type: 'user', id: o.userId };
    expect(events[0]).toMatchObject({
      actor: byOwner,
      target: { type: 'invitation', id: inv.id },
      metadata: { email: u.email, role: 'viewer', existing_account: true },
    });
    expect(events[1]).toMatchObject({ actor: byOwner, target: { type: 'invitation', id: inv.id } });
    expect(events[2]).toMatchObject({
      actor: { type: 'user', id: u.id },
      target: { type: 'invitation', id: inv.id },
      metadata: { role: 'viewer', invited_by: o.userId },
    });
    expect(events[3]).toMatchObject({
      actor: { type: 'user', id: u.id },
      target: { type: 'member', id: u.id },
      metadata: { role: 'viewer', invitation_id: inv.id, new_account: false },
    });
    expect(events[5]).toMatchObject({ actor: byOwner, target: { type: 'invitation', id: other.inv.id } });
    const text = JSON.stringify(events);
    for (const t of [first, second, other.token]) expect(text).not.toContain(t);
  });
});
