import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createTestOrg, createTestTenancy, testDb } from '../../../test/support/tenancy.js';
import { createPlatformDb, type PlatformDb } from '../../platform/db/platform-db.js';
import { createLogger } from '../../platform/logger.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { uuidv7 } from '../../platform/ids.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import { identityFixtures, userCtx } from '../memberships/memberships.test-support.js';
import { createPlatformService, type PlatformService } from '../platform-admin/platform-admin.service.js';
import { createFlagCache, type FlagCache } from './flag-cache.js';
import {
  createFlagDefinitionsService,
  loadCompiledFlags,
  type FlagDefinitionsService,
  type PlatformActor,
} from './flag-definitions.service.js';
import { createFlagsService, loadOrganizationFlagContext, type FlagsService } from './flags.service.js';
import { sealAudit } from '../../../test/support/audit.js';

describe('flags services (real database, cache invalidated in process)', () => {
  let tenancy: Tenancy;
  let platformDb: PlatformDb;
  let cache: FlagCache;
  let definitions: FlagDefinitionsService;
  let flags: FlagsService;
  let platform: PlatformService;
  let adminId: string;
  let admin: PlatformActor;
  let orgA: string;
  let orgB: string;
  let a: TenantCtx;
  let b: TenantCtx;
  const run = randomBytes(4).toString('hex');
  const key = (name: string) => `svc-${run}.${name}`;
  const loads = { definitions: 0, organizations: 0 };

  const valueOf = async (ctx: TenantCtx, k: string) => (await flags.evaluate(ctx)).flags[k];
  const detailOf = async (ctx: TenantCtx, k: string) =>
    (await flags.evaluate(ctx)).details.find((d) => d.key === k);
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => ({ code: 'resolved', status: 0, message: '' }),
      (e: { code: string; status: number; message: string }) => ({
        code: e.code,
        status: e.status,
        message: e.message,
      }),
    );

  beforeAll(async () => {
    tenancy = createTestTenancy(4);
    platformDb = createPlatformDb(tenancy.control.pool);
    cache = createFlagCache({
      loadDefinitions: () => {
        loads.definitions++;
        return loadCompiledFlags(platformDb);
      },
      loadOrganization: (orgId) => {
        loads.organizations++;
        return loadOrganizationFlagContext(tenancy.withTenant, orgId);
      },
    });
    definitions = createFlagDefinitionsService({
      db: platformDb,
      // As the composition wires it: a deletion drops every organization's entry, other changes only the
      // definitions.
      definitionsChanged: (how) => (how === 'deleted' ? cache.forgetAll() : cache.forgetDefinitions()),
    });
    flags = createFlagsService({
      withTenant: tenancy.withTenant,
      cache,
      overridesChanged: (orgId) => cache.forgetOrganization(orgId),
    });
    platform = createPlatformService({
      withTenant: tenancy.withTenant,
      platformOrganizations: () => Promise.resolve([]),
      invalidatePolicy: () => {},
      targetingChanged: (orgId) => cache.forgetOrganization(orgId),
      log: createLogger({ level: 'silent' }),
    });
    const fx = identityFixtures(tenancy);
    adminId = await fx.user();
    // Platform administrators are made by the owner role (the runtime role cannot write the flag).
    const owner = await connect(testDb().migrationUrl);
    await owner.query('update users set is_platform_admin = true where id = $1', [adminId]);
    // The platform scope opens only with the raw token of a live session of the administrator.
    const sessionToken = randomBytes(32).toString('base64url');
    await owner.query(
      `insert into sessions (id, user_id, token_hash, idle_expires_at, absolute_expires_at)
       values ($1, $2, sha256(convert_to($3, 'UTF8')), now() + interval '1 hour', now() + interval '1 hour')`,
      [uuidv7(), adminId, sessionToken],
    );
    await owner.end();
    admin = { actor: { kind: 'user', userId: adminId }, requestId: `req-${run}`, sessionToken };
    orgA = await createTestOrg(tenancy, 'fa');
    orgB = await createTestOrg(tenancy, 'fb');
    a = userCtx(orgA, await fx.member(orgA, { role: 'admin' }));
    b = userCtx(orgB, await fx.member(orgB, { role: 'admin' }));
  });
  afterAll(async () => {
    await platformDb.destroy();
    await tenancy.close();
  });

  it('creates, reads, pages, updates (with version) and deletes definitions; every change is audited', async () => {
    const created = await definitions.create(admin, {
      key: key('crud'),
      kind: 'multivariate',
      description: 'checkout layout',
      variants: [
        { key: 'classic', value: 'classic' },
        { key: 'compact', value: { dense: true } },
      ],
      defaultValue: 'classic',
      rules: [{ plans: ['pro'], value: { dense: true } }],
    });
    expect(created).toMatchObject({ key: key('crud'), version: 1, offValue: 'classic', killed: false });
    expect(await definitions.get(key('crud'))).toEqual(created);
    await expect(
      failure(definitions.create(admin, { key: key('crud'), kind: 'boolean', defaultValue: false })),
    ).resolves.toMatchObject({
      code: 'FLAG_KEY_TAKEN',
      status: 409,
    });

    const killed = await definitions.update(admin, key('crud'), { killed: true, version: 1 });
    expect(killed).toMatchObject({ killed: true, version: 2 });
    expect(
      await failure(definitions.update(admin, key('crud'), { killed: false, version: 1 })),
    ).toMatchObject({
      code: 'FLAG_VERSION_CONFLICT',
      status: 409,
    });
    // A patch that changes nothing writes nothing.
    expect((await definitions.update(admin, key('crud'), { killed: true })).version).toBe(2);
    const edited = await definitions.update(admin, key('crud'), { description: 'layout', killed: false });
    expect(edited).toMatchObject({ description: 'layout', killed: false, version: 3 });
    expect(await failure(definitions.update(admin, key('crud'), { defaultValue: 'nope' }))).toMatchObject({
      code: 'FLAG_DEFINITION_INVALID',
      status: 400,
      message: 'defaultValue must be the value of one of the variants',
    });

    for (const n of ['p1', 'p2', 'p3'])
      await definitions.create(admin, { key: key(n), kind: 'boolean', defaultValue: false });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await definitions.list({ limit: 2, cursor });
      seen.push(...page.data.map((d) => d.key));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen.filter((k) => k.startsWith(`svc-${run}.`))).toEqual([
      key('crud'),
      key('p1'),
      key('p2'),
      key('p3'),
    ]);
    expect([...seen].sort()).toEqual(seen);

    await definitions.remove(admin, key('crud'));
    expect(await failure(definitions.get(key('crud')))).toMatchObject({
      code: 'FLAG_NOT_FOUND',
      status: 404,
    });
    expect(await failure(definitions.remove(admin, key('crud')))).toMatchObject({ code: 'FLAG_NOT_FOUND' });
    expect(await failure(definitions.get('Not A Key'))).toMatchObject({ code: 'FLAG_NOT_FOUND' });

    const events = await platformDb
      .selectFrom('platform_audit_events')
      .select(['action', 'actor_id', 'changes', 'request_id'])
      .where('target_type', '=', 'feature_flag')
      .where('target_id', '=', key('crud'))
      .orderBy('seq')
      .execute();
    expect(events.map((e) => e.action)).toEqual([
      'flag.created',
      'flag.killed',
      'flag.updated',
      'flag.deleted',
    ]);
    expect(events.every((e) => e.actor_id === adminId && e.request_id === `req-${run}`)).toBe(true);
    expect(events[2]!.changes).toEqual({
      before: { description: 'checkout layout', killed: true },
      after: { description: 'layout', killed: false },
    });
  });

  it('a change is seen by the very next evaluation; unchanged state is served from cache', async () => {
    const k = key('live');
    expect(await valueOf(a, k)).toBeUndefined();
    await definitions.create(admin, { key: k, kind: 'boolean', defaultValue: true });
    expect(await detailOf(a, k)).toEqual({ key: k, value: true, reason: 'default' });
    await flags.evaluate(a);
    const orgLoads = loads.organizations;
    await definitions.update(admin, k, { killed: true });
    expect(await detailOf(a, k)).toEqual({ key: k, value: false, reason: 'killed' });
    // Flipping a kill switch reloads the definitions, not every organization's overrides.
    expect(loads.organizations).toBe(orgLoads);

    await flags.evaluate(a);
    const before = { ...loads };
    for (let i = 0; i < 20; i++) await flags.evaluate(a);
    expect(loads).toEqual(before);
  });

  it('overrides: only where allowed, only valid values, audited, and only in their own organization', async () => {
    const open = key('open');
    const closed = key('closed');
    await definitions.create(admin, {
      key: open,
      kind: 'multivariate',
      variants: [
        { key: 'one', value: 1 },
        { key: 'two', value: 2 },
      ],
      defaultValue: 1,
      allowOrgOverride: true,
    });
    await definitions.create(admin, { key: closed, kind: 'boolean', defaultValue: false });

    expect(await valueOf(a, open)).toBe(1);
    const set = await flags.setOverride(a, open, 2);
    expect(set).toMatchObject({
      flagKey: open,
      value: 2,
      applied: true,
      updatedByUserId: (a.actor as { userId: string }).userId,
    });
    expect(await detailOf(a, open)).toEqual({ key: open, value: 2, reason: 'override', variant: 'two' });
    expect(await valueOf(b, open)).toBe(1);
    expect((await flags.listOverrides(b)).data).toEqual([]);
    expect((await flags.listOverrides(a)).data.map((o) => o.flagKey)).toEqual([open]);

    expect(await failure(flags.setOverride(a, closed, true))).toMatchObject({
      code: 'FLAG_OVERRIDE_NOT_ALLOWED',
      status: 409,
    });
    expect(await failure(flags.setOverride(a, open, 3))).toMatchObject({
      code: 'FLAG_OVERRIDE_VALUE_INVALID',
      status: 400,
    });
    expect(await failure(flags.setOverride(a, key('missing'), true))).toMatchObject({
      code: 'FLAG_NOT_FOUND',
      status: 404,
    });

    // B cannot remove A's override: it has none of its own, and gets the answer of a flag that does not exist.
    const foreign = await failure(flags.removeOverride(b, open));
    expect(foreign).toMatchObject({ code: 'FLAG_OVERRIDE_NOT_FOUND', status: 404 });
    expect(await failure(flags.removeOverride(b, key('missing')))).toEqual(foreign);
    expect(await failure(flags.removeOverride(b, 'Not A Key'))).toEqual(foreign);
    expect(await valueOf(a, open)).toBe(2);

    // Turning overrides off keeps the row but stops applying it.
    await definitions.update(admin, open, { allowOrgOverride: false });
    expect(await detailOf(a, open)).toMatchObject({ value: 1, reason: 'default' });
    expect((await flags.listOverrides(a)).data[0]).toMatchObject({ flagKey: open, applied: false });
    await definitions.update(admin, open, { allowOrgOverride: true });
    expect(await valueOf(a, open)).toBe(2);

    await flags.removeOverride(a, open);
    expect(await valueOf(a, open)).toBe(1);
    await sealAudit(tenancy.withTenant, orgA);
    const audit = await tenancy.withTenant(
      orgA,
      (db) =>
        db
          .selectFrom('audit_events')
          .select(['action', 'target_id', 'changes'])
          .where('organization_id', '=', orgA)
          .where('target_type', '=', 'feature_flag')
          .orderBy('seq')
          .execute(),
      { mode: 'read' },
    );
    expect(audit).toEqual([
      { action: 'flag_override.set', target_id: open, changes: { before: null, after: { value: 2 } } },
      { action: 'flag_override.removed', target_id: open, changes: { before: { value: 2 }, after: null } },
    ]);
  });

  it('overridable flags: the ones that allow it and the ones still overridden, with only this organization’s override', async () => {
    const bool = key('ov-bool');
    const multi = key('ov-multi');
    const locked = key('ov-locked');
    const variants = [
      { key: 'small', value: { size: 's' } },
      { key: 'large', value: { size: 'l' } },
    ];
    await definitions.create(admin, {
      key: bool,
      kind: 'boolean',
      description: 'new checkout',
      defaultValue: false,
      allowOrgOverride: true,
    });
    await definitions.create(admin, {
      key: multi,
      kind: 'multivariate',
      variants,
      defaultValue: { size: 's' },
      allowOrgOverride: true,
    });
    await definitions.create(admin, { key: locked, kind: 'boolean', defaultValue: false });
    const mine = async (ctx: TenantCtx, limit?: number) => {
      const out: Awaited<ReturnType<FlagsService['listOverridable']>>['data'] = [];
      let cursor: string | undefined;
      for (;;) {
        const page = await flags.listOverridable(ctx, { limit, cursor });
        out.push(...page.data.filter((f) => f.key.startsWith(`svc-${run}.ov-`)));
        if (!page.nextCursor) return out;
        cursor = page.nextCursor;
      }
    };

    await flags.setOverride(b, bool, true);
    // Paged one at a time, by key; A sees no override of B's.
    expect(await mine(a, 1)).toEqual([
      {
        key: bool,
        kind: 'boolean',
        description: 'new checkout',
        variants: [],
        allowOrgOverride: true,
        override: null,
      },
      { key: multi, kind: 'multivariate', description: '', variants, allowOrgOverride: true, override: null },
    ]);
    await flags.setOverride(a, multi, { size: 'l' });
    expect((await mine(a)).find((f) => f.key === multi)?.override).toMatchObject({
      value: { size: 'l' },
      applied: true,
    });
    // A flag that stops allowing overrides stays listed while the organization has one (to remove it).
    await definitions.update(admin, multi, { allowOrgOverride: false });
    expect((await mine(a)).map((f) => [f.key, f.allowOrgOverride, f.override?.applied])).toEqual([
      [bool, true, undefined],
      [multi, false, false],
    ]);
    expect((await mine(b)).map((f) => f.key)).toEqual([bool]);
    await flags.removeOverride(a, multi);
    expect((await mine(a)).map((f) => f.key)).toEqual([bool]);
    expect(await failure(flags.listOverridable(a, { cursor: 'not-a-cursor' }))).toMatchObject({
      code: 'INVALID_CURSOR',
      status: 400,
    });
  });

  it('deleting a definition deletes every organization’s override of it', async () => {
    const k = key('cascade');
    await definitions.create(admin, { key: k, kind: 'boolean', defaultValue: false, allowOrgOverride: true });
    await flags.setOverride(a, k, true);
    await flags.setOverride(b, k, true);
    await definitions.remove(admin, k);
    for (const ctx of [a, b]) {
      expect((await flags.listOverrides(ctx)).data.map((o) => o.flagKey)).not.toContain(k);
      expect(await valueOf(ctx, k)).toBeUndefined();
    }
    // Recreated with the same key, no old override comes back.
    await definitions.create(admin, { key: k, kind: 'boolean', defaultValue: false, allowOrgOverride: true });
    expect(await detailOf(a, k)).toMatchObject({ value: false, reason: 'default' });
  });

  it('targeting by plan and attributes follows the platform’s changes at once, audited in the organization', async () => {
    const k = key('targeted');
    await definitions.create(admin, {
      key: k,
      kind: 'boolean',
      defaultValue: false,
      rules: [{ plans: ['enterprise'], attributes: { region: ['eu'] }, value: true }],
    });
    expect(await valueOf(a, k)).toBe(false);
    const updated = await platform.updateTargeting(admin, orgA, {
      plan: 'enterprise',
      attributes: { region: 'eu' },
    });
    expect(updated).toMatchObject({ id: orgA, plan: 'enterprise', attributes: { region: 'eu' } });
    expect(await detailOf(a, k)).toEqual({ key: k, value: true, reason: 'rule' });
    expect(await valueOf(b, k)).toBe(false);
    await platform.updateTargeting(admin, orgA, { attributes: { region: 'us' } });
    expect(await valueOf(a, k)).toBe(false);

    expect(await failure(platform.updateTargeting(admin, orgA, { plan: 'Not Valid' }))).toMatchObject({
      code: 'PLATFORM_ORGANIZATION_INVALID',
      status: 400,
    });
    expect(
      await failure(platform.updateTargeting(admin, '00000000-0000-7000-8000-000000000000', { plan: 'pro' })),
    ).toMatchObject({ code: 'PLATFORM_ORGANIZATION_NOT_FOUND', status: 404 });
    await sealAudit(tenancy.withTenant, orgA);
    const audit = await tenancy.withTenant(
      orgA,
      (db) =>
        db
          .selectFrom('audit_events')
          .select(['action', 'actor_id', 'changes'])
          .where('organization_id', '=', orgA)
          .where('action', '=', 'organization.targeting_updated')
          .orderBy('seq')
          .execute(),
      { mode: 'read' },
    );
    expect(audit).toHaveLength(2);
    expect(audit[0]).toEqual({
      action: 'organization.targeting_updated',
      actor_id: adminId,
      changes: {
        before: { plan: 'free', attributes: {} },
        after: { plan: 'enterprise', attributes: { region: 'eu' } },
      },
    });
  });
});
