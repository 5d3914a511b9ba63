/**
 * Hostile review of cookie paths under PUBLIC_URL (src/platform/http/cookies.ts `cookiePathUnder`): the
 * path is `new URL(PUBLIC_URL).pathname` as is. PUBLIC_URL's check (src/platform/config-http.ts) accepts
 * any http(s) URL, and a URL's pathname keeps `;` unencoded (a legal path character, used as a matrix
 * parameter by some proxies), which `serializeCookie` rightly refuses in a `Path` attribute (it would end
 * the attribute). So with such a PUBLIC_URL the server starts, and then every sign-up (sign-up cookie),
 * every password sign-in (device cookie, thrown after the session was created) and every SSO start answers
 * 500. Either the configuration should refuse it at start, or the path should be encoded (`%3B`, which
 * the browser then matches against the request path as it sends it).
 */
import { describe, expect, it } from 'vitest';
import { publicUrl } from '../../src/platform/config-http.js';
import { deviceCookieHeader } from '../../src/modules/auth/device-cookie.js';
import { signUpBrowserCookie } from '../../src/modules/auth/signup-browser.js';

describe('review6: cookie paths under an odd PUBLIC_URL', () => {
  it('a PUBLIC_URL the configuration accepts gives cookies the server can build', () => {
    const raw = 'https://host.example/tenant;v=2';
    let configured: string | undefined;
    try {
      configured = publicUrl({ PUBLIC_URL: raw });
    } catch {
      return; // refused at start: fixed that way
    }
    expect(configured).toBe(raw);
    // On main: TypeError "invalid cookie path" for both.
    expect(() => deviceCookieHeader('x', { secure: true, publicUrl: configured! })).not.toThrow();
    expect(() => signUpBrowserCookie(null, { secure: true, publicUrl: configured! })).not.toThrow();
  });
});
