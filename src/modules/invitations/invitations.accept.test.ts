import { describe, expect, it } from 'vitest';
import { auditEvents } from '../../../test/support/audit.js';
import { uuidv7 } from '../../platform/ids.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { InvitationsService } from './invitations.service.js';
import {
  failure,
  freshEmail,
  useServiceSuite,
  type InvitationFixtures,
  type ServiceHarness,
} from './invitations.test-support.js';

describe('invitations service: accepting (through the tenancy core)', () => {
  let tenancy: Tenancy;
  let fx: InvitationFixtures;
  let h: ServiceHarness;
  let svc: InvitationsService;
  let org: string;
  let owner: TenantCtx;
  const invited = (ctx: TenantCtx, email?: string, role?: string) => h.invited(ctx, email, role);
  useServiceSuite((s) => ({ tenancy, fx, h, svc, org, owner } = s), 'acc');

  describe('accept', () => {
    it('by the invited user (any case): the membership becomes ACTIVE, then membershipChanged', async () => {
      const u = await fx.user(`Alice.${freshEmail('Mixed')}`);
      const { inv, token } = await invited(owner, u.email.toUpperCase(), 'viewer');
      const pendingVersion = (await fx.membership(org, u.id))!.permissions_version;

      await expect(svc.accept(u.id, token)).resolves.toEqual({ organizationId: org, role: 'viewer' });
      const m = await fx.membership(org, u.id);
      expect(m).toMatchObject({ role: 'viewer', status: 'active' });
      expect(m!.permissions_version).toBeGreaterThan(pendingVersion);
      expect(await fx.invitation(org, inv.id)).toMatchObject({ status: 'accepted' });
      expect((await fx.invitation(org, inv.id))!.accepted_at).toBeInstanceOf(Date);
      expect(h.changed).toEqual([[org, u.id]]);
      // Called after the commit: another connection already saw the active membership.
      expect(await h.seenOnChange[0]).toMatchObject({ status: 'active' });
      expect((await svc.listPending(owner, { limit: 200 })).data.map((i) => i.id)).not.toContain(inv.id);
    });

    it('by a user who signed up after the invitation was sent (no pending membership yet)', async () => {
      const email = freshEmail('later');
      const { token } = await invited(owner, email);
      const u = await fx.user(email);
      await expect(svc.accept(u.id, token)).resolves.toEqual({ organizationId: org, role: 'member' });
      expect(await fx.membership(org, u.id)).toMatchObject({ status: 'active' });
    });

    it('by another address: 403 naming the invited address, and nothing changes', async () => {
      const invitedUser = await fx.user();
      const { inv, token } = await invited(owner, invitedUser.email);
      const other = await fx.user();
      const f = await failure(svc.accept(other.id, token));
      expect(f).toMatchObject({
        code: 'INVITATION_EMAIL_MISMATCH',
        status: 403,
        details: { invitedEmail: invitedUser.email },
      });
      expect(f.message).toContain(invitedUser.email);
      expect(await fx.membership(org, other.id)).toBeUndefined();
      expect(await fx.membership(org, invitedUser.id)).toMatchObject({ status: 'pending' });
      expect(await fx.invitation(org, inv.id)).toMatchObject({ status: 'pending' });
      expect(h.changed).toEqual([]);
    });

    it('twice is harmless: the same answer, one membership, one change notification', async () => {
      const u = await fx.user();
      const { token } = await invited(owner, u.email);
      const first = await svc.accept(u.id, token);
      const version = (await fx.membership(org, u.id))!.permissions_version;
      await expect(svc.accept(u.id, token)).resolves.toEqual(first);
      expect((await fx.membership(org, u.id))!.permissions_version).toBe(version);
      expect(h.changed).toEqual([[org, u.id]]);
      // Used, then the member left: the invitation does not bring them back.
      await fx.admin.query('delete from memberships where organization_id = $1 and user_id = $2', [
        org,
        u.id,
      ]);
      expect(await failure(svc.accept(u.id, token))).toMatchObject({
        code: 'INVITATION_ALREADY_ACCEPTED',
        status: 409,
      });
    });

    it('expired: 410, and nothing changes', async () => {
      const u = await fx.user();
      const { inv, token } = await invited(owner, u.email);
      await fx.expire(org, inv.id);
      expect(await failure(svc.accept(u.id, token))).toMatchObject({
        code: 'INVITATION_EXPIRED',
        status: 410,
      });
      expect(await fx.membership(org, u.id)).toMatchObject({ status: 'pending' });
      expect(await fx.invitation(org, inv.id)).toMatchObject({ status: 'pending' });
    });

    it('an unknown token, and a token whose invitation was re-keyed meanwhile, are 404', async () => {
      const u = await fx.user();
      expect(await failure(svc.accept(u.id, 'x'.repeat(43)))).toMatchObject({
        code: 'INVITATION_NOT_FOUND',
        status: 404,
      });
      // The privileged lookup answered before a resend committed: the scope re-checks the hash.
      const { inv } = await invited(owner, u.email);
      const stale = h.make({
        invitationByToken: () => Promise.resolve({ organizationId: org, invitationId: inv.id }),
      });
      expect(await failure(stale.accept(u.id, 'y'.repeat(43)))).toMatchObject({
        code: 'INVITATION_NOT_FOUND',
      });
      expect(await fx.membership(org, u.id)).toMatchObject({ status: 'pending' });
    });

    it('a custom role deleted since the invitation: 410, nobody joins with it', async () => {
      await fx.admin.query(
        `insert into roles (organization_id, key, name, permissions) values ($1, 'temp_role', 'Temp', $2)`,
        [org, ['org:read']],
      );
      const u = await fx.user();
      const { inv, token } = await invited(owner, u.email, 'temp_role');
      await fx.admin.query(`delete from memberships where organization_id = $1 and user_id = $2`, [
        org,
        u.id,
      ]);
      await fx.admin.query(`delete from roles where organization_id = $1 and key = 'temp_role'`, [org]);
      expect(await failure(svc.accept(u.id, token))).toMatchObject({
        code: 'INVITATION_ROLE_REMOVED',
        status: 410,
      });
      expect(await fx.membership(org, u.id)).toBeUndefined();
      expect(await fx.invitation(org, inv.id)).toMatchObject({ status: 'pending' });
    });
  });

  describe('acceptAsNewUser', () => {
    const insertUser = (db: TenantDb, email: string) => {
      const id = uuidv7();
      return db
        .insertInto('users')
        .values({ id, email, email_normalized: email })
        .execute()
        .then(() => id);
    };

    it('creates the user with the invitation’s address in the same transaction and activates them', async () => {
      const email = freshEmail('Brand.New');
      const { inv, token } = await invited(owner, email.toUpperCase(), 'viewer');
      const given: string[] = [];
      const result = await svc.acceptAsNewUser(token, (db, e) => {
        given.push(e);
        return insertUser(db, e);
      });
      expect(given).toEqual([email.toLowerCase()]);
      expect(result).toMatchObject({ organizationId: org, role: 'viewer' });
      expect(await fx.usersWithEmail(email)).toBe(1);
      expect(await fx.membership(org, result.userId)).toMatchObject({ role: 'viewer', status: 'active' });
      expect(await fx.invitation(org, inv.id)).toMatchObject({ status: 'accepted' });
      expect(h.changed).toEqual([[org, result.userId]]);
      const joined = (await auditEvents(tenancy.withTenant, org)).filter((e) => e.actor.id === result.userId);
      expect(joined).toMatchObject([
        {
          action: 'invitation.accepted',
          actor: { type: 'user' },
          target: { type: 'invitation', id: inv.id },
        },
        {
          action: 'member.joined',
          target: { type: 'member', id: result.userId },
          metadata: { role: 'viewer', new_account: true },
        },
      ]);

      // Used: a second register-and-accept creates nobody.
      let called = false;
      const again = await failure(
        svc.acceptAsNewUser(token, (db, e) => {
          called = true;
          return insertUser(db, e);
        }),
      );
      expect(again).toMatchObject({ code: 'INVITATION_ALREADY_ACCEPTED', status: 409 });
      expect(called).toBe(false);
    });

    it('when createUser throws, nothing is accepted and no user remains', async () => {
      const email = freshEmail('fails');
      const { inv, token } = await invited(owner, email);
      await expect(
        svc.acceptAsNewUser(token, async (db, e) => {
          await insertUser(db, e);
          throw new Error('password rejected');
        }),
      ).rejects.toThrow('password rejected');
      expect(await fx.usersWithEmail(email)).toBe(0);
      expect(await fx.invitation(org, inv.id)).toMatchObject({ status: 'pending' });
      expect(h.changed).toEqual([]);
      expect(
        (await auditEvents(tenancy.withTenant, org, 'invitation.accepted')).filter(
          (e) => e.target.id === inv.id,
        ),
      ).toEqual([]);
      const ok = await svc.acceptAsNewUser(token, insertUser);
      expect(await fx.membership(org, ok.userId)).toMatchObject({ status: 'active' });
    });

    it('revoked or expired invitations create nobody', async () => {
      const a = await invited(owner, freshEmail('rev'));
      await svc.revoke(owner, a.inv.id);
      const b = await invited(owner, freshEmail('exp'));
      await fx.expire(org, b.inv.id);
      let calls = 0;
      const create = (db: TenantDb, e: string) => {
        calls++;
        return insertUser(db, e);
      };
      expect(await failure(svc.acceptAsNewUser(a.token, create))).toMatchObject({
        code: 'INVITATION_REVOKED',
      });
      expect(await failure(svc.acceptAsNewUser(b.token, create))).toMatchObject({
        code: 'INVITATION_EXPIRED',
      });
      expect(calls).toBe(0);
    });
  });
});
