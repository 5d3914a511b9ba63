import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type pg from 'pg';
import type { JWK } from 'jose';
import { createTenancy } from '../platform/tenancy/tenancy.js';
import type { TenantDatabasesConfig } from '../platform/config-tenant-databases.js';
import { detectTenantSetter } from '../platform/tenancy/tenant-setters.js';
import {
  createAuditSigner,
  createAuditVerifier,
  type CheckpointStatement,
} from '../platform/audit/signing.js';
import { parseExportLine, type StoredEntry } from '../platform/audit/stored.js';
import { verifyChain, type ChainVerification } from '../platform/audit/verify-chain.js';
import { verifyOrganizationChain } from '../modules/audit/audit-verification.js';

/** The breaks after the first, by seq (`breaks` lists them all, the first included). */
function laterBreaks(r: ChainVerification): string {
  const later = r.breaks.slice(1);
  if (later.length === 0) return '';
  const seqs = later.map((b) => `${b.seq} (${b.reason})`).join(', ');
  return `; also broken at seq ${seqs}${r.breaksTruncated ? ', and more' : ''}`;
}

/** One line for a person, then the full result as JSON. Exit code 0 when valid, 2 when broken. */
export function report(name: string, r: ChainVerification): { text: string; code: number } {
  const head = r.valid
    ? `audit chain of ${name}: valid (${r.entriesChecked} entries, ${r.anchorSeq === null ? '' : `from the signed checkpoint at seq ${r.anchorSeq} (older entries purged by retention), `}last seq ${r.lastSeq}, ${r.checkpointsChecked} signed checkpoints)`
    : `audit chain of ${name}: BROKEN at seq ${r.firstBrokenSeq} (${r.reason}): ${r.detail}${laterBreaks(r)}`;
  return { text: `${head}\n${JSON.stringify(r, null, 2)}\n`, code: r.valid ? 0 : 2 };
}

/**
 * `saasready audit verify --org <slug>`: the server's own verification, from the command line. With the
 * server's TENANT_DATABASES (`tenantDatabases`), an organization of a `database` placement is verified
 * where its chain and checkpoints are, in its tenant database; without it, such an organization's scope
 * fails (PLACEMENT_UNSUPPORTED).
 */
export async function verifyOrganizationBySlug(
  pool: pg.Pool,
  auditKey: { kid: string; privateJwk: JWK },
  slug: string,
  retired: readonly { kid: string; jwk: JWK }[] = [],
  tenantDatabases?: TenantDatabasesConfig,
): Promise<ChainVerification | null> {
  // The server's tenant setter (as TENANT_SETTER=auto picks it): on Citus, set_config never reaches the
  // workers, so a pooled scope would read an empty chain there and verify nothing.
  const tenancy = createTenancy({
    url: '',
    poolSize: 2,
    pool,
    setter: await detectTenantSetter(pool),
    ...(tenantDatabases && Object.keys(tenantDatabases.databases).length > 0 ? { tenantDatabases } : {}),
  });
  try {
    const orgId = await tenancy.privileged.organizationIdBySlug(slug);
    if (!orgId) return null;
    const signer = createAuditSigner(auditKey);
    const verifier = createAuditVerifier([
      signer.publicKey,
      ...retired.map((k) => ({ keyId: k.kid, jwk: k.jwk })),
    ]);
    return await verifyOrganizationChain(tenancy.withTenant, verifier, orgId);
  } finally {
    await tenancy.close(); // the tenant databases' pools (`pool` is the caller's)
  }
}

async function* exportEntries(file: string): AsyncGenerator<StoredEntry> {
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n += 1;
    if (line.trim() === '') continue;
    try {
      yield parseExportLine(line);
    } catch {
      throw new Error(`${file}:${n}: not an audit export line`);
    }
  }
}

/**
 * `saasready audit verify --file export.jsonl [--checkpoints page.json … --public-key key.json|key.pem]`:
 * offline verification of a full JSON Lines export, with no access to the server. Checkpoints are the
 * body of `GET /v1/audit-logs/checkpoints` (or its `data` array); the key is the body of
 * `GET /v1/audit-logs/public-key` or its PEM.
 */
export async function verifyExportFile(opts: {
  file: string;
  /** Files of checkpoints: pages of `GET /v1/audit-logs/checkpoints`, or arrays of checkpoints. */
  checkpoints?: readonly string[];
  publicKey?: string;
}): Promise<ChainVerification> {
  const checkpoints: { statement: CheckpointStatement; signature: Buffer }[] = [];
  for (const file of opts.checkpoints ?? []) {
    const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as
      | { data: { statement: CheckpointStatement; signature: string }[] }
      | { statement: CheckpointStatement; signature: string }[];
    for (const c of Array.isArray(parsed) ? parsed : parsed.data) {
      checkpoints.push({ statement: c.statement, signature: Buffer.from(c.signature, 'base64url') });
    }
  }
  let verifier;
  if (opts.publicKey) {
    const text = await fs.readFile(opts.publicKey, 'utf8');
    if (text.trimStart().startsWith('-----BEGIN')) {
      const keyIds = [...new Set(checkpoints.map((c) => c.statement.key_id))];
      verifier = createAuditVerifier(keyIds.map((keyId) => ({ keyId, pem: text })));
    } else {
      // The body of GET /v1/audit-logs/public-key: the current key and the retired ones.
      const k = JSON.parse(text) as {
        keyId: string;
        pem: string;
        retired?: { keyId: string; pem: string }[];
      };
      verifier = createAuditVerifier([{ keyId: k.keyId, pem: k.pem }, ...(k.retired ?? [])]);
    }
  } else if (checkpoints.length > 0) {
    throw new Error('--checkpoints needs --public-key to check their signatures');
  }
  return verifyChain({ entries: exportEntries(opts.file), checkpoints, ...(verifier ? { verifier } : {}) });
}
