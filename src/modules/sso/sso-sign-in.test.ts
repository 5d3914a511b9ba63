import { describe, expect, it } from 'vitest';
import { safeReturnTo } from './sso-sign-in.js';

describe('safeReturnTo (the path an SSO sign-in lands on)', () => {
  it.each([
    ['/welcome', '/welcome'],
    ['/orgs/settings?tab=1#x', '/orgs/settings?tab=1#x'],
    ['/%2F%2Fevil.example', '/%2F%2Fevil.example'], // stays a path: browsers do not decode it
    ['//evil.example', '/'],
    ['/\\evil.example', '/'],
    ['/\\/evil.example', '/'],
    // Browsers drop tabs and newlines from URLs: each of these would become //evil.example.
    ['/\t/evil.example', '/'],
    ['/\n/evil.example', '/'],
    ['/\r/evil.example', '/'],
    ['/ /evil.example', '/'],
    ['/\u0000/evil.example', '/'],
    ['https://evil.example', '/'],
    ['javascript:alert(1)', '/'],
    ['evil.example', '/'],
    ['', '/'],
    [null, '/'],
    [`/${'a'.repeat(1000)}`, '/'],
  ])('%j → %j', (raw, expected) => {
    expect(safeReturnTo(raw)).toBe(expected);
  });

  it('never yields a URL that leaves the origin once resolved by a browser', () => {
    for (const c of ['\t', '\n', '\r', ' ', '\\', '\u000b', '\u000c', '\u007f', '\u00a0', '\u2028']) {
      const out = safeReturnTo(`/${c}/evil.example/x`);
      expect(new URL(out, 'https://app.example').host).toBe('app.example');
    }
  });
});
