import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { DataSubject, UserKeyState, UserKeyStore } from '../user-keys/user-keys.js';
import { pooledRandomBytes } from '../ids.js';
import { cachedPersonalKeys } from './personal-fields.js';

/** A store whose cache holds `keys` (by subject id); nothing else is called by `cachedPersonalKeys`. */
function storeWith(keys: Map<string, UserKeyState>): UserKeyStore {
  const knownSubjectId = (s: DataSubject) =>
    s.kind === 'user' ? s.userId : s.kind === 'email' ? `email:${s.email}` : s.organizationId;
  return { knownSubjectId, cached: (id: string) => keys.get(id) } as unknown as UserKeyStore;
}

describe('cachedPersonalKeys (the audited write without a promise when its keys are cached)', () => {
  const userId = randomUUID();
  const key: UserKeyState = { kind: 'key', key: randomBytes(32) };
  const event = { action: 'thing.done', target: { type: 'thing' } };

  it('gives the actor key from the cache, null when nothing is sealed, undefined on a miss', () => {
    const store = storeWith(new Map([[userId, key]]));
    const got = cachedPersonalKeys(store, { kind: 'user', userId }, event);
    expect(got).toEqual({ actor: { subjectId: userId, state: key }, subject: null, created: [] });
    expect(cachedPersonalKeys(store, { kind: 'system', name: 'x' }, event)).toBeNull();
    expect(cachedPersonalKeys(store, { kind: 'user', userId: randomUUID() }, event)).toBeUndefined();
  });

  it('needs every key: a subject not cached sends the write to the store', () => {
    const store = storeWith(new Map([[userId, key]]));
    const invite = {
      ...event,
      personal: { subject: { kind: 'email' as const, email: 'a@example.test' }, keys: ['email'] },
    };
    expect(cachedPersonalKeys(store, { kind: 'user', userId }, invite)).toBeUndefined();
    const self = { ...event, personal: { subject: { kind: 'user' as const, userId }, keys: ['x'] } };
    const got = cachedPersonalKeys(store, { kind: 'user', userId }, self);
    expect(got?.subject).toBe(got?.actor);
  });

  it('an address before the secret keying address ids is loaded: the write goes to the store', () => {
    const email = 'b@example.test';
    const store = {
      ...storeWith(new Map([[`email:${email}`, key]])),
      knownSubjectId: (s: DataSubject) => (s.kind === 'email' ? undefined : s.kind),
    } as unknown as UserKeyStore;
    const invite = { ...event, personal: { subject: { kind: 'email' as const, email }, keys: ['email'] } };
    expect(cachedPersonalKeys(store, { kind: 'system', name: 'x' }, invite)).toBeUndefined();
  });
});

describe('pooledRandomBytes (personal-field IVs)', () => {
  it('never hands out the same bytes twice, across pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const iv = pooledRandomBytes(12);
      expect(iv.length).toBe(12);
      seen.add(iv.toString('hex'));
    }
    expect(seen.size).toBe(2000);
  });
});
