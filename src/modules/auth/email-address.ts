import { AuthError } from './auth.errors.js';

/** Sign-in identity form of an email: trimmed and lowercased (unique across users in this form). */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

// One "@", a local part of 1-64 printable non-space characters, a dotted domain of letters, digits and
// dashes (IDNs arrive as punycode or Unicode letters). Deliberately loose: the verification mail is the test.
const EMAIL_RE =
  /^[^\s@"<>(),;:\\[\]]{1,64}@(?=.{1,253}$)[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?)+$/u;

/**
 * Validates and normalizes an email address given at sign-up.
 * @returns `{ email, normalized }`: the trimmed address as typed (for display and mail) and its
 *   normalized form.
 * @throws AuthError AUTH_EMAIL_INVALID
 */
export function parseEmail(input: string): { email: string; normalized: string } {
  const email = input.trim();
  if (email.length > 254 || !EMAIL_RE.test(email)) {
    throw new AuthError('AUTH_EMAIL_INVALID', 'body.email must be a valid email address');
  }
  return { email, normalized: normalizeEmail(email) };
}

/** The part before the last "@" (lowercase). */
export function localPart(normalizedEmail: string): string {
  const at = normalizedEmail.lastIndexOf('@');
  return at > 0 ? normalizedEmail.slice(0, at) : normalizedEmail;
}
