import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTwoInstances, closeInstances } from '../support/instances.js';
import type { Composition } from '../../src/app/compose.js';
import { signUpAndVerify } from '../../src/modules/auth/auth.test-helpers.js';

/**
 * Slug → organization id is cached in each instance: a rename made through instance A must stop the old
 * slug resolving on instance B (which had it cached) at once, the new slug must resolve there, and an
 * organization created later with the old slug must be the one it names.
 */
describe('organization slugs across instances (Redis pub/sub)', () => {
  let a: Composition;
  let b: Composition;
  const origin = 'http://app.saasready.test';
  beforeAll(async () => {
    [a, b] = await buildTwoInstances();
  });
  afterAll(async () => {
    await closeInstances(a, b);
  });

  /** Polls `probe` until it returns `want` (the bus is asynchronous), for at most two seconds. */
  async function eventually<T>(probe: () => Promise<T>, want: T): Promise<T> {
    const deadline = Date.now() + 2000;
    let got = await probe();
    while (got !== want && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
      got = await probe();
    }
    return got;
  }

  it('a slug renamed on A stops resolving on B, the new one resolves, and a new owner of the old one wins', async () => {
    const u = await signUpAndVerify(
      { app: a.app, auth: a.services.auth },
      {
        email: `slug-mi-${Date.now()}@example.test`,
        password: 'a long enough passphrase 9',
        headers: { origin },
      },
    );
    const cookie = `sr_session=${u.token}`;
    const oldSlug = `old-${randomBytes(4).toString('hex')}`;
    const newSlug = `new-${randomBytes(4).toString('hex')}`;
    const create = async (slug: string) => {
      const res = await a.app.inject({
        method: 'POST',
        url: '/v1/organizations',
        headers: { origin, cookie },
        payload: { slug, name: slug },
      });
      expect(res.statusCode, res.body).toBe(201);
      return res.json<{ id: string }>().id;
    };
    /** The organization B resolves for a request naming `slug` by path, or the status it answered. */
    const onB = async (slug: string) => {
      const res = await b.app.inject({ url: `/v1/orgs/${slug}/organization`, headers: { cookie } });
      return res.statusCode === 200 ? res.json<{ id: string }>().id : res.statusCode;
    };

    const first = await create(oldSlug);
    expect(await onB(oldSlug)).toBe(first); // cached on B now
    expect(await b.services.organizationSlugs.idBySlug(oldSlug)).toBe(first);

    const renamed = await a.app.inject({
      method: 'PATCH',
      url: '/v1/organization',
      headers: { origin, cookie, 'x-organization': first },
      payload: { slug: newSlug },
    });
    expect(renamed.statusCode, renamed.body).toBe(200);
    expect(await eventually(() => onB(oldSlug), 404)).toBe(404);
    expect(await onB(newSlug)).toBe(first);
    // The header names an organization by slug the same way.
    const byHeader = await b.app.inject({
      url: '/v1/organization',
      headers: { cookie, 'x-organization': oldSlug },
    });
    expect(byHeader.statusCode).toBe(404);

    const second = await create(oldSlug);
    expect(second).not.toBe(first);
    expect(await eventually(() => onB(oldSlug), second)).toBe(second);
    expect(await a.services.organizationSlugs.idBySlug(oldSlug)).toBe(second);

    // An unknown slug is remembered as unknown (briefly) on B; created on A, it resolves on B at once.
    const laterSlug = `later-${randomBytes(4).toString('hex')}`;
    expect(await onB(laterSlug)).toBe(404);
    expect(await b.services.organizationSlugs.idBySlug(laterSlug)).toBeNull();
    const third = await create(laterSlug);
    expect(await eventually(() => onB(laterSlug), third)).toBe(third);
  });
});
