/**
 * `GET /v1/audit-logs/verify` reads the whole chain: at most AUDIT_VERIFICATIONS_PER_MINUTE verifications
 * start per organization per minute (per process); beyond, 429 RATE_LIMITED with `Retry-After`, as an API
 * key's rate limit answers. Another organization keeps its own budget, and callers who cannot read the
 * organization's audit log spend none of it.
 */
import { describe, expect, it } from 'vitest';
import { addNewMember, createOrg, inOrg, signUp, startAppAround, type E2eApp } from './helpers.js';
import {
  AUDIT_EXPORTS_PER_MINUTE,
  AUDIT_VERIFICATIONS_PER_MINUTE,
} from '../../src/modules/audit/audit-verify-limit.js';

let c: E2eApp;
startAppAround((started) => (c = started));

describe('audit verification rate limit', () => {
  it('a few verifications per organization per minute, then 429 RATE_LIMITED with Retry-After', async () => {
    const owner = await signUp(c, 'audit-verify-limit');
    const org = await createOrg(owner.browser, 'avl');
    const other = await createOrg(owner.browser, 'avl-other');
    // Without audit:read the answer is 403 before any verification starts: nothing is spent.
    const member = await addNewMember(owner.browser, org.id, 'member', 'avl-member');
    for (let i = 0; i < AUDIT_VERIFICATIONS_PER_MINUTE + 1; i++) {
      expect((await member.browser.get('/v1/audit-logs/verify', inOrg(org.id))).statusCode).toBe(403);
    }

    for (let i = 0; i < AUDIT_VERIFICATIONS_PER_MINUTE; i++) {
      const res = await owner.browser.get('/v1/audit-logs/verify', inOrg(org.id));
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toMatchObject({ valid: true });
    }
    const refused = await owner.browser.get(`/v1/orgs/${org.slug}/audit-logs/verify`);
    expect(refused.statusCode, refused.body).toBe(429);
    expect(refused.json()).toEqual({
      error: {
        code: 'RATE_LIMITED',
        message: `too many audit log verifications: at most ${AUDIT_VERIFICATIONS_PER_MINUTE} per minute per organization`,
        details: { retryAfterSeconds: expect.any(Number) as number },
      },
    });
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(
      refused.json<{ error: { details: { retryAfterSeconds: number } } }>().error.details.retryAfterSeconds,
    ).toBe(retryAfter);

    // Another organization has a budget of its own.
    const elsewhere = await owner.browser.get('/v1/audit-logs/verify', inOrg(other.id));
    expect(elsewhere.statusCode, elsewhere.body).toBe(200);
  });

  it('a few exports per organization per minute, then 429 RATE_LIMITED before anything is sent', async () => {
    const owner = await signUp(c, 'audit-export-limit');
    const org = await createOrg(owner.browser, 'ael');
    const other = await createOrg(owner.browser, 'ael-other');
    for (let i = 0; i < AUDIT_EXPORTS_PER_MINUTE; i++) {
      const res = await owner.browser.get('/v1/audit-logs/export', inOrg(org.id));
      expect(res.statusCode, res.body).toBe(200);
      expect(res.body).toContain('organization.created');
    }
    const refused = await owner.browser.get('/v1/audit-logs/export?format=csv', inOrg(org.id));
    expect(refused.statusCode, refused.body).toBe(429);
    expect(String(refused.headers['content-type'])).toMatch(/^application\/json/);
    expect(refused.json()).toMatchObject({
      error: {
        code: 'RATE_LIMITED',
        message: `too many audit log exports: at most ${AUDIT_EXPORTS_PER_MINUTE} per minute per organization`,
      },
    });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Verifications keep their own budget; another organization its own exports.
    expect((await owner.browser.get('/v1/audit-logs/verify', inOrg(org.id))).statusCode).toBe(200);
    expect((await owner.browser.get('/v1/audit-logs/export', inOrg(other.id))).statusCode).toBe(200);
  });
});
