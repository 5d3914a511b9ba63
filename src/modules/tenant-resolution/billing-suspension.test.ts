import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import type { Permission } from '../../platform/authz/permissions.js';
import { createAuthenticator, type SessionView } from './authenticator.js';
import type { OrganizationPolicy } from './organization-policy.js';

const ORG = '01890000-0000-7000-8000-000000000001';
const USER = '01890000-0000-7000-8000-000000000002';

/**
 * Review 2 (finding 3): an organization billing suspended for non-payment can still be paid for. The real
 * authenticator lets users through to the routes flagged `allowWhenBillingSuspended` only when billing
 * did the suspending; every other route, an administrator's suspension and API keys still answer
 * ORGANIZATION_SUSPENDED.
 */
describe('the billing-suspension exemption of tenant resolution', () => {
  function setup(reason: OrganizationPolicy['suspensionReason']) {
    const session: SessionView = {
      sessionId: 's',
      userId: USER,
      currentOrganizationId: ORG,
      twoFactorVerified: true,
      userTwoFactorEnabled: false,
      isPlatformAdmin: false,
      emailVerified: true,
    };
    const policy: OrganizationPolicy = {
      requireTwoFactor: false,
      state: reason === null ? 'active' : 'suspended',
      suspensionReason: reason,
    };
    const perms = new Set<Permission>(['billing:read', 'billing:manage']);
    const auth = createAuthenticator({
      session: (req) => (req.headers.authorization ? null : session),
      bearer: () => null,
      apiKey: (req) =>
        req.headers.authorization ? { id: 'k', organizationId: ORG, permissions: perms } : null,
      isPlatformAdmin: () => false,
      twoFactorEnabled: () => false,
      activeMembership: () => ({ role: 'owner', permissions: perms }),
      organizationIdBySlug: () => ORG,
      organizationPolicy: () => policy,
    });
    return async (url: string, flagged: boolean, apiKey = false) => {
      const request = {
        raw: { url },
        url,
        hostname: 'app.test',
        method: 'POST',
        headers: apiKey ? { authorization: 'Bearer srk_x' } : {},
        routeOptions: { url, config: flagged ? { allowWhenBillingSuspended: true } : {} },
      } as unknown as FastifyRequest;
      try {
        const who = (await auth.authenticate(request))!;
        return (await auth.resolveTenant(request, who))?.tenantId ?? null;
      } catch (err) {
        return (err as { code?: string }).code ?? String(err);
      }
    };
  }

  it('billing suspension: flagged routes answer users, every other route is refused', async () => {
    const call = setup('billing');
    expect(await call('/v1/billing/portal-session', true)).toBe(ORG);
    expect(await call('/v1/billing/provider', true)).toBe(ORG);
    expect(await call('/v1/projects', false)).toBe('ORGANIZATION_SUSPENDED');
    expect(await call('/v1/billing/checkout-session', false)).toBe('ORGANIZATION_SUSPENDED');
    // API keys are not exempt.
    expect(await call('/v1/billing/portal-session', true, true)).toBe('ORGANIZATION_SUSPENDED');
  });

  it("an administrator's suspension exempts nothing", async () => {
    const call = setup('admin');
    expect(await call('/v1/billing/portal-session', true)).toBe('ORGANIZATION_SUSPENDED');
    expect(await call('/v1/projects', false)).toBe('ORGANIZATION_SUSPENDED');
    expect(await setup(null)('/v1/projects', false)).toBe(ORG);
  });

  it('only the billing provider info and portal routes carry the flag', () => {
    const flagged: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = path.join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts') && !p.endsWith('.test.ts')) {
          const n = readFileSync(p, 'utf8').split('allowWhenBillingSuspended: true').length - 1;
          for (let i = 0; i < n; i++) flagged.push(path.relative('src', p));
        }
      }
    };
    walk('src');
    expect(flagged.sort()).toEqual(['modules/billing/stripe.routes.ts', 'modules/billing/stripe.routes.ts']);
  });
});
