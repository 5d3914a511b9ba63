import { randomBytes } from 'node:crypto';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { uuidv7 } from '../../platform/ids.js';
import { base32Decode } from './base32.js';
import { totp } from './totp.js';

/** Inserts a user row directly (the identity module owns sign-up) and returns its id and email. */
export async function insertUser(db: PlatformDb, prefix = 'u'): Promise<{ id: string; email: string }> {
  const id = uuidv7();
  const email = `${prefix}-${randomBytes(4).toString('hex')}@example.com`;
  await db
    .insertInto('users')
    .values({ id, email, email_normalized: email, password_hash: null, email_verified_at: new Date() })
    .execute();
  return { id, email };
}

/** The TOTP code an authenticator app would show for `secret` (base32) at `unixMs`. */
export function codeFor(secret: string, unixMs: number): string {
  return totp(base32Decode(secret), unixMs);
}

/** A settable clock, starting on a step boundary so `+30_000` always reaches the next step. */
export function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let t = Math.floor(Date.now() / 30_000) * 30_000 + 1_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}
