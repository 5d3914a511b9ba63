import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, createTestAuthenticator } from '../../../test/support/app.js';
import { createTestOrg } from '../../../test/support/tenancy.js';
import { identityFixtures } from '../../modules/memberships/memberships.test-support.js';
import type { Composition } from '../../app/compose.js';
import { exceedsDepth, MAX_JSON_DEPTH } from './json-body.js';
import { signUpPlatformAdmin, startApp, stopApp, type E2eApp, type User } from '../../../test/e2e/helpers.js';

/** `{"a":{"a":…{"a":1}…}}` nested `depth` objects deep, as text (JSON.stringify itself would recurse). */
function nestedObject(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}
function nestedArray(depth: number): string {
  return `${'['.repeat(depth)}1${']'.repeat(depth)}`;
}

describe('JSON bodies: nesting depth is bounded at parse time', () => {
  it('exceedsDepth skips strings to their unescaped closing quote (escaped quotes, backslash runs)', () => {
    const deep = (inner: string) => `[[${inner}]]`;
    // Brackets inside strings never count, however the string escapes its quotes and backslashes.
    for (const s of ['"[[["', '"\\"[[[', '"a\\"[[[["', '"\\\\"', '"\\\\\\"[["', '"[{\\u005b"', '""']) {
      expect(exceedsDepth(deep(s), 2)).toBe(false);
      expect(exceedsDepth(`[${deep(s)}]`, 2)).toBe(true);
    }
    // An even run of backslashes does not escape the quote after it: the brackets after the string count.
    expect(exceedsDepth('["\\\\",[[1]]]', 2)).toBe(true);
    expect(exceedsDepth('["\\\\",[[1]]]', 3)).toBe(false);
    // An odd run does: the rest is still inside the string.
    expect(exceedsDepth('["\\\\\\",[[1]]]', 2)).toBe(false);
    // Unterminated string: left to the parser.
    expect(exceedsDepth('[["abc', 1)).toBe(true);
    expect(exceedsDepth('["abc[[[[', 1)).toBe(false);
  });

  describe('a tenant route (PATCH /v1/organization)', () => {
    let c: Composition;
    let token: string;
    const tokens = createTestAuthenticator();
    beforeAll(async () => {
      c = await buildTestApp({ authenticator: tokens.authenticator });
      const org = await createTestOrg(c.tenancy, 'depth');
      token = tokens.issue(org, { userId: await identityFixtures(c.tenancy).member(org, { role: 'owner' }) });
    });
    afterAll(async () => {
      await c.app.close();
      await c.close();
    });
    const patch = (payload: string) =>
      c.app.inject({
        method: 'PATCH',
        url: '/v1/organization',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        payload,
      });

    it('depth 4,000 (objects and arrays) answers 400 BODY_TOO_DEEP, never 500', async () => {
      for (const deep of [nestedObject(4000), nestedArray(4000)]) {
        const res = await patch(`{"settings":{"x":${deep}}}`);
        expect(res.statusCode, res.body).toBe(400);
        expect(res.json()).toEqual({
          error: { code: 'BODY_TOO_DEEP', message: `JSON nesting is deeper than ${MAX_JSON_DEPTH} levels` },
        });
      }
    });

    it('a body at the limit is parsed; one level more is refused; brackets inside strings do not count', async () => {
      // The body object is level 1, settings level 2, so the value may nest MAX - 2 more levels.
      const atLimit = await patch(`{"settings":{"x":${nestedArray(MAX_JSON_DEPTH - 2)}}}`);
      expect(atLimit.statusCode, atLimit.body).toBe(200);
      const over = await patch(`{"settings":{"x":${nestedArray(MAX_JSON_DEPTH - 1)}}}`);
      expect(over.statusCode).toBe(400);
      expect(over.json<{ error: { code: string } }>().error.code).toBe('BODY_TOO_DEEP');
      const text = JSON.stringify({ settings: { x: '[[[[{{{{'.repeat(100), y: '\\"[' } });
      const ok = await patch(text);
      expect(ok.statusCode, ok.body).toBe(200);
      expect(ok.json<{ settings: Record<string, unknown> }>().settings.x).toBe('[[[[{{{{'.repeat(100));
    });

    it('normal bodies are unaffected; invalid JSON and prototype poisoning still answer 400', async () => {
      const ok = await patch(JSON.stringify({ name: 'Depth Org', settings: { a: { b: [1, { c: 2 }] } } }));
      expect(ok.statusCode, ok.body).toBe(200);
      expect(ok.json()).toMatchObject({ name: 'Depth Org', settings: { a: { b: [1, { c: 2 }] } } });
      const bad = await patch('{"name":');
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toEqual({ error: { code: 'BAD_REQUEST', message: 'body is not valid JSON' } });
      const poisoned = await patch('{"name":"x","__proto__":{"isAdmin":true}}');
      expect(poisoned.statusCode).toBe(400);
      expect(poisoned.json<{ error: { code: string } }>().error.code).toBe('BAD_REQUEST');
      const ctor = await patch('{"name":"x","constructor":{"prototype":{"isAdmin":true}}}');
      expect(ctor.statusCode).toBe(400);
      const withCharset = await c.app.inject({
        method: 'PATCH',
        url: '/v1/organization',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' },
        payload: JSON.stringify({ name: 'Charset Org' }),
      });
      expect(withCharset.statusCode, withCharset.body).toBe(200);
    });
  });

  describe('a platform route (flag variant values)', () => {
    // Platform routes are session-only: a real platform administrator signed in with a browser session.
    let c: E2eApp;
    let admin: User;
    beforeAll(async () => {
      c = await startApp();
      admin = await signUpPlatformAdmin(c, 'depth-admin');
    });
    afterAll(async () => {
      await stopApp(c);
    });

    it('a variant value nested 3,000 deep answers 400 BODY_TOO_DEEP; a shallow one is created', async () => {
      const key = `depth-${randomBytes(4).toString('hex')}`;
      const body = (value: string) =>
        `{"key":"${key}","kind":"multivariate","defaultValue":"a","variants":[{"key":"a","value":"a"},{"key":"b","value":${value}}]}`;
      const post = (payload: string) =>
        admin.browser.post('/v1/platform/flags', payload, { 'content-type': 'application/json' });
      const deep = await post(body(nestedObject(3000)));
      expect(deep.statusCode, deep.body).toBe(400);
      expect(deep.json<{ error: { code: string } }>().error.code).toBe('BODY_TOO_DEEP');
      const shallow = await post(body('{"color":{"r":1}}'));
      expect(shallow.statusCode, shallow.body).toBe(201);
    });
  });
});
