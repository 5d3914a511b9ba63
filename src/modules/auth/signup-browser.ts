import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { cookiePathUnder, cookieValue, serializeCookie } from '../../platform/http/cookies.js';
import { EMAIL_TOKEN_TTL_MS } from './email-tokens.js';

/**
 * The cookie binding a verification link's sign-in to the browser that signed up (login CSRF: an attacker
 * signs up with an address of their own, keeps the link and gets a victim's browser to open it; without
 * this, that browser would be signed in to the attacker's account). `POST /v1/auth/register` sets it;
 * `POST /v1/auth/verify-email` signs in only a browser that presents it for the posted token (or one
 * already signed in as that user). It is no session and grants nothing alone: the mailed token is still
 * needed, and a browser without the cookie has its address verified all the same (`signedIn: false`).
 * It is left to expire: bound to a single-use token, it is worth nothing once the link was followed.
 */
export const SIGNUP_BROWSER_COOKIE = 'sr_signup';
const PATH = '/v1/auth/verify-email';

/** The cookie's value for a verification token: the SHA-256 of the token (base64url, 43 characters). */
const bindingOf = (verificationToken: string) =>
  createHash('sha256').update(`signup-browser.${verificationToken}`).digest('base64url');

/**
 * The `Set-Cookie` of a sign-up: HttpOnly, SameSite=Lax, only sent to the verification route (under
 * `PUBLIC_URL`'s path, as the browser addresses it), as long as the link lives. A sign-up for a taken address (no token: its owner got a mail instead) sets a random
 * value of the same shape, so the answer does not tell the two apart.
 */
export function signUpBrowserCookie(
  verificationToken: string | null,
  opts: { secure: boolean; publicUrl: string },
): string {
  const value = verificationToken ? bindingOf(verificationToken) : randomBytes(32).toString('base64url');
  return serializeCookie(SIGNUP_BROWSER_COOKIE, value, {
    path: cookiePathUnder(opts.publicUrl, PATH),
    maxAge: Math.floor(EMAIL_TOKEN_TTL_MS.verify_email / 1000),
    httpOnly: true,
    secure: opts.secure,
    sameSite: 'Lax',
  });
}

/** `sr_signup=…` as the browser that signed up with this verification token sends it (tests). */
export const signUpBrowserCookiePair = (verificationToken: string): string =>
  `${SIGNUP_BROWSER_COOKIE}=${bindingOf(verificationToken)}`;

/** Whether a request's `Cookie` header holds the sign-up cookie of this verification token. */
export function isSignUpBrowser(header: string | string[] | undefined, verificationToken: string): boolean {
  const given = cookieValue(header, SIGNUP_BROWSER_COOKIE);
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(bindingOf(verificationToken));
  return a.length === b.length && timingSafeEqual(a, b);
}
