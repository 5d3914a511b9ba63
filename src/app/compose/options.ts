import type { Logger } from 'pino';
import type { RoleNames } from '../../platform/db/bootstrap.js';
import type { Authenticator } from '../../platform/http/auth.js';
import type { SecurityHeaderOptions } from '../../platform/http/security-headers.js';
import type { TenantSetterKind } from '../../platform/tenancy/tenant-setters.js';
import type { Secrets } from '../../platform/secrets.js';
import type { RetiredAuditKey } from '../../platform/config.js';
import type { StripeConfig } from '../../platform/config-stripe.js';
import type { SocialSignInConfig } from '../../platform/config-social.js';
import type { TenantDatabasesConfig } from '../../platform/config-tenant-databases.js';
import type { UsageSettings } from '../../modules/usage/usage-settings.js';
import type { KmsSettings } from '../../platform/tenant-keys/kms-select.js';
import type { WebhookConfig } from '../../platform/config-webhooks.js';
import type { SsoOptions } from '../../modules/sso/sso.module.js';
import type { WebhookDeliveryDeps } from '../../modules/webhooks/webhook-delivery.js';
import type { GdprConfig } from '../../platform/config-gdpr.js';
import type { ScimRateLimits } from '../../modules/scim/scim-rate-limit.js';

/** What the composition root (compose.ts) is built from: main.ts derives it from the configuration. */
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
  /** `/scim/v2` requests per minute per token and per organization (default SCIM_RATE_LIMIT_DEFAULTS). */
  readonly scimRateLimit?: ScimRateLimits;
  /** The retention job's clock (tests). */
  readonly retentionNow?: () => Date;
  /** Single sign-on: http issuers (development, tests), the DNS TXT resolver, more protocols (docs/sso.md). */
  readonly sso?: SsoOptions;
  /** Replaces the real authenticator (tests of the tenancy core only). */
  readonly authenticator?: Authenticator;
}
