import { describe, expect, it } from 'vitest';
import { cookiePathUnder } from './cookies.js';
import { deviceCookieHeader } from '../../modules/auth/device-cookie.js';
import { signUpBrowserCookie } from '../../modules/auth/signup-browser.js';
import { ssoFlowCookie } from '../../modules/sso/flow-cookie.js';

const pathOf = (setCookie: string) => /;\s*Path=([^;]+)/i.exec(setCookie)?.[1];

/**
 * Cookies bound to one route are sent back only where the browser addresses that route: behind a proxy
 * under a prefix (`PUBLIC_URL=https://host/app`), `/app/v1/…`. A path without the prefix would never come
 * back (the SSO flow cookie: every SSO sign-in refused; the sign-up cookie: no sign-in by the link).
 */
describe('cookie paths under PUBLIC_URL', () => {
  it('puts a route path under the public URL path, with or without a trailing slash', () => {
    expect(cookiePathUnder('http://localhost:3000', '/v1/auth/login')).toBe('/v1/auth/login');
    expect(cookiePathUnder('https://host.example/', '/v1/auth/login')).toBe('/v1/auth/login');
    expect(cookiePathUnder('https://host.example/app', '/v1/auth/sso')).toBe('/app/v1/auth/sso');
    expect(cookiePathUnder('https://host.example/app/', '/v1/auth/sso')).toBe('/app/v1/auth/sso');
  });

  it.each([
    ['http://localhost:3000', ''],
    ['https://host.example/app', '/app'],
    ['https://host.example/a/b/', '/a/b'],
  ])('the sign-up, SSO flow and device cookies of %s are under %s', (publicUrl, prefix) => {
    expect(pathOf(signUpBrowserCookie('token', { secure: true, publicUrl }))).toBe(
      `${prefix}/v1/auth/verify-email`,
    );
    for (const kind of ['oidc', 'saml'] as const) {
      expect(pathOf(ssoFlowCookie('v', { kind, secure: true, publicUrl }))).toBe(`${prefix}/v1/auth/sso`);
      expect(pathOf(ssoFlowCookie('', { kind, secure: true, publicUrl, clear: true }))).toBe(
        `${prefix}/v1/auth/sso`,
      );
    }
    expect(pathOf(deviceCookieHeader('v', { secure: true, publicUrl }))).toBe(`${prefix}/v1/auth/login`);
  });
});
