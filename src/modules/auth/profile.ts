import { HttpError } from '../../platform/http/http-errors.js';
import type { IdentityDb } from './sessions.repository.js';
import { setUserName, toPublicUser, type PublicUser } from './users.repository.js';

/** The longest display name, in characters (code points); the column's CHECK says the same. */
export const DISPLAY_NAME_MAX_LENGTH = 100;

// C0 controls, DEL and C1 controls (what the column's CHECK refuses): newlines and tabs included; and
// the invisible or direction-changing characters (zero-width, bidi embeddings/overrides/isolates,
// line and paragraph separators, BOM), which could make a name shown to others read as something else.
// eslint-disable-next-line no-control-regex -- control characters are exactly what this looks for
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/u;

/** A refusal about the `name` field, in the shape schema validation answers (`details.fields`). */
const invalidName = (message: string) =>
  new HttpError('VALIDATION_FAILED', `body.name ${message}`, 400, {
    fields: [{ field: 'body.name', message }],
  });

/**
 * The display name to store: surrounding whitespace trimmed, then 1–100 characters without control
 * characters; null clears it.
 *
 * @throws HttpError VALIDATION_FAILED (400) naming `body.name`
 */
export function normalizeDisplayName(raw: string | null): string | null {
  if (raw === null) return null;
  const name = raw.trim();
  if (name === '') throw invalidName('must not be blank');
  if (CONTROL.test(name)) throw invalidName('must not contain control or invisible characters');
  if ([...name].length > DISPLAY_NAME_MAX_LENGTH) {
    throw invalidName(`must NOT have more than ${DISPLAY_NAME_MAX_LENGTH} characters`);
  }
  return name;
}

/** Sets or clears the user's display name; the user as `me` shows it. */
export async function updateProfile(
  db: IdentityDb,
  userId: string,
  input: { name: string | null },
): Promise<PublicUser> {
  const name = normalizeDisplayName(input.name);
  const row = await setUserName(db, userId, name);
  if (!row) throw new HttpError('UNAUTHENTICATED', 'authentication required', 401);
  return toPublicUser(row);
}
