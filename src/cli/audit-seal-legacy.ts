import { Kysely, PostgresDialect } from 'kysely';
import type { Logger } from 'pino';
import type { AppConfig } from '../platform/config.js';
import type { Database } from '../platform/db/schema.js';
import type { loadSecrets } from '../platform/secrets.js';
import { sealLegacyAll, type LegacySealResult } from '../platform/audit/legacy-seal.js';
import { createAuditSigner, createAuditVerifier } from '../platform/audit/signing.js';
import { createKeyVault } from '../platform/tenant-keys/key-vault.js';
import { selectKms } from '../platform/tenant-keys/kms-select.js';
import { loadSubjectSecrets } from '../platform/user-keys/subject-secret.js';
import { createUserKeyStore } from '../platform/user-keys/user-keys.js';
import { connectForCli } from './connect.js';

/** One line per chain that was rewritten or refused. */
export function sealLegacyLine(r: LegacySealResult): string | null {
  if (r.status === 'rewritten') {
    return `audit chain ${r.chain}: sealed ${r.entriesRewritten} entries, re-signed ${r.checkpointsResigned} checkpoints, head ${r.oldHead} -> ${r.newHead}`;
  }
  if (r.status === 'invalid') return `audit chain ${r.chain}: NOT REWRITTEN, it does not verify: ${r.detail}`;
  if (r.status === 'moving') {
    return `audit chain ${r.chain}: NOT REWRITTEN, the organization is moving (${r.detail}): run again once the move has ended`;
  }
  return null;
}

/**
 * `saasready audit seal-legacy`: seals the clear personal fields of entries written before migration
 * 0028 (and of schema-placed and moving organizations' entries written by earlier versions) in every chain
 * (src/platform/audit/legacy-seal.ts), as the owner role, with the server's KMS
 * provider, key vault and checkpoint key. Exit code 0 when every chain is done, 2 when one was refused (a
 * chain that does not verify, or an organization in an online move).
 */
export async function auditSealLegacy(
  config: AppConfig,
  secrets: Awaited<ReturnType<typeof loadSecrets>>,
  log: Logger,
  write: (line: string) => void,
): Promise<number> {
  const { pool, keyVaultUrl, close } = await connectForCli(config, log, 'owner');
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const url = keyVaultUrl ?? config.tenantKeys.keyVaultUrl;
  if (!url) throw new Error('no key vault: set KEY_VAULT_DATABASE_URL as for the server');
  const vault = createKeyVault({ url });
  try {
    const kms = selectKms(config.tenantKeys, secrets.kek);
    const userKeys = createUserKeyStore({
      kms,
      vault: vault.persons,
      subjectSecret: () =>
        loadSubjectSecrets({
          vault: vault.persons,
          kms,
          kek: secrets.kek,
          previousKeks: config.tenantKeys.kekPrevious,
        }),
    });
    const signer = createAuditSigner(secrets.auditKey);
    const verifier = createAuditVerifier([
      signer.publicKey,
      ...config.auditRetiredKeys.map((k) => ({ keyId: k.kid, jwk: k.jwk })),
    ]);
    let refused = 0;
    let rewritten = 0;
    const results = await sealLegacyAll(
      { pool, db, userKeys, signingKey: secrets.auditKey, verifier },
      (r) => {
        if (r.status === 'invalid' || r.status === 'moving') refused += 1;
        if (r.status === 'rewritten') rewritten += 1;
        const line = sealLegacyLine(r);
        if (line) write(`${line}\n`);
      },
    );
    write(
      `${results.length} chains checked: ${rewritten} rewritten, ${refused} refused, ${results.length - rewritten - refused} with nothing to seal\n`,
    );
    return refused > 0 ? 2 : 0;
  } finally {
    await vault.close();
    await db.destroy().catch(() => {});
    await close().catch(() => {});
  }
}
