import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestOrg, createTestTenancy } from '../../../test/support/tenancy.js';
import { sealAudit } from '../../../test/support/audit.js';
import { testJwtKey } from '../tokens/tokens.test-support.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import { recordAudit } from '../../platform/audit/record.js';
import { createAuditSigner, createAuditVerifier } from '../../platform/audit/signing.js';
import { createAuditService, type AuditService } from './audit.service.js';
import { createAuditVerifyLimit } from './audit-verify-limit.js';

/**
 * `GET /v1/audit-logs/verify` reads the whole chain (twice when it finds a break): callers arriving while
 * one verification of the organization runs share it instead of each starting a full scan.
 */
describe('audit verification, one at a time per organization', () => {
  let tenancy: Tenancy;
  let audit: AuditService;
  const scopes = new Map<string, number>();

  const ctxOf = (org: string): TenantCtx => ({
    tenantId: org,
    actor: { kind: 'user', userId: 'u-test' },
    requestId: 'r1',
  });

  beforeAll(async () => {
    tenancy = createTestTenancy(6);
    // Counts the scopes each organization's verifications open.
    const counted: WithTenant = (org, fn, opts) => {
      scopes.set(org, (scopes.get(org) ?? 0) + 1);
      return tenancy.withTenant(org, fn, opts);
    };
    const signer = createAuditSigner(await testJwtKey());
    audit = createAuditService({
      withTenant: counted,
      signer,
      verifier: createAuditVerifier([signer.publicKey]),
    });
  });
  afterAll(() => tenancy.close());

  it('concurrent calls share one run; a call after it settled runs again', async () => {
    const org = await createTestOrg(tenancy, 'au-once');
    for (let i = 0; i < 3; i++) {
      await tenancy.withTenant(org, (t) =>
        recordAudit(t, ctxOf(org), { action: 'project.created', target: { type: 'project', id: `p${i}` } }),
      );
    }
    await sealAudit(tenancy.withTenant, org);

    scopes.set(org, 0);
    const alone = await audit.verify(ctxOf(org));
    const one = scopes.get(org)!;
    expect(alone).toMatchObject({ valid: true, lastSeq: 3 });
    expect(one).toBeGreaterThan(0);

    scopes.set(org, 0);
    const together = await Promise.all(Array.from({ length: 5 }, () => audit.verify(ctxOf(org))));
    expect(together.every((r) => r === together[0])).toBe(true);
    expect(together[0]).toMatchObject({ valid: true, lastSeq: 3 });
    expect(scopes.get(org)).toBe(one);

    scopes.set(org, 0);
    await audit.verify(ctxOf(org));
    expect(scopes.get(org)).toBe(one);
  });

  it('another organization is not held back by a running verification', async () => {
    const [a, b] = [await createTestOrg(tenancy, 'au-once-a'), await createTestOrg(tenancy, 'au-once-b')];
    const [ra, rb] = await Promise.all([audit.verify(ctxOf(a)), audit.verify(ctxOf(b))]);
    expect(ra).toMatchObject({ organizationId: a });
    expect(rb).toMatchObject({ organizationId: b });
  });

  it('the rate limit counts the verifications started, not the callers sharing one', async () => {
    const signer = createAuditSigner(await testJwtKey());
    const limited = createAuditService({
      withTenant: tenancy.withTenant,
      signer,
      verifier: createAuditVerifier([signer.publicKey]),
      verifyLimit: createAuditVerifyLimit(2),
    });
    const org = await createTestOrg(tenancy, 'au-limit');
    // Five callers, one verification started: one of the two.
    const together = await Promise.all(Array.from({ length: 5 }, () => limited.verify(ctxOf(org))));
    expect(together.every((r) => r === together[0])).toBe(true);
    await expect(limited.verify(ctxOf(org))).resolves.toMatchObject({ organizationId: org });
    await expect(limited.verify(ctxOf(org))).rejects.toMatchObject({
      code: 'RATE_LIMITED',
      status: 429,
      details: { retryAfterSeconds: expect.any(Number) as number },
    });
    // Another organization's budget is its own.
    const other = await createTestOrg(tenancy, 'au-limit-b');
    await expect(limited.verify(ctxOf(other))).resolves.toMatchObject({ organizationId: other });
  });
});
