import { randomBytes } from 'node:crypto';
import { hash, parseOptions, verify, type Options } from '@node-rs/argon2';

/**
 * Password hashing: argon2id with OWASP's minimum parameters (m = 19456 KiB, t = 2, p = 1), 16-byte
 * random salt, 32-byte output, PHC string format. Passwords are NFKC-normalized first, so the same
 * password typed on another keyboard/OS (composed vs decomposed accents) verifies.
 */
export const ARGON2_PARAMS = {
  algorithm: 2, // Algorithm.Argon2id (a const enum in the typings; isolatedModules cannot read it)
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
  outputLen: 32,
} as const satisfies Options;

export interface PasswordHasher {
  /** The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) of a password. */
  hash(password: string): Promise<string>;
  /** True when `password` matches `phc`. A malformed hash is a mismatch, not an error. */
  verify(phc: string, password: string): Promise<boolean>;
  /**
   * Spends the same time as a real verification against a fixed dummy hash and answers false: used when
   * the account does not exist (or has no password) so that timing does not reveal it.
   */
  verifyDummy(password: string): Promise<false>;
  /** True when `phc` was made with weaker parameters than today's (re-hash after a successful login). */
  needsRehash(phc: string): boolean;
}

const normalize = (password: string) => password.normalize('NFKC');

/** True when two passwords are the same password for the hasher (which NFKC-normalizes both first). */
export const samePassword = (a: string, b: string): boolean => normalize(a) === normalize(b);

/** The argon2id hasher with {@link ARGON2_PARAMS} (tests may pass cheaper parameters, never production). */
export function createPasswordHasher(params: Options = ARGON2_PARAMS): PasswordHasher {
  // Computed at once, so the first unknown-account login is not slower than the next ones.
  const dummy = hash(randomBytes(32).toString('base64url'), params);
  dummy.catch(() => undefined); // a failure surfaces (and is absorbed) in verifyDummy

  return {
    hash: (password) => hash(normalize(password), params),
    async verify(phc, password) {
      try {
        return await verify(phc, normalize(password));
      } catch {
        return false;
      }
    },
    async verifyDummy(password) {
      try {
        await verify(await dummy, normalize(password));
      } catch {
        // the answer is false either way
      }
      return false;
    },
    needsRehash(phc) {
      try {
        const o = parseOptions(phc);
        return (
          o.algorithm !== params.algorithm ||
          o.memoryCost < (params.memoryCost ?? 0) ||
          o.timeCost < (params.timeCost ?? 0) ||
          o.parallelism !== (params.parallelism ?? 1)
        );
      } catch {
        return true;
      }
    },
  };
}
