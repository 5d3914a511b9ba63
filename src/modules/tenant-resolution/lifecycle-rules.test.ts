import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { admitByLifecycle, type LifecycleRequest, type OrganizationPolicy } from './organization-policy.js';

const policy = (
  state: OrganizationPolicy['state'],
  suspensionReason: OrganizationPolicy['suspensionReason'] = null,
): OrganizationPolicy => ({ requireTwoFactor: false, state, suspensionReason });
const req = (over: Partial<LifecycleRequest> = {}): LifecycleRequest => ({
  method: 'GET',
  apiKey: false,
  isPlatformAdmin: false,
  allowWhenBillingSuspended: false,
  allowWhenPendingDeletion: false,
  ...over,
});
/** true (enters), false (the 404 of a missing organization), or the refusal's code. */
const answer = (p: OrganizationPolicy | null, r: LifecycleRequest): boolean | string => {
  try {
    return admitByLifecycle(p, r);
  } catch (err) {
    return (err as { code: string }).code;
  }
};

/** The lifecycle rules of the tenant path (docs/organization-lifecycle.md), state by state. */
describe('admitByLifecycle', () => {
  it('active: everything; no row (deleted): the 404 of a missing organization', () => {
    for (const method of ['GET', 'POST', 'DELETE'])
      expect(answer(policy('active'), req({ method }))).toBe(true);
    expect(answer(null, req())).toBe(false);
    expect(answer(null, req({ isPlatformAdmin: true }))).toBe(false);
  });

  it('pending deletion: reads for everyone, writes only on the flagged routes', () => {
    const p = policy('pending_deletion');
    for (const apiKey of [false, true]) {
      expect(answer(p, req({ method: 'GET', apiKey }))).toBe(true);
      expect(answer(p, req({ method: 'HEAD', apiKey }))).toBe(true);
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
        expect(answer(p, req({ method, apiKey }))).toBe('ORGANIZATION_PENDING_DELETION');
      }
    }
    expect(answer(p, req({ method: 'POST', allowWhenPendingDeletion: true }))).toBe(true);
    expect(answer(p, req({ method: 'POST', isPlatformAdmin: true }))).toBe('ORGANIZATION_PENDING_DELETION');
  });

  it("suspended: an administrator's refuses all but platform administrators; billing's lets users pay", () => {
    const admin = policy('suspended', 'admin');
    expect(answer(admin, req())).toBe('ORGANIZATION_SUSPENDED');
    expect(answer(admin, req({ allowWhenBillingSuspended: true }))).toBe('ORGANIZATION_SUSPENDED');
    expect(answer(admin, req({ isPlatformAdmin: true }))).toBe(true);
    const billing = policy('suspended', 'billing');
    expect(answer(billing, req({ method: 'POST' }))).toBe('ORGANIZATION_SUSPENDED');
    expect(answer(billing, req({ method: 'POST', allowWhenBillingSuspended: true }))).toBe(true);
    expect(answer(billing, req({ allowWhenBillingSuspended: true, apiKey: true }))).toBe(
      'ORGANIZATION_SUSPENDED',
    );
  });

  it('suspended for deletion: the 404 of a missing organization for everyone', () => {
    const p = policy('suspended', 'deletion');
    for (const r of [
      req(),
      req({ isPlatformAdmin: true }),
      req({ apiKey: true }),
      req({ method: 'POST', allowWhenPendingDeletion: true }),
      req({ allowWhenBillingSuspended: true }),
    ]) {
      expect(answer(p, r)).toBe(false);
    }
  });

  it('only the cancel and export-start routes carry allowWhenPendingDeletion', () => {
    const flagged: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = path.join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts') && !p.endsWith('.test.ts')) {
          const n = readFileSync(p, 'utf8').split('allowWhenPendingDeletion: true').length - 1;
          for (let i = 0; i < n; i++) flagged.push(path.relative('src', p));
        }
      }
    };
    walk('src');
    expect(flagged.sort()).toEqual([
      'modules/gdpr/gdpr.routes.ts',
      'modules/organizations/organizations.routes.ts',
    ]);
  });
});
