import { readFileSync } from 'node:fs';
import { AuthError } from './auth.errors.js';

export const PASSWORD_MIN_LENGTH = 10;
export const PASSWORD_MAX_LENGTH = 256;

/** Why a password was refused (in the error's `details.reason`). */
export type WeakPasswordReason =
  'too_short' | 'too_long' | 'common' | 'repetitive' | 'sequential' | 'matches_email';

function loadCommonPasswords(): ReadonlySet<string> {
  const text = readFileSync(new URL('./common-passwords.txt', import.meta.url), 'utf8');
  const set = new Set<string>();
  for (const line of text.split('\n')) {
    const entry = line.trim();
    if (entry && !entry.startsWith('#')) set.add(entry.toLowerCase());
  }
  return set;
}

let common: ReadonlySet<string> | undefined;
/** The bundled list (common-passwords.txt), read once. */
export function commonPasswords(): ReadonlySet<string> {
  return (common ??= loadCommonPasswords());
}

/** Keyboard rows and alphabetic/numeric runs; a password that is a stretch of one (either way) is refused. */
const RUNS = [
  '0123456789',
  '1234567890',
  'abcdefghijklmnopqrstuvwxyz',
  'qwertyuiop',
  'asdfghjkl',
  'zxcvbnm',
  'qwertyuiopasdfghjklzxcvbnm',
  'qwertzuiop',
  'azertyuiop',
  'qsdfghjklm',
  'wxcvbn',
  '1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p',
  'qazwsxedcrfvtgbyhnujmikolp',
  '1q2w3e4r5t6y7u8i9o0p',
  'q1w2e3r4t5y6u7i8o9p0',
  'a1b2c3d4e5f6g7h8i9j0',
  '!@#$%^&*()',
  '1a2b3c4d5e6f7g8h9i0j',
];
const CYCLES = RUNS.flatMap((r) => {
  const rev = [...r].reverse().join('');
  return [r.repeat(30), rev.repeat(30)];
});

const LEET: Record<string, string> = {
  '@': 'a',
  '4': 'a',
  '3': 'e',
  '1': 'i',
  '!': 'i',
  '0': 'o',
  $: 's',
  '5': 's',
  '7': 't',
  '+': 't',
};
const deleet = (s: string) => [...s].map((c) => LEET[c] ?? c).join('');
/** The "core" of a password: leading and trailing digits, symbols and spaces removed. */
const core = (s: string) => s.replace(/^[^a-z]+/u, '').replace(/[^a-z]+$/u, '');

function isRepetitive(pw: string): boolean {
  const chars = [...pw];
  for (let unit = 1; unit <= 4; unit++) {
    if (chars.length < unit * 2) break;
    const head = chars.slice(0, unit).join('');
    if (head.repeat(Math.ceil(chars.length / unit)).startsWith(pw)) return true;
  }
  return false;
}

/**
 * Refuses passwords that are easy to guess: fewer than 10 or more than 256 characters (code points),
 * listed in common-passwords.txt (as typed, or by their core with digits/symbols around it stripped and
 * l33t substitutions undone), one character or a 2-4 character unit repeated, a keyboard/sequential run,
 * or the email address / its local part (alone or with digits and symbols around it).
 *
 * @throws AuthError AUTH_PASSWORD_WEAK with `details.reason` ({@link WeakPasswordReason}).
 */
export function assertPasswordAcceptable(password: string, email?: string): void {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) {
    throw weak('too_short', `password must have at least ${PASSWORD_MIN_LENGTH} characters`);
  }
  if (length > PASSWORD_MAX_LENGTH) {
    throw weak('too_long', `password must have at most ${PASSWORD_MAX_LENGTH} characters`);
  }
  const pw = password.normalize('NFKC').toLowerCase();
  const compact = pw.replace(/\s+/gu, '');
  if (isRepetitive(pw) || isRepetitive(compact))
    throw weak('repetitive', 'password must not repeat one character or a short pattern');
  if (CYCLES.some((c) => c.includes(compact))) {
    throw weak('sequential', 'password must not be a keyboard or alphabetical/numerical sequence');
  }
  const list = commonPasswords();
  const cores = new Set([
    compact,
    core(compact),
    deleet(compact),
    deleet(core(compact)),
    core(deleet(compact)),
  ]);
  for (const c of cores) {
    if (c && list.has(c)) throw weak('common', 'password is too common');
  }
  if (email) {
    const e = email.trim().toLowerCase();
    const local = e.slice(0, Math.max(e.lastIndexOf('@'), 0)) || e;
    const candidates = new Set([compact, core(compact)]);
    if (candidates.has(e) || candidates.has(local) || candidates.has(core(local))) {
      throw weak('matches_email', 'password must not be your email address');
    }
  }
}

function weak(reason: WeakPasswordReason, message: string): AuthError {
  return new AuthError('AUTH_PASSWORD_WEAK', message, { details: { reason } });
}
