import { domainToASCII } from 'node:url';

/**
 * The domain of an address in the form verified domains are stored in (docs/sso.md "Verified domains"):
 * lower case, no trailing dot, and an internationalized domain in its ASCII (punycode) form, so
 * `a@Bücher.example` and `a@xn--bcher-kva.example` name the same domain (IDNA mapping, as mail delivery
 * does). Null when the address has no domain.
 */
export function lookupDomain(email: string): string | null {
  const at = email.lastIndexOf('@');
  if (at < 0) return null;
  const raw = email
    .slice(at + 1)
    .trim()
    .toLowerCase()
    .replace(/\.$/, '');
  if (!raw) return null;
  return domainToASCII(raw) || raw;
}
