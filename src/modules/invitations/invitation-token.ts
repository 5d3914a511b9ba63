import { createHash, randomBytes } from 'node:crypto';

/** A new invitation token: 32 random bytes, base64url. Only its hash is stored; the mail carries it. */
export function newInvitationToken(): { token: string; hash: Buffer } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashInvitationToken(token) };
}

/** SHA-256 of a token: what `invitations.token_hash` holds and the privileged lookup takes. */
export function hashInvitationToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
