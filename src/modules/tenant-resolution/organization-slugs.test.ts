import { describe, expect, it } from 'vitest';
import { createOrganizationSlugs } from './organization-slugs.js';

const ORG_A = '01900000-0000-7000-8000-00000000000a';
const ORG_B = '01900000-0000-7000-8000-00000000000b';

describe('organization slugs cache', () => {
  it('caches found slugs, one lookup for concurrent callers; forgets by slug and by organization', async () => {
    const table = new Map<string, string>([['acme', ORG_A]]);
    const asked: string[] = [];
    const slugs = createOrganizationSlugs({
      lookup: async (slug) => {
        asked.push(slug);
        return table.get(slug) ?? null;
      },
    });
    expect(await Promise.all([slugs.idBySlug('acme'), slugs.idBySlug('acme')])).toEqual([ORG_A, ORG_A]);
    expect(await slugs.idBySlug('acme')).toBe(ORG_A);
    expect(asked).toEqual(['acme']);
    // Not found is remembered too (same path as a found slug), until an organization takes the slug.
    expect(await slugs.idBySlug('beta')).toBeNull();
    table.set('beta', ORG_B);
    expect(await slugs.idBySlug('beta')).toBeNull();
    expect(asked).toEqual(['acme', 'beta']);
    slugs.forgetSlug('beta'); // the organization_slug invalidation of its creation
    expect(await slugs.idBySlug('beta')).toBe(ORG_B);
    // Renamed: every slug of the organization is dropped.
    table.delete('acme');
    table.set('acme-2', ORG_A);
    slugs.forgetOrganization(ORG_A);
    expect(await slugs.idBySlug('acme')).toBeNull();
    expect(await slugs.idBySlug('beta')).toBe(ORG_B);
    // Another organization took a slug.
    table.set('beta', ORG_A);
    slugs.forgetSlug('beta');
    expect(await slugs.idBySlug('beta')).toBe(ORG_A);
  });

  it('"no such slug" is remembered for notFoundTtlMs only', async () => {
    const table = new Map<string, string>();
    let asked = 0;
    const slugs = createOrganizationSlugs({
      notFoundTtlMs: 30,
      lookup: async (slug) => {
        asked++;
        return table.get(slug) ?? null;
      },
    });
    expect(await slugs.idBySlug('gamma')).toBeNull();
    table.set('gamma', ORG_A); // created outside the application: no invalidation
    expect(await slugs.idBySlug('gamma')).toBeNull();
    expect(asked).toBe(1);
    await new Promise((r) => setTimeout(r, 40));
    expect(await slugs.idBySlug('gamma')).toBe(ORG_A);
    expect(asked).toBe(2);
  });

  it('a lookup in flight when its organization is invalidated does not store what it read', async () => {
    let release: (id: string | null) => void = () => {};
    let calls = 0;
    const slugs = createOrganizationSlugs({
      lookup: (slug) => {
        calls++;
        if (calls === 1) return new Promise((resolve) => (release = resolve));
        return Promise.resolve(slug === 'acme' ? null : ORG_A);
      },
    });
    const stale = slugs.idBySlug('acme');
    slugs.forgetOrganization(ORG_A); // renamed while the first lookup was reading
    release(ORG_A);
    expect(await stale).toBe(ORG_A); // that caller gets what it read (membership is still checked)...
    expect(await slugs.idBySlug('acme')).toBeNull(); // ...but nobody after it
  });
});
