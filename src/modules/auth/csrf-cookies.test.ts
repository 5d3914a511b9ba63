import { describe, expect, it } from 'vitest';
import type { FastifyRequest } from 'fastify';
import { parseCookies, serializeCookie } from '../../platform/http/cookies.js';
import { checkCrossSiteRequest, checkCsrf, normalizeOrigins } from './csrf.js';

const req = (method: string, headers: Record<string, string>) =>
  ({ method, headers }) as unknown as FastifyRequest;
const allowed = normalizeOrigins(['https://app.example.test/', 'http://localhost:3000']);
const refused = (fn: () => void) => {
  try {
    fn();
    return false;
  } catch {
    return true;
  }
};

describe('cookies', () => {
  it('parses, keeping the first of a name and skipping malformed pairs', () => {
    const c = parseCookies('a=1; sr_session=abc_-DEF; a=2; bad; =x; q="quoted"; sp=has space');
    expect(Object.fromEntries(c)).toEqual({ a: '1', sr_session: 'abc_-DEF', q: 'quoted' });
    expect(parseCookies(undefined).size).toBe(0);
    expect(parseCookies(['x=1', 'y=2']).get('y')).toBe('2');
  });

  it('serializes attributes and refuses values that need encoding', () => {
    expect(
      serializeCookie('sr_session', 'tok', {
        path: '/',
        httpOnly: true,
        secure: true,
        sameSite: 'Lax',
        maxAge: 60,
      }),
    ).toBe('sr_session=tok; Max-Age=60; Path=/; HttpOnly; Secure; SameSite=Lax');
    expect(() => serializeCookie('sr_session', 'a;b')).toThrow(TypeError);
    expect(() => serializeCookie('bad name', 'x')).toThrow(TypeError);
    expect(() => serializeCookie('n', 'v', { maxAge: -1 })).toThrow(TypeError);
  });
});

describe('CSRF origin check', () => {
  it('strict (cookie-authenticated): unsafe methods need an allowed Origin or Referer', () => {
    expect(refused(() => checkCsrf(req('POST', {}), allowed))).toBe(true);
    expect(refused(() => checkCsrf(req('DELETE', { origin: 'https://evil.example' }), allowed))).toBe(true);
    expect(refused(() => checkCsrf(req('PATCH', { origin: 'null' }), allowed))).toBe(true);
    expect(refused(() => checkCsrf(req('PUT', { origin: 'https://app.example.test:444' }), allowed))).toBe(
      true,
    );
    expect(refused(() => checkCsrf(req('POST', { origin: 'https://app.example.test' }), allowed))).toBe(
      false,
    );
    expect(refused(() => checkCsrf(req('POST', { origin: 'http://localhost:3000' }), allowed))).toBe(false);
    expect(refused(() => checkCsrf(req('POST', { referer: 'https://app.example.test/a?b' }), allowed))).toBe(
      false,
    );
    // Origin wins over Referer
    expect(
      refused(() =>
        checkCsrf(
          req('POST', { origin: 'https://evil.example', referer: 'https://app.example.test/' }),
          allowed,
        ),
      ),
    ).toBe(true);
    expect(refused(() => checkCsrf(req('GET', {}), allowed))).toBe(false);
  });

  it('lenient (public endpoints): no header passes, a foreign one does not', () => {
    expect(refused(() => checkCrossSiteRequest(req('POST', {}), allowed))).toBe(false);
    expect(
      refused(() => checkCrossSiteRequest(req('POST', { origin: 'https://evil.example' }), allowed)),
    ).toBe(true);
    expect(refused(() => checkCrossSiteRequest(req('POST', { origin: 'null' }), allowed))).toBe(true);
    expect(
      refused(() => checkCrossSiteRequest(req('POST', { origin: 'https://app.example.test' }), allowed)),
    ).toBe(false);
  });

  it('compares the Origin header exactly: only the serialized origin itself passes', () => {
    const variants = [
      'https://app.example.test/',
      'https://app.example.test/x',
      'https://app.example.test/?q',
      'https://app.example.test#f',
      'HTTPS://app.example.test',
      'https://APP.example.test',
      'https://user@app.example.test',
      'https://user:pw@app.example.test',
      'https://app.example.test:443',
      'http://localhost:3000/',
      ' https://app.example.test',
      'https://app.example.test ',
    ];
    for (const origin of variants) {
      expect(
        refused(() => checkCsrf(req('POST', { origin }), allowed)),
        origin,
      ).toBe(true);
      expect(
        refused(() => checkCrossSiteRequest(req('POST', { origin }), allowed)),
        origin,
      ).toBe(true);
    }
    for (const origin of ['https://app.example.test', 'http://localhost:3000']) {
      expect(
        refused(() => checkCsrf(req('POST', { origin }), allowed)),
        origin,
      ).toBe(false);
      expect(
        refused(() => checkCrossSiteRequest(req('POST', { origin }), allowed)),
        origin,
      ).toBe(false);
    }
  });

  it('refuses a configured origin that is not an http(s) URL', () => {
    expect(() => normalizeOrigins(['app.example.test'])).toThrow(TypeError);
  });
});
