import { describe, expect, it } from 'vitest';
import { lookupDomain } from './address-domain.js';

describe('lookupDomain: an address domain in the form verified domains are stored in', () => {
  it('lowercases, drops a trailing dot and turns an internationalized domain into punycode', () => {
    expect(lookupDomain('a@Corp.Example')).toBe('corp.example');
    expect(lookupDomain('a@corp.example.')).toBe('corp.example');
    expect(lookupDomain('a@bücher.example')).toBe('xn--bcher-kva.example');
    expect(lookupDomain('a@BÜCHER.example')).toBe('xn--bcher-kva.example');
    expect(lookupDomain('a@xn--bcher-kva.example')).toBe('xn--bcher-kva.example');
    // Full-width letters map to ASCII (IDNA), as mail delivery would.
    expect(lookupDomain('a@ｃｏｒｐ.example')).toBe('corp.example');
  });

  it('keeps a subdomain a subdomain and the last "@" decides', () => {
    expect(lookupDomain('a@mail.corp.example')).toBe('mail.corp.example');
    expect(lookupDomain('"a@corp.example"@evil.example')).toBe('evil.example');
  });

  it('null without a domain', () => {
    expect(lookupDomain('nobody')).toBeNull();
    expect(lookupDomain('a@')).toBeNull();
  });
});
