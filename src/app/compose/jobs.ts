import type pg from 'pg';
import { createPool } from '../../platform/db/pool.js';
import {
  ERASURE_TENANT_DIRECTORIES_TASK,
  createTenantDirectoryErasureHandler,
} from '../../modules/account-erasure/erasure-tenant-directories.js';
import { findSubject } from '../../modules/account-erasure/erasure.identity.js';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import type { Tenancy } from '../../platform/tenancy/tenancy.js';
import { createMailJobHandler, MAIL_TASK } from '../../platform/mail/mail-job.js';
import { createPasswordResetJobHandler, PASSWORD_RESET_TASK } from '../../modules/auth/password-reset-job.js';
import type { Mailer } from '../../platform/mail/mailer.js';
import { startJobWorker, type JobWorker } from '../../platform/jobs/worker.js';
import {
  stripeCustomerDeletionResult,
  stripeCustomerDeletionsDue,
  stripeOrganizations,
  billingOrganizations,
} from '../../platform/tenancy/privileged.js';
import { stripeJobs } from '../../modules/billing/stripe-jobs.js';
import type { AuditSealer } from '../../platform/audit/sealer.js';
import type { Services } from '../services.js';
import type { ComposeOptions } from './options.js';
import {
  maintainUsagePartitions,
  USAGE_PARTITIONS_CRONTAB,
  USAGE_PARTITIONS_TASK,
  type UsageAggregator,
} from '../../modules/usage/aggregator.js';
import { usageSettings } from '../../modules/usage/usage-settings.js';
import { startUsageAggregation } from './usage-aggregation.js';

import { purgeInTenantDatabase } from './tenant-database-purge.js';
import { placementMoveUnderWay } from '../../platform/tenancy/privileged-deletion.js';
import {
  CHECKPOINT_CRONTAB,
  CHECKPOINT_TASK,
  createCheckpointJobHandler,
} from '../../modules/audit/checkpoint-job.js';
import {
  createPeriodCloseJobHandler,
  PERIOD_CLOSE_CRONTAB,
  PERIOD_CLOSE_TASK,
} from '../../modules/billing/period-close.js';
import {
  aggregatedUpToNow,
  tenantDatabasesBarrier,
  type TenantDatabaseAggregation,
} from '../../modules/billing/period-close-barrier.js';
import {
  ORG_DELETION_CRONTAB,
  ORG_DELETION_TASK,
  runOrganizationDeletions,
} from '../../modules/organization-lifecycle/deletion-job.js';
import type { KeyVault } from '../../platform/tenant-keys/key-vault.js';
import { ROTATION_SWEEP_CRONTAB, tenantKeyJobHandlers } from '../../modules/tenant-keys/tenant-keys.jobs.js';
import {
  DOMAIN_RECHECK_CRONTAB,
  DOMAIN_RECHECK_TASK,
  recheckVerifiedDomains,
} from '../../modules/sso/domain-recheck.js';
import {
  EXPIRED_PURGE_CRONTAB,
  EXPIRED_PURGE_TASK,
  purgeExpiredSignInRows,
} from '../../modules/sso/expired-purge.js';
import { createWebhookDelivery } from '../../modules/webhooks/webhook-delivery.js';
import { createDeletionWebhooks } from '../../modules/webhooks/deletion-event.js';
import { WEBHOOK_WORKER_CONCURRENCY, webhookSettings } from '../../modules/webhooks/webhook-settings.js';
import {
  requeueStuckDeliveries,
  STUCK_SWEEP_CRONTAB,
  STUCK_SWEEP_TASK,
} from '../../modules/webhooks/webhook-sweep.js';
import { GDPR_DEFAULTS } from '../../platform/config-gdpr.js';
import { createPlatformDb as workerKysely } from '../../platform/db/platform-db.js';
import { accountExportRows, recordRetentionAudit } from '../../platform/tenancy/privileged-gdpr.js';
import { ORGANIZATION_EXPORT_TASK, ACCOUNT_EXPORT_TASK } from '../../modules/gdpr/export-view.js';
import { createOrganizationExportJobHandler } from '../../modules/gdpr/organization-export-job.js';
import { createAccountExportJobHandler } from '../../modules/gdpr/account-exports.service.js';
import {
  createRetentionJobHandler,
  RETENTION_CRONTAB,
  RETENTION_TASK,
} from '../../modules/retention/retention.js';
import {
  checkpointListing,
  openTenantDatabaseSweeps,
  retentionEventOf,
  retentionRules,
  sealSweepListing,
  type TenantDatabaseSweeps,
} from './tenant-database-sweeps.js';
import { dropSchemaAsOwner } from '../../platform/tenancy/placement-schema.js';
import {
  FLAG_OVERRIDES_SWEEP_CRONTAB,
  FLAG_OVERRIDES_SWEEP_TASK,
  sweepFlagOverrides,
} from '../../modules/flags/overrides-sweep.js';

/** The background work compose.ts runs when `runJobs` is not false; its close stops it in this order. */
export interface Jobs {
  readonly worker: JobWorker;
  readonly jobPool: pg.Pool;
  readonly webhookWorker: JobWorker;
  readonly webhookJobPool: pg.Pool;
  readonly aggregator: UsageAggregator;
  /** The tenant databases' pools of the sweeps: closed after the worker has stopped. */
  readonly tenantDatabaseSweeps: TenantDatabaseSweeps;
}

/**
 * Starts the job worker (mails, audit checkpoints, usage partitions and aggregation, period closing,
 * Stripe, organization deletions, key rotations, exports, domain rechecks, webhook sweeps, retention), the
 * webhook deliveries' own runner, and the audit sealer's sweep, on the worker role's pools.
 */
export async function startJobs({
  opts,
  tenancy,
  platformDb,
  services,
  mailer,
  keyVault,
  ownerPool,
  auditSealer,
}: {
  opts: ComposeOptions;
  tenancy: Tenancy;
  platformDb: PlatformDb;
  services: Services;
  mailer: Mailer;
  keyVault: KeyVault;
  /** The owner role's small pool (placement moves; here, dropping a deleted organization's schema). */
  ownerPool: pg.Pool | undefined;
  auditSealer: AuditSealer;
}): Promise<Jobs> {
  const usage = usageSettings(opts.usage);
  if (!opts.workerDatabaseUrl) throw new Error('compose: workerDatabaseUrl is required to run jobs');
  const checkpointPool = createPool({
    url: opts.workerDatabaseUrl,
    max: 3,
    applicationName: 'saasready-jobs',
  });
  const stripe = stripeJobs({
    stripe: services.billingProviders.stripe,
    scan: (kind, now, after, limit) => stripeOrganizations(checkpointPool, kind, now, after, limit, opts.log),
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
  // The tenant databases a job reaches as their worker role (`workerUrl` of TENANT_DATABASES).
  const workerDatabases = Object.entries(opts.tenantDatabases?.databases ?? {}).flatMap(([key, d]) =>
    d.workerUrl === undefined ? [] : [{ key, workerUrl: d.workerUrl }],
  );
  // The sweeps' pools of the tenant databases (checkpoints, seal sweep, retention); closed by compose.
  const sweeps = openTenantDatabaseSweeps({
    controlPool: checkpointPool,
    tenantDatabases: opts.tenantDatabases,
    log: opts.log,
  });
  // Set once the aggregator below exists (the job never runs before the worker has started).
  let runAggregation: () => Promise<unknown> = async () => 0;
  const tenantAggregation = new Map<string, TenantDatabaseAggregation>(); // filled likewise, by key
  const worker = await startJobWorker({
    pool: checkpointPool,
    kek: opts.secrets.kek,
    previousKeks: opts.tenantKeys?.kekPrevious ?? [],
    log: opts.log,
    pollIntervalMs: 500,
    handlers: {
      [MAIL_TASK]: createMailJobHandler(mailer),
      // A password-reset request: the token and its mail are made here, off the request path.
      [PASSWORD_RESET_TASK]: createPasswordResetJobHandler({ db: platformDb, log: opts.log }),
      [USAGE_PARTITIONS_TASK]: async () => {
        await maintainUsagePartitions(checkpointPool, usage, opts.log);
      },
      // On the control database, then on each tenant database (tenant-database-sweeps.ts).
      [CHECKPOINT_TASK]: sweeps.everywhere('audit checkpoints', (target) =>
        createCheckpointJobHandler({
          chainsToCheckpoint: checkpointListing(target, opts.secrets.auditKey.kid),
          // Signed in the organization's tenant scope, wherever its placement is, with the same key.
          checkpointOrganization: (org) => services.audit.checkpointOrganization(org),
          log: target.log,
        }),
      ),
      ...(closeLocalPeriods
        ? {
            [PERIOD_CLOSE_TASK]: createPeriodCloseJobHandler({
              organizations: (cutoff, after, limit) =>
                billingOrganizations(checkpointPool, cutoff, after, limit, opts.log),
              aggregatedUpToNow: () =>
                aggregatedUpToNow({ workerPool: checkpointPool, runAggregation, timeoutMs: 60_000 }),
              // A `database` placement's invoice reads its tenant database's aggregates: that database's
              // aggregator too, once per run for each database holding an organization closed (why not all
              // of them up front: tenantDatabasesBarrier).
              organizationAggregated: tenantDatabasesBarrier({
                placements: tenancy.router,
                aggregators: tenantAggregation,
                timeoutMs: 60_000,
                log: opts.log,
                moveUnderWay: (orgId) => placementMoveUnderWay(checkpointPool, orgId),
              }),
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
                ...(ownerPool ? { dropPlacementSchema: (orgId) => dropSchemaAsOwner(ownerPool, orgId) } : {}),
                purgeTenantDatabase: (orgId, batch) => purgeInTenantDatabase(tenancy, opts, orgId, batch),
                moveUnderWay: (orgId) => placementMoveUnderWay(checkpointPool, orgId),
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
      // An erased person's SCIM records in tenant databases (docs/erasure.md), as each one's worker role.
      [ERASURE_TENANT_DIRECTORIES_TASK]: createTenantDirectoryErasureHandler({
        withTenant: tenancy.withTenant,
        databases: Object.entries(opts.tenantDatabases?.databases ?? {}).map(([key, { workerUrl }]) => ({
          key,
          open:
            workerUrl === undefined
              ? undefined
              : () => createPool({ url: workerUrl, max: 1, applicationName: 'saasready-erasure' }),
        })),
        placedIn: async (orgId) => {
          const target = await tenancy.router.resolve(orgId);
          return target.directory === undefined ? null : target.key;
        },
        moveUnderWay: (orgId) => placementMoveUnderWay(checkpointPool, orgId),
        isErased: async (userId) => (await findSubject(platformDb, userId))?.erased_at != null,
        log: opts.log,
      }),
      // Tenant databases' overrides of deleted flags (never applied: flag-identity.ts) are deleted hourly.
      [FLAG_OVERRIDES_SWEEP_TASK]: async () => {
        await sweepFlagOverrides({
          control: tenancy.control.pool,
          databases: workerDatabases,
          log: opts.log,
        });
      },
      // Retention (docs/gdpr.md): the extension point is the list of rules (retentionRules), applied on the
      // control database, then on each tenant database; each run's event goes to the platform chain.
      [RETENTION_TASK]: sweeps.everywhere('retention', (target) =>
        createRetentionJobHandler({
          rules: retentionRules(target, gdpr.retention),
          audit: (event) =>
            recordRetentionAudit(workerDb, `job:${RETENTION_TASK}`, retentionEventOf(target, event)),
          ...(opts.retentionNow ? { now: opts.retentionNow } : {}),
          log: target.log,
        }),
      ),
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
      (workerDatabases.length > 0 ? FLAG_OVERRIDES_SWEEP_CRONTAB : '') +
      RETENTION_CRONTAB,
  });
  // Webhook deliveries on a runner of their own (its own small pool): a POST may wait for
  // WEBHOOK_TIMEOUT_MS, and one organization's slow or black-holed receivers must not hold the slots
  // that every organization's mails, exports and key rotations run in (the main runner never takes a
  // webhooks.* job: graphile-worker only fetches the tasks a runner knows).
  const webhookJobPool = createPool({
    url: opts.workerDatabaseUrl,
    max: 3,
    applicationName: 'saasready-webhooks',
  });
  const webhookWorker = await startJobWorker({
    pool: webhookJobPool,
    kek: opts.secrets.kek,
    log: opts.log,
    pollIntervalMs: 500,
    concurrency: WEBHOOK_WORKER_CONCURRENCY,
    purge: false,
    handlers: webhookDelivery.handlers,
  });
  const allAggregators = startUsageAggregation({
    opts,
    controlPool: tenancy.control.pool,
    workerPool: checkpointPool,
    quotaNotices: services.quotaNotices,
    tenantAggregation,
  });
  runAggregation = () => allAggregators.runOnce();
  auditSealer.startSweep(sweeps.merged('the audit seal sweep', sealSweepListing));
  return {
    worker,
    jobPool: checkpointPool,
    webhookWorker,
    webhookJobPool,
    aggregator: allAggregators,
    tenantDatabaseSweeps: sweeps,
  };
}
