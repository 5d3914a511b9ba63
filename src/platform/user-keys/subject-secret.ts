import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { KmsProvider } from '../tenant-keys/contract.js';
import type { PersonalKeyVault } from '../tenant-keys/key-vault-persons.js';

/** The secrets keying the subject ids of e-mail addresses (user-keys.ts). */
export interface SubjectSecrets {
  /** Keys the id of every address key created from now on; never changes. */
  readonly current: Buffer;
  /**
   * Secrets earlier versions derived from an older KEK: address keys made before a KEK rotation that
   * preceded this version live under ids keyed by them. Erasing an address destroys those keys too.
   */
  readonly legacy: readonly Buffer[];
}

/** The vault row of the stable secret (a version-0 UUID: no user, organization or address id has it). */
export const SUBJECT_SECRET_ID = '00000000-0000-0000-0000-000000000001';
/** Vault rows of legacy secrets: this prefix, then a hash of the secret. */
const LEGACY_PREFIX = '00000000-0000-0001-';

/**
 * How versions before this one derived the secret: from the KEK itself, so a KEK rotation changed every
 * address's subject id (erasure then destroyed a key under the new id and left the old one readable).
 */
export const kekDerivedSubjectSecret = (kek: Buffer): Buffer =>
  createHmac('sha256', kek).update('personal-keys/email-subject').digest();

const legacyId = (secret: Buffer): string => {
  const h = createHash('sha256').update('saasready:legacy-subject-secret\0').update(secret).digest('hex');
  return `${LEGACY_PREFIX}${h.slice(0, 4)}-${h.slice(4, 16)}`;
};

/**
 * The subject secrets, kept in the key vault wrapped by the KEK like the keys themselves (so the KEK
 * rotation re-wraps them and never changes them). Created once: a vault that already holds address keys
 * adopts the secret derived from the current KEK (every key made since the last KEK rotation keeps its
 * id), and records those derived from the previous KEKs (`KEK_PREVIOUS`) as legacy secrets, so keys made
 * before that rotation are erased too once those KEKs are gone; a new vault gets a random secret.
 * Concurrent first starts agree on one (`insertIfAbsent`).
 */
export async function loadSubjectSecrets(deps: {
  vault: PersonalKeyVault;
  kms: KmsProvider;
  /** The local KEK and the previous ones, whose derivations older versions used. */
  kek: Buffer;
  previousKeks?: readonly Buffer[];
}): Promise<SubjectSecrets> {
  const open = async (row: { wrapped: Buffer | null; kekId: string | null }) =>
    deps.kms.decrypt(row.wrapped!, row.kekId!);
  let rows = await deps.vault.secrets();
  if (!rows.some((r) => r.subjectId === SUBJECT_SECRET_ID)) {
    const existing = await deps.vault.hasEmailKeys();
    const seed = existing ? kekDerivedSubjectSecret(deps.kek) : randomBytes(32);
    if (existing) {
      for (const k of deps.previousKeks ?? []) {
        const s = kekDerivedSubjectSecret(k);
        if (s.equals(seed)) continue;
        const w = await deps.kms.encrypt(s);
        await deps.vault.insertIfAbsent(legacyId(s), 'secret', w.wrapped, w.kekId);
      }
    }
    const w = await deps.kms.encrypt(seed);
    await deps.vault.insertIfAbsent(SUBJECT_SECRET_ID, 'secret', w.wrapped, w.kekId);
    rows = await deps.vault.secrets();
  }
  const current = rows.find((r) => r.subjectId === SUBJECT_SECRET_ID);
  if (!current?.wrapped) throw new Error('the subject secret of address keys is missing from the key vault');
  const legacy: Buffer[] = [];
  for (const r of rows) {
    if (r.subjectId.startsWith(LEGACY_PREFIX) && r.wrapped) legacy.push(await open(r));
  }
  return { current: await open(current), legacy };
}
