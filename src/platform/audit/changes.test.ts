import { describe, expect, it } from 'vitest';
import { fieldChanges, unchanged } from './changes.js';

describe('audit fieldChanges', () => {
  it('keeps only the fields that changed, JSON-compared', () => {
    const c = fieldChanges(
      { name: 'A', slug: 'a', at: new Date(0), tags: ['x'] },
      { name: 'B', slug: 'a', at: new Date(0), tags: ['x'] },
    );
    expect(c).toEqual({ before: { name: 'A' }, after: { name: 'B' } });
  });

  it('diffs nested objects key by key; a missing key is null', () => {
    const c = fieldChanges(
      { settings: { theme: 'dark', locale: 'fr', gone: 1 } },
      { settings: { theme: 'light', locale: 'fr', added: true } },
    );
    expect(c).toEqual({
      before: { settings: { theme: 'dark', gone: 1, added: null } },
      after: { settings: { theme: 'light', gone: null, added: true } },
    });
  });

  it('looks only at the listed fields; nothing changed is empty', () => {
    const c = fieldChanges({ name: 'A', password_hash: 'h1' }, { name: 'A', password_hash: 'h2' }, ['name']);
    expect(c).toEqual({ before: {}, after: {} });
    expect(unchanged(c)).toBe(true);
    expect(fieldChanges(null, { role: 'admin' })).toEqual({
      before: { role: null },
      after: { role: 'admin' },
    });
  });
});
