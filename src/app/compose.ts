import { startPreparedCommitResolver } from '../platform/tenancy/prepared-commits.js';
import { resolveMoveParts } from '../modules/tenant-placement/move-parts.js';
import { createTargetOwners } from '../modules/tenant-placement/target-owners.js';
import pg from 'pg';
import { createHttpServer, type App } from '../platform/http/server.js';
import { securityHeaderOptions } from '../platform/http/security-headers.js';
import { createPlatformDb } from '../platform/db/platform-db.js';
import { createTenancy, type Tenancy } from '../platform/tenancy/tenancy.js';
import { chooseTenantSetter } from '../platform/tenancy/tenant-setters.js';
import { createCache } from '../platform/cache/create-cache.js';
import type { Cache } from '../platform/cache/cache.js';
import { createMailer, type Mailer } from '../platform/mail/mailer.js';
import { installJobPayloadKey } from '../platform/jobs/payload-seal.js';
import { createAuditSealer } from '../platform/audit/sealer.js';
import { auditSealOrganizations } from '../platform/tenancy/privileged.js';
import { createServices, type Services } from './services.js';
import { registerRoutes } from './routes.js';
import { registerConsole } from '../platform/http/console.js';
import { createAppAuthenticator } from './authenticator.js';
import { rewriteOrgPath } from '../modules/tenant-resolution/org-path.js';
import { createKeyVault } from '../platform/tenant-keys/key-vault.js';
import { selectKms } from '../platform/tenant-keys/kms-select.js';
import type { ComposeOptions } from './compose/options.js';
import { startJobs } from './compose/jobs.js';
import { loadStripeSdk } from '../modules/billing/providers/stripe-client.js';

export type { ComposeOptions } from './compose/options.js';

/** Everything the process runs, wired once. Services get only the dependencies they use. */
export interface Composition {
  readonly app: App;
  readonly tenancy: Tenancy;
  readonly cache: Cache;
  readonly services: Services;
  readonly mailer: Mailer;
  /** Closes the worker, pools and connections (after the HTTP server has stopped). */
  close(): Promise<void>;
}

/** The composition root: builds the tenancy core, the services, the authenticator and the HTTP server. */
export async function compose(opts: ComposeOptions): Promise<Composition> {
  // Job payloads are sealed by `enqueueJob` under a key derived from the KEK, opened by the worker.
  installJobPayloadKey(opts.secrets.kek, opts.tenantKeys?.kekPrevious ?? []);
  const choice = opts.connectAtStart === false ? 'pooled' : (opts.tenantSetter ?? 'auto');
  const setter = await chooseTenantSetter(choice, opts.databaseUrl);
  if (setter === 'citus') {
    opts.log.info(
      { tenant_setter: setter, configured: choice },
      'tenant setter: SET LOCAL in explicit transactions (Citus)',
    );
  }
  const tenancy = createTenancy({
    url: opts.databaseUrl,
    poolSize: opts.poolSize,
    log: opts.log,
    placementTtlMs: opts.placementCacheTtlMs,
    tenantDatabases: opts.tenantDatabases,
    setter,
  });
  if (tenancy.databases) {
    opts.log.info(
      { tenant_databases: tenancy.databases.keys, max_connections: opts.tenantDatabases?.maxConnections },
      'database placements: tenant databases configured (pools open on first use)',
    );
  }
  const cache = createCache({ redisUrl: opts.redisUrl });
  const platformDb = createPlatformDb(tenancy.control.pool);
  const mailer = createMailer({
    smtpUrl: opts.smtpUrl,
    from: opts.mailFrom,
    onCapture: (m) =>
      opts.log.info({ mail_to: m.to, subject: m.subject }, 'mail captured in the development mailbox'),
  });
  const kms = selectKms(opts.tenantKeys, opts.secrets.kek);
  const keyVault = createKeyVault({ url: opts.keyVaultUrl });
  if (opts.connectAtStart !== false) await keyVault.ensureSchema();
  opts.log.info(
    { kms_provider: kms.name, kek_id: kms.currentKekId },
    `per-organization encryption: data keys wrapped by the ${kms.name} KMS provider`,
  );
  // A small pool: placement moves only (pg connects on first use, so an unused feature costs nothing).
  const ownerPool = opts.owner && new pg.Pool({ connectionString: opts.owner.url, max: 2 });
  // The Stripe SDK loads only where Stripe is configured (createStripeClient is synchronous).
  if (opts.stripe) await loadStripeSdk();
  const services = createServices({
    tenancy,
    platformDb,
    opts,
    tenantKeys: { vault: keyVault, kms },
    ...(ownerPool && opts.owner ? { owner: { pool: ownerPool, roles: opts.owner.roles } } : {}),
  });
  // Seals committed audit events into their chains about five seconds after their commit.
  const auditSealer = createAuditSealer({
    withTenant: tenancy.withTenant,
    // Events recorded in a tenant database are heard on its own handle.
    databases: [
      tenancy.control.db,
      ...(tenancy.databases?.keys ?? []).map((k) => tenancy.databases!.get(k)!.db),
    ],
    log: opts.log,
    // The control database's organizations in groups, one transaction per group (migration 0070); under
    // the Citus setter each organization keeps its own call in its own tenant scope.
    ...(setter === 'citus'
      ? {}
      : {
          sealMany: (orgs: readonly string[], max: number, budget: number) =>
            auditSealOrganizations(tenancy.control.pool, orgs, max, budget, opts.log),
        }),
  });
  // Prepared parts of `database` placements' two-phase commits left by a process that died between
  // its two phases: committed or rolled back from the control database's decisions (prepared-commits.ts).
  // And those of placement moves into a tenant database (`sr_mv_*`), with the owner roles (move-parts.ts).
  const moveOwners = ownerPool ? createTargetOwners(opts.tenantDatabases?.databases) : undefined;
  const preparedCommits =
    tenancy.databases && opts.connectAtStart !== false
      ? startPreparedCommitResolver({
          control: tenancy.control.pool,
          databases: tenancy.databases,
          log: opts.log,
          ...(ownerPool && moveOwners
            ? {
                moveParts: async (key: string) => {
                  const target = moveOwners.get(key);
                  return target
                    ? resolveMoveParts({ owner: ownerPool, target })
                    : { committed: 0, rolledBack: 0 };
                },
              }
            : {}),
        })
      : undefined;
  const authenticator = opts.authenticator ?? createAppAuthenticator({ services, opts });

  const app = await createHttpServer({
    log: opts.log,
    bodyLimitBytes: opts.bodyLimitBytes,
    trustProxy: opts.trustProxy,
    authenticator,
    version: opts.version,
    publicUrl: opts.publicUrl,
    securityHeaders: opts.securityHeaders ?? securityHeaderOptions('', opts.publicUrl),
    databaseProbe: () => tenancy.control.pool.query('select 1'),
    // `/v1/orgs/:slug/<rest>` serves `/v1/<rest>` with the slug as the requested organization.
    rewriteUrl: rewriteOrgPath,
  });
  const pool: pg.Pool = tenancy.control.pool;
  registerRoutes(app, {
    services,
    pool,
    mailer,
    platformDb,
    organizationIdBySlug: (slug) => services.organizationSlugs.idBySlug(slug),
    opts,
  });
  // The web console (web/dist) at `/`, after the API routes it must never shadow.
  await registerConsole(app, { publicUrl: opts.publicUrl });
  await app.ready();

  services.usageRecorder.start();
  const jobs =
    opts.runJobs !== false
      ? await startJobs({ opts, tenancy, platformDb, services, mailer, keyVault, ownerPool, auditSealer })
      : undefined;

  return {
    app,
    tenancy,
    cache,
    services,
    mailer,
    async close() {
      await auditSealer.stop();
      await preparedCommits?.stop();
      await moveOwners?.close();
      await services.placementMoves.settle(); // a move's next run resumes it; this one ends its step
      await ownerPool?.end();
      // Recorded usage is flushed while the pools are open; the aggregator's run ends first.
      await services.usageRecorder.close();
      await jobs?.aggregator.stop();
      await services.quotaNotices.idle(); // the queued quota notices, while the pools are open
      await jobs?.worker.stop();
      await jobs?.webhookWorker.stop();
      await jobs?.tenantDatabaseSweeps.close(); // after the sealer's sweep and the jobs that use them
      await jobs?.jobPool.end();
      await jobs?.webhookJobPool.end();
      mailer.close();
      // The last batch of API key `last_used_at` values needs the pool: before the pools close.
      await services.apiKeyAuth.close();
      await services.bus.close();
      await cache.close();
      services.releasePlatformKeys(); // before its key vault pool ends
      await platformDb.destroy();
      await keyVault.close();
      kms.destroy?.();
      await tenancy.close();
    },
  };
}
