import { uuidv7 } from '../platform/ids.js';
import type { PlatformDb } from '../platform/db/platform-db.js';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * Makes `email` a platform administrator: an existing user is promoted; otherwise a user is created with
 * a generated password (returned once) and a verified email. Platform administration is separate from
 * organization roles: an organization owner is not a platform administrator.
 */
export async function createPlatformAdmin(
  db: PlatformDb,
  email: string,
  generatePassword: () => string,
  hashPassword: (password: string) => Promise<string>,
): Promise<{ created: false; email: string } | { created: true; email: string; password: string }> {
  const normalized = email.trim().toLowerCase();
  if (!EMAIL.test(normalized) || normalized.length > 254) throw new Error(`not an email address: ${email}`);
  const promoted = await db
    .updateTable('users')
    .set({ is_platform_admin: true, updated_at: new Date() })
    .where('email_normalized', '=', normalized)
    .executeTakeFirst();
  if (promoted.numUpdatedRows > 0n) return { created: false, email: normalized };
  const password = generatePassword();
  await db
    .insertInto('users')
    .values({
      id: uuidv7(),
      email: email.trim(),
      email_normalized: normalized,
      password_hash: await hashPassword(password),
      email_verified_at: new Date(),
      totp_secret_enc: null,
      totp_enabled_at: null,
      last_organization_id: null,
      is_platform_admin: true,
    })
    .execute();
  return { created: true, email: normalized, password };
}
