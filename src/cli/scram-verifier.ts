import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802/7677, the `rolpassword` format),
 * computed here so that `ALTER ROLE … PASSWORD` carries the verifier and never the password itself: a
 * statement's text can end up in the server log (`log_statement`, or `log_min_error_statement` when it
 * fails) and in `pg_stat_statements`, and the verifier alone logs no one in. What psql's `\password` does.
 * The password must need no SASLprep normalization (ASCII without control characters: the generated
 * base64url passwords are).
 */
export function scramSha256Verifier(password: string, iterations = 4096): string {
  if (!/^[\x21-\x7e]+$/.test(password)) throw new Error('scram verifier: printable ASCII passwords only');
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
