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
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cluster = process.env.TEST_DATABASE_URL ? undefined : await startThrowawayCluster();
  const superuserUrl = process.env.TEST_DATABASE_URL ?? cluster!.superuserUrl;
  const db = await provisionDatabase(superuserUrl);
  const redis = await ensureRedis();
  project.provide('db', db);
  project.provide('redisUrl', redis.url);
  const mailDir = mkdtempSync(join(tmpdir(), 'saasready-mail-'));
  const smtp = await startSmtpServer({ spoolDir: mailDir });
  project.provide('mail', { url: smtp.url, dir: mailDir });
  process.env.TEST_REDIS_URL = redis.url;
  // Every test process (and every process it starts) checks tenant scopes' statements for their explicit
  // organization_id filter (src/platform/tenancy/explicit-filters.ts).
  process.env.SAASREADY_EXPLICIT_FILTERS = await tenantTablesForFilterCheck(db.adminUrl);
  return async () => {
    await dropSharedDatabases(db);
    await dropProvisioned(db);
    await cluster?.stop();
    await redis.stop();
    await smtp.stop();
    rmSync(mailDir, { recursive: true, force: true });
  };
}
