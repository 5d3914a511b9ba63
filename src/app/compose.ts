import type { Logger } from 'pino';
import pg from 'pg';
import type { RoleNames } from '../platform/db/bootstrap.js';
import { createHttpServer, type App } from '../platform/http/server.js';
import type { Authenticator } from '../platform/http/auth.js';
import { securityHeaderOptions, type SecurityHeaderOptions } from '../platform/http/security-headers.js';
import { createPool } from '../platform/db/pool.js';
import { createPlatformDb } from '../platform/db/platform-db.js';
import { createTenancy, type Tenancy } from '../platform/tenancy/tenancy.js';
import { chooseTenantSetter, type TenantSetterKind } from '../platform/tenancy/tenant-setters.js';
import { createCache } from '../platform/cache/create-cache.js';
import type { Cache } from '../platform/cache/cache.js';
import type { Secrets } from '../platform/secrets.js';
import type { RetiredAuditKey } from '../platform/config.js';
import type { StripeConfig } from '../platform/config-stripe.js';
import type { SocialSignInConfig } from '../platform/config-social.js';
import type { TenantDatabasesConfig } from '../platform/config-tenant-databases.js';
import { createMailer, type Mailer } from '../platform/mail/mailer.js';
import { createMailJobHandler, MAIL_TASK } from '../platform/mail/mail-job.js';
import { startJobWorker, type JobWorker } from '../platform/jobs/worker.js';
import { installJobPayloadKey } from '../platform/jobs/payload-seal.js';
import {
  auditChainsToCheckpoint,
  auditOrganizationsPending,
  stripeCustomerDeletionResult,
  stripeCustomerDeletionsDue,
  stripeOrganizations,
  billingOrganizations,
} from '../platform/tenancy/privileged.js';
import { stripeJobs } from '../modules/billing/stripe-jobs.js';
import { createAuditSealer } from '../platform/audit/sealer.js';
import { createServices, type Services } from './services.js';
import {
  createUsageAggregator,
  maintainUsagePartitions,
  USAGE_PARTITIONS_CRONTAB,
  USAGE_PARTITIONS_TASK,
  type UsageAggregator,
} from '../modules/usage/aggregator.js';
import { usageSettings, type UsageSettings } from '../modules/usage/usage-settings.js';
import { registerRoutes } from './routes.js';
import { registerConsole } from '../platform/http/console.js';
import { createAppAuthenticator } from './authenticator.js';
import { rewriteOrgPath } from '../modules/tenant-resolution/org-path.js';
import {
  CHECKPOINT_CRONTAB,
  CHECKPOINT_TASK,
  createCheckpointJobHandler,
} from '../modules/audit/checkpoint-job.js';
import {
  createPeriodCloseJobHandler,
  PERIOD_CLOSE_CRONTAB,
  PERIOD_CLOSE_TASK,
} from '../modules/billing/period-close.js';
import { aggregatedUpToNow } from '../modules/billing/period-close-barrier.js';
import {
  ORG_DELETION_CRONTAB,
  ORG_DELETION_TASK,
  runOrganizationDeletions,
} from '../modules/organization-lifecycle/deletion-job.js';
import { createKeyVault } from '../platform/tenant-keys/key-vault.js';
import { selectKms, type KmsSettings } from '../platform/tenant-keys/kms-select.js';
import { ROTATION_SWEEP_CRONTAB, tenantKeyJobHandlers } from '../modules/tenant-keys/tenant-keys.jobs.js';
import type { WebhookConfig } from '../platform/config-webhooks.js';
import type { SsoOptions } from '../modules/sso/sso.module.js';
import {
  DOMAIN_RECHECK_CRONTAB,
  DOMAIN_RECHECK_TASK,
  recheckVerifiedDomains,
} from '../modules/sso/domain-recheck.js';
import {
  EXPIRED_PURGE_CRONTAB,
  EXPIRED_PURGE_TASK,
  purgeExpiredSignInRows,
} from '../modules/sso/expired-purge.js';
import { createWebhookDelivery, type WebhookDeliveryDeps } from '../modules/webhooks/webhook-delivery.js';
import { createDeletionWebhooks } from '../modules/webhooks/deletion-event.js';
import { WEBHOOK_WORKER_CONCURRENCY, webhookSettings } from '../modules/webhooks/webhook-settings.js';
import {
  requeueStuckDeliveries,
  STUCK_SWEEP_CRONTAB,
  STUCK_SWEEP_TASK,
} from '../modules/webhooks/webhook-sweep.js';
import { GDPR_DEFAULTS, type GdprConfig } from '../platform/config-gdpr.js';
import { createPlatformDb as workerKysely } from '../platform/db/platform-db.js';
import {
  accountExportRows,
  recordRetentionAudit,
  retentionPurge,
} from '../platform/tenancy/privileged-gdpr.js';
import { ORGANIZATION_EXPORT_TASK, ACCOUNT_EXPORT_TASK } from '../modules/gdpr/export-view.js';
import { createOrganizationExportJobHandler } from '../modules/gdpr/organization-export-job.js';
import { createAccountExportJobHandler } from '../modules/gdpr/account-exports.service.js';
import {
  builtInRetentionRules,
  createRetentionJobHandler,
  RETENTION_CRONTAB,
  RETENTION_TASK,
} from '../modules/retention/retention.js';
import { auditRetentionRule } from '../modules/retention/audit-retention.js';
import { webhookRetentionRules } from '../modules/webhooks/webhook-retention.js';
import { auditRetentionPurge, webhookRetentionPurge } from '../platform/tenancy/privileged-retention.js';
import { dropSchemaAsOwner } from '../platform/tenancy/placement-schema.js';

export interface ComposeOptions {
  /** The runtime role. */
  readonly databaseUrl: string;
  /** How long a tenant's placement is cached (PLACEMENT_CACHE_TTL_MS; default 60 s). */
  readonly placementCacheTtlMs?: number;
  /** How scopes set the tenant (TENANT_SETTER, default `auto`: `citus` when the control database has the
   *  citus extension, checked once here, before anything serves; `pooled` without `connectAtStart`). */
  readonly tenantSetter?: TenantSetterKind | 'auto';
  /** The owner role (what migrated the database at start): enables the platform's placement moves,
   *  which run the target schema's DDL. Without it their API answers 503. */
  readonly owner?: { readonly url: string; readonly roles: RoleNames };
  /** The worker role (graphile-worker runs on it); required unless `runJobs` is false. */
  readonly workerDatabaseUrl?: string;
  /** The key vault's role on its own database: the wrapped data keys (docs/encryption.md). */
  readonly keyVaultUrl: string;
  /**
   * False builds the composition without touching any database at start (the console's OpenAPI
   * generator, which only reads the route registry): the key vault's schema is then not ensured.
   */
  readonly connectAtStart?: boolean;
  /**
   * Per-organization encryption: the KMS provider (default `local`, wrapping with `secrets.kek`), the
   * previous KEKs (which also open two-factor secrets and job payloads sealed before a KEK change) and
   * the lifetime of unwrapped data keys in memory (default 5 minutes).
   */
  readonly tenantKeys?: KmsSettings & { readonly keyCacheTtlMs?: number };
  readonly poolSize: number;
  /** `database` placements: the configured tenant databases and the cap on their connections. */
  readonly tenantDatabases?: TenantDatabasesConfig;
  readonly log: Logger;
  readonly bodyLimitBytes: number;
  readonly trustProxy: false | string[];
  readonly redisUrl?: string;
  readonly version: string;
  /** Base URL of links in mails, the token issuer, and the default allowed origin. */
  readonly publicUrl: string;
  readonly secureCookies: boolean;
  /** Security headers; default: HSTS when publicUrl is https (main passes `securityHeaderOptions`). */
  readonly securityHeaders?: SecurityHeaderOptions;
  readonly allowedOrigins?: string[];
  readonly secrets: Pick<Secrets, 'jwtKeys' | 'kek' | 'auditKey'>;
  /** Public keys of retired audit checkpoint keys (still verified and published). */
  readonly auditRetiredKeys?: readonly RetiredAuditKey[];
  readonly baseDomain?: string;
  readonly smtpUrl?: string;
  readonly mailFrom: string;
  /** Show captured mail at /dev/mailbox (development without SMTP only). */
  readonly devMailbox?: boolean;
  /** REQUIRE_VERIFIED_EMAIL: unverified accounts may not invite, create API keys or mint tokens (default true). */
  readonly requireVerifiedEmail?: boolean;
  /** Run the background job worker in this process (default true). */
  readonly runJobs?: boolean;
  /** Metering: lateness window, retention, aggregation and flush intervals (defaults in usage-settings.ts). */
  readonly usage?: UsageSettings;
  /** The Stripe billing provider (STRIPE_*); undefined: the built-in (local) provider. */
  readonly stripe?: StripeConfig;
  /** Social sign-in providers (SOCIAL_*, config-social.ts); none by default. */
  readonly socialSignIn?: SocialSignInConfig;
  /** ORG_DELETION_GRACE_DAYS: how long a scheduled organization deletion waits (default 30). */
  readonly orgDeletionGraceDays?: number;
  /** The organization deletion job: rows deleted per batch (default 5,000). */
  readonly deletionBatchSize?: number;
  /**
   * Schedule the organization deletion job (default true). The test suite's compositions turn it off: its
   * test runs the job itself, and a schedule firing in another test process must not race it.
   */
  readonly scheduleDeletions?: boolean;
  /** The clock of the Stripe grace-period job (tests). */
  readonly now?: () => Date;
  /** Quota enforcement: how often the aggregated usage is re-read (default 10 s); a clock (tests). */
  readonly quotas?: { readonly refreshMs?: number; readonly now?: () => number };
  /**
   * The local billing provider closes each ended period itself (hourly job, docs/billing.md "Closing
   * periods"), default true. Off when another provider (Stripe) invoices: its periods are not ours.
   */
  readonly closeLocalPeriods?: boolean;
  /**
   * Webhook delivery (WEBHOOK_*: SSRF exceptions, retry schedule, timeout, disabling); `afterSend` lets a
   * test stop a delivery between the POST and the recording of its result.
   */
  readonly webhooks?: Partial<WebhookConfig> & Pick<WebhookDeliveryDeps, 'afterSend'>;
  /** GDPR export links, archive limits and retention periods (config-gdpr.ts; default GDPR_DEFAULTS). */
  readonly gdpr?: GdprConfig;
  /** The retention job's clock (tests). */
  readonly retentionNow?: () => Date;
  /** Single sign-on: http issuers (development, tests), the DNS TXT resolver, more protocols (docs/sso.md). */
  readonly sso?: SsoOptions;
  /** Replaces the real authenticator (tests of the tenancy core only). */
  readonly authenticator?: Authenticator;
}

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
  });
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
  const usage = usageSettings(opts.usage);
  let worker: JobWorker | undefined;
  let jobPool: pg.Pool | undefined;
  let webhookWorker: JobWorker | undefined;
  let webhookJobPool: pg.Pool | undefined;
  let aggregator: UsageAggregator | undefined;
  if (opts.runJobs !== false) {
    if (!opts.workerDatabaseUrl) throw new Error('compose: workerDatabaseUrl is required to run jobs');
    const checkpointPool = createPool({
      url: opts.workerDatabaseUrl,
      max: 3,
      applicationName: 'saasready-jobs',
    });
    jobPool = checkpointPool;
    const stripe = stripeJobs({
      stripe: services.billingProviders.stripe,
      scan: (kind, now, after, limit) =>
        stripeOrganizations(checkpointPool, kind, now, after, limit, opts.log),
      customerDeletions: {
        due: (now, limit) => stripeCustomerDeletionsDue(checkpointPool, now, limit, opts.log),
        result: (customerId, error, next) =>
          stripeCustomerDeletionResult(checkpointPool, customerId, error, next),
      },
      withTenant: tenancy.withTenant,
      now: opts.now ?? (() => new Date()),
      organizationChanged: (orgId) => services.organizationPolicies.invalidate(orgId),
      log: opts.log,
    });
    // Only the local provider issues invoices: with Stripe, Stripe closes the periods.
    const closeLocalPeriods =
      opts.closeLocalPeriods !== false && services.billingProviders.provider.issuesInvoices;
    // Domain events → deliveries → signed POSTs (src/modules/webhooks), as tenant jobs.
    const deliverySettings = webhookSettings(opts.webhooks);
    const webhookDelivery = createWebhookDelivery({
      withTenant: tenancy.withTenant,
      sealer: services.tenantSealer,
      settings: deliverySettings,
      webhooksLink: (slug) => `${opts.publicUrl}/o/${encodeURIComponent(slug)}/settings/webhooks`,
      log: opts.log,
      ...(opts.webhooks?.afterSend ? { afterSend: opts.webhooks.afterSend } : {}),
    });
    const gdpr = opts.gdpr ?? GDPR_DEFAULTS;
    const exportJobs = {
      maxArchiveBytes: gdpr.maxArchiveBytes,
      archiveRetentionHours: gdpr.archiveRetentionHours,
      log: opts.log,
    };
    // The worker role's handle for the platform chain's retention events (its own definer function).
    const workerDb = workerKysely(checkpointPool);
    // Set once the aggregator below exists (the job never runs before the worker has started).
    let runAggregation: () => Promise<unknown> = async () => 0;
    worker = await startJobWorker({
      pool: jobPool,
      kek: opts.secrets.kek,
      previousKeks: opts.tenantKeys?.kekPrevious ?? [],
      log: opts.log,
      pollIntervalMs: 500,
      handlers: {
        [MAIL_TASK]: createMailJobHandler(mailer),
        [USAGE_PARTITIONS_TASK]: async () => {
          await maintainUsagePartitions(checkpointPool, usage, opts.log);
        },
        [CHECKPOINT_TASK]: createCheckpointJobHandler({
          chainsToCheckpoint: (after, limit) =>
            auditChainsToCheckpoint(checkpointPool, opts.secrets.auditKey.kid, after, limit, opts.log),
          checkpointOrganization: (org) => services.audit.checkpointOrganization(org),
          log: opts.log,
        }),
        ...(closeLocalPeriods
          ? {
              [PERIOD_CLOSE_TASK]: createPeriodCloseJobHandler({
                organizations: (cutoff, after, limit) =>
                  billingOrganizations(checkpointPool, cutoff, after, limit, opts.log),
                aggregatedUpToNow: () =>
                  aggregatedUpToNow({ workerPool: checkpointPool, runAggregation, timeoutMs: 60_000 }),
                closer: services.periodCloser,
                latenessMs: usage.latenessMs,
                log: opts.log,
              }),
            }
          : {}),
        ...stripe.handlers,
        ...(opts.scheduleDeletions === false
          ? {}
          : {
              [ORG_DELETION_TASK]: async () => {
                await runOrganizationDeletions({
                  workerPool: checkpointPool,
                  shredder: services.tenantKeyShredder,
                  now: opts.now ?? (() => new Date()),
                  ...(opts.deletionBatchSize ? { batchSize: opts.deletionBatchSize } : {}),
                  organizationChanged: (orgId) => services.organizationPolicies.invalidate(orgId),
                  ...(ownerPool
                    ? { dropPlacementSchema: (orgId) => dropSchemaAsOwner(ownerPool, orgId) }
                    : {}),
                  // organization.deleted reaches the endpoints before the purge (docs/webhooks.md).
                  webhooks: createDeletionWebhooks({
                    withTenant: tenancy.withTenant,
                    retryScheduleSeconds: deliverySettings.retryScheduleSeconds,
                    log: opts.log,
                  }),
                  log: opts.log,
                });
              },
            }),
        ...tenantKeyJobHandlers({
          rotation: services.keyRotation,
          vault: keyVault,
          withTenant: tenancy.withTenant,
          log: opts.log,
        }),
        [ORGANIZATION_EXPORT_TASK]: createOrganizationExportJobHandler({
          withTenant: tenancy.withTenant,
          ...exportJobs,
        }),
        [ACCOUNT_EXPORT_TASK]: createAccountExportJobHandler({
          db: platformDb,
          crossOrgRows: (exportId, kind, after, limit) =>
            accountExportRows(checkpointPool, exportId, kind, after, limit, opts.log),
          ...exportJobs,
        }),
        // Verified domains are checked again daily; 3 failures in a row unverify one (docs/sso.md).
        [DOMAIN_RECHECK_TASK]: async () => {
          await recheckVerifiedDomains({
            workerPool: checkpointPool,
            domains: services.sso.domains,
            log: opts.log,
          });
        },
        // Expired pending sign-in rows (SAML, SSO, social, passkeys) go hourly (docs/sso.md).
        [EXPIRED_PURGE_TASK]: async () => {
          await purgeExpiredSignInRows({ workerPool: checkpointPool, db: platformDb, log: opts.log });
        },
        // Webhook deliveries whose job was lost are queued again (docs/webhooks.md, "Retries").
        [STUCK_SWEEP_TASK]: async () => {
          await requeueStuckDeliveries({
            workerPool: checkpointPool,
            withTenant: tenancy.withTenant,
            maxAttempts: deliverySettings.retryScheduleSeconds.length + 1,
            log: opts.log,
          });
        },
        // Retention (docs/gdpr.md): the extension point is this list of rules (retention.ts).
        [RETENTION_TASK]: createRetentionJobHandler({
          rules: [
            ...builtInRetentionRules(gdpr.retention, (kind, cutoff, limit) =>
              retentionPurge(checkpointPool, kind, cutoff, limit),
            ),
            ...webhookRetentionRules(gdpr.retention.webhooks, (kind, cutoff, limit) =>
              webhookRetentionPurge(checkpointPool, kind, cutoff, limit),
            ),
            auditRetentionRule((now, after, limit) => auditRetentionPurge(checkpointPool, now, after, limit)),
          ],
          audit: (event) => recordRetentionAudit(workerDb, `job:${RETENTION_TASK}`, event),
          ...(opts.retentionNow ? { now: opts.retentionNow } : {}),
          log: opts.log,
        }),
      },
      crontab:
        (opts.scheduleDeletions === false ? '' : ORG_DELETION_CRONTAB) +
        CHECKPOINT_CRONTAB +
        USAGE_PARTITIONS_CRONTAB +
        (closeLocalPeriods ? PERIOD_CLOSE_CRONTAB : '') +
        ROTATION_SWEEP_CRONTAB +
        STUCK_SWEEP_CRONTAB +
        DOMAIN_RECHECK_CRONTAB +
        EXPIRED_PURGE_CRONTAB +
        stripe.crontab +
        RETENTION_CRONTAB,
    });
    // Webhook deliveries on a runner of their own (its own small pool): a POST may wait for
    // WEBHOOK_TIMEOUT_MS, and one organization's slow or black-holed receivers must not hold the slots
    // that every organization's mails, exports and key rotations run in (the main runner never takes a
    // webhooks.* job: graphile-worker only fetches the tasks a runner knows).
    webhookJobPool = createPool({
      url: opts.workerDatabaseUrl,
      max: 3,
      applicationName: 'saasready-webhooks',
    });
    webhookWorker = await startJobWorker({
      pool: webhookJobPool,
      kek: opts.secrets.kek,
      log: opts.log,
      pollIntervalMs: 500,
      concurrency: WEBHOOK_WORKER_CONCURRENCY,
      purge: false,
      handlers: webhookDelivery.handlers,
    });
    const usageAggregator = createUsageAggregator({
      pool: checkpointPool,
      latenessMs: usage.latenessMs,
      log: opts.log,
      // Owner mails at 80 % / 100 % of a quota, for the organizations whose usage this run changed:
      // queued for a background run, the aggregator does not wait for it.
      onAggregated: (changed) => services.quotaNotices.schedule(changed),
    });
    aggregator = usageAggregator;
    runAggregation = () => usageAggregator.runOnce();
    aggregator.start(usage.aggregateEveryMs);
    auditSealer.startSweep((after, limit) =>
      auditOrganizationsPending(checkpointPool, after, limit, opts.log),
    );
  }

  return {
    app,
    tenancy,
    cache,
    services,
    mailer,
    async close() {
      await auditSealer.stop();
      await services.placementMoves.settle(); // a move's next run resumes it; this one ends its step
      await ownerPool?.end();
      // Recorded usage is flushed while the pools are open; the aggregator's run ends first.
      await services.usageRecorder.close();
      await aggregator?.stop();
      await services.quotaNotices.idle(); // the queued quota notices, while the pools are open
      await worker?.stop();
      await webhookWorker?.stop();
      await jobPool?.end();
      await webhookJobPool?.end();
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
