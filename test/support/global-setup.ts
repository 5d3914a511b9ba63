import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import {
  dropProvisioned,
  provisionDatabase,
  startThrowawayCluster,
  type ProvisionedDatabase,
} from './provision.js';
import { startPgBouncer, viaRunBouncer } from './pgbouncer.js';
import { ensureRedis } from './redis.js';
import { tenantTablesForFilterCheck } from './explicit-filters.js';
import { dropSharedDatabases } from './shared-databases.js';
import type { MailSink } from './mailbox.js';
import { startSmtpServer } from './smtp.js';

declare module 'vitest' {
  export interface ProvidedContext {
    db: ProvisionedDatabase;
    redisUrl: string;
    mail: MailSink;
  }
}

/**
 * Provisions what the suite needs, once per run: a PostgreSQL (TEST_DATABASE_URL, a superuser URL, or an
 * embedded cluster started here), a freshly migrated database with its own roles, a Redis, and one SMTP
 * sink every job worker of the suite delivers to (see `sharedMailbox`).
 *
 * `TEST_VIA_PGBOUNCER=1`: a PgBouncer in transaction pooling mode (test/support/pgbouncer.ts, a pool of
 * `TEST_PGBOUNCER_POOL_SIZE` server connections, default 4) in front of that PostgreSQL, the runtime-role
 * URLs of the suite's databases through it, and DB_STATEMENT_CACHE=off in every test process.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cluster = process.env.TEST_DATABASE_URL ? undefined : await startThrowawayCluster();
  const superuserUrl = process.env.TEST_DATABASE_URL ?? cluster!.superuserUrl;
  const db = await provisionDatabase(superuserUrl);
  const bouncer =
    process.env.TEST_VIA_PGBOUNCER === '1'
      ? await startPgBouncer({
          superuserUrl,
          poolSize: Number(process.env.TEST_PGBOUNCER_POOL_SIZE ?? 4),
        })
      : undefined;
  if (bouncer) {
    // Inherited by the test processes (started after this setup).
    process.env.TEST_PGBOUNCER_PORT = String(bouncer.port);
    process.env.DB_STATEMENT_CACHE = 'off';
  }
  const redis = await ensureRedis();
  project.provide('db', viaRunBouncer(db));
  project.provide('redisUrl', redis.url);
  const mailDir = mkdtempSync(join(tmpdir(), 'saasready-mail-'));
  const smtp = await startSmtpServer({ spoolDir: mailDir });
  project.provide('mail', { url: smtp.url, dir: mailDir });
  process.env.TEST_REDIS_URL = redis.url;
  // Every test process (and every process it starts) checks tenant scopes' statements for their explicit
  // organization_id filter (src/platform/tenancy/explicit-filters.ts).
  process.env.SAASREADY_EXPLICIT_FILTERS = await tenantTablesForFilterCheck(db.adminUrl);
  return async () => {
    // First: its server connections would keep the databases from being dropped.
    await bouncer?.stop();
    await dropSharedDatabases(db);
    await dropProvisioned(db);
    await cluster?.stop();
    await redis.stop();
    await smtp.stop();
    rmSync(mailDir, { recursive: true, force: true });
  };
}
