import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOrg, createTestTenancy } from '../../../test/support/tenancy.js';
import { auditEvents } from '../../../test/support/audit.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import { uuidv7 } from '../../platform/ids.js';
import { createProjectsService, type ProjectsService } from './projects.service.js';

describe('projects service (through the tenancy core)', () => {
  let tenancy: Tenancy;
  let projects: ProjectsService;
  let a: TenantCtx;
  let b: TenantCtx;

  const ctxFor = (tenantId: string): TenantCtx => ({
    tenantId,
    actor: { kind: 'system', name: 'test' },
    requestId: 'test',
  });

  beforeAll(async () => {
    tenancy = createTestTenancy(4);
    projects = createProjectsService({ withTenant: tenancy.withTenant });
    a = ctxFor(await createTestOrg(tenancy, 'pa'));
    b = ctxFor(await createTestOrg(tenancy, 'pb'));
  });
  afterAll(async () => {
    await tenancy.close();
  });

  it('creates, reads, updates and deletes', async () => {
    const { project } = await projects.create(a, { name: 'Website', description: 'marketing site' });
    expect(project).toMatchObject({ name: 'Website', description: 'marketing site' });
    expect(await projects.get(a, project.id)).toEqual(project);
    const renamed = await projects.update(a, project.id, { name: 'Site' });
    expect(renamed.name).toBe('Site');
    expect(renamed.description).toBe('marketing site');
    await projects.remove(a, project.id);
    await expect(projects.get(a, project.id)).rejects.toMatchObject({
      code: 'PROJECT_NOT_FOUND',
      status: 404,
    });
  });

  it('another tenant’s project is not found, exactly like a missing one', async () => {
    const { project } = await projects.create(a, { name: 'Secret' });
    const failure = (p: Promise<unknown>) =>
      p.then(
        () => ({ code: 'resolved', message: '' }),
        (e: { code: string; message: string }) => ({ code: e.code, message: e.message }),
      );
    const missing = await failure(projects.get(b, uuidv7()));
    expect(missing.code).toBe('PROJECT_NOT_FOUND');
    expect(await failure(projects.get(b, project.id))).toEqual(missing);
    expect(await failure(projects.get(b, 'not-a-uuid'))).toEqual(missing);
    await expect(projects.update(b, project.id, { name: 'pwned' })).rejects.toMatchObject({
      code: 'PROJECT_NOT_FOUND',
    });
    await expect(projects.remove(b, project.id)).rejects.toMatchObject({ code: 'PROJECT_NOT_FOUND' });
    expect((await projects.list(b)).data.map((p) => p.id)).not.toContain(project.id);
    expect((await projects.get(a, project.id)).name).toBe('Secret');
  });

  it('names are unique per organization, case-insensitively, but not across organizations', async () => {
    await projects.create(a, { name: 'Shared Name' });
    await expect(projects.create(a, { name: 'shared name' })).rejects.toMatchObject({
      code: 'PROJECT_NAME_TAKEN',
      status: 409,
    });
    await expect(projects.create(b, { name: 'Shared Name' })).resolves.toBeTruthy();
  });

  it('paginates newest first with an opaque cursor, without gaps or repeats', async () => {
    const org = ctxFor(await createTestOrg(tenancy, 'pg'));
    const made: string[] = [];
    for (let i = 0; i < 7; i++) made.push((await projects.create(org, { name: `p${i}` })).project.id);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await projects.list(org, { limit: 3, cursor });
      expect(page.data.length).toBeLessThanOrEqual(3);
      seen.push(...page.data.map((p) => p.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual([...made].reverse());
    await expect(projects.list(org, { cursor: 'garbage' })).rejects.toMatchObject({
      code: 'INVALID_CURSOR',
      status: 400,
    });
  });

  it('an idempotency key makes a retried create return the first result', async () => {
    const key = `key-${uuidv7()}`;
    const first = await projects.create(a, { name: 'Once' }, { idempotencyKey: key });
    const again = await projects.create(a, { name: 'Once' }, { idempotencyKey: key });
    expect(first.replayed).toBe(false);
    expect(again).toEqual({ project: first.project, replayed: true });
    await expect(projects.create(a, { name: 'Other' }, { idempotencyKey: key })).rejects.toMatchObject({
      code: 'IDEMPOTENCY_KEY_REUSED',
      status: 422,
    });
    // The same key in another tenant is another key.
    const inB = await projects.create(b, { name: 'Once' }, { idempotencyKey: key });
    expect(inB.replayed).toBe(false);
  });

  it('concurrent retries with one key create exactly one project', async () => {
    const org = ctxFor(await createTestOrg(tenancy, 'pi'));
    const key = `key-${uuidv7()}`;
    const results = await Promise.all(
      Array.from({ length: 8 }, () => projects.create(org, { name: 'Concurrent' }, { idempotencyKey: key })),
    );
    expect(new Set(results.map((r) => r.project.id)).size).toBe(1);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect((await projects.list(org)).data).toHaveLength(1);
  });

  it('a failed create leaves neither the project nor the idempotency key behind', async () => {
    const key = `key-${uuidv7()}`;
    await projects.create(a, { name: 'Taken' });
    await expect(projects.create(a, { name: 'taken' }, { idempotencyKey: key })).rejects.toMatchObject({
      code: 'PROJECT_NAME_TAKEN',
    });
    // The key was rolled back with the failed create, so it can be used for a valid request.
    const ok = await projects.create(a, { name: 'Not taken' }, { idempotencyKey: key });
    expect(ok.replayed).toBe(false);
  });

  it('audits create, update (before/after of the changed fields) and delete, in the same transaction', async () => {
    const org = ctxFor(await createTestOrg(tenancy, 'paud'));
    const { project } = await projects.create(org, { name: 'Audited', description: 'd' });
    await projects.update(org, project.id, { name: 'Renamed', description: 'd' });
    await projects.remove(org, project.id);
    const events = await auditEvents(tenancy.withTenant, org.tenantId);
    expect(events.map((e) => e.action)).toEqual(['project.created', 'project.updated', 'project.deleted']);
    for (const e of events) {
      expect(e.actor).toEqual({ type: 'system', id: 'test' });
      expect(e.target).toEqual({ type: 'project', id: project.id });
      expect(e.requestId).toBe('test');
    }
    expect(events[0]!.metadata).toEqual({ name: 'Audited' });
    expect(events[1]!.changes).toEqual({ before: { name: 'Audited' }, after: { name: 'Renamed' } });
    expect(events[2]!.metadata).toEqual({ name: 'Renamed' });
  });

  it('a failed change writes no audit event; an idempotent replay writes no second one', async () => {
    const org = ctxFor(await createTestOrg(tenancy, 'pfail'));
    const { project } = await projects.create(org, { name: 'One' });
    await projects.create(org, { name: 'Two' });
    await expect(projects.create(org, { name: 'one' })).rejects.toMatchObject({ code: 'PROJECT_NAME_TAKEN' });
    await expect(projects.update(org, project.id, { name: 'TWO' })).rejects.toMatchObject({
      code: 'PROJECT_NAME_TAKEN',
    });
    await expect(projects.remove(org, uuidv7())).rejects.toMatchObject({ code: 'PROJECT_NOT_FOUND' });
    const key = `key-${uuidv7()}`;
    await projects.create(org, { name: 'Keyed' }, { idempotencyKey: key });
    expect((await projects.create(org, { name: 'Keyed' }, { idempotencyKey: key })).replayed).toBe(true);
    const events = await auditEvents(tenancy.withTenant, org.tenantId);
    expect(events.map((e) => e.action)).toEqual(['project.created', 'project.created', 'project.created']);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3]);
  });
});
