/**
 * GDPR export and retention settings (issue 12), read by `loadConfig`. Every value has a documented
 * default (README "Configuration", docs/gdpr.md); a bad one stops the process naming the variable.
 */

/** Reads an integer variable within bounds, or its default (the `int` of config-read.ts). */
type IntReader = (name: string, fallback: number, min: number, max: number) => number;

/** How long each kind of data is kept once it is of no further use (the retention job deletes it after). */
export interface RetentionDays {
  /** Sessions ended (revoked or expired) more than this many days ago. */
  sessions: number;
  /** Refresh tokens expired more than this many days ago (used or revoked ones stay until they expire). */
  refreshTokens: number;
  /** Verification and password-reset links used or expired more than this many days ago. */
  emailTokens: number;
  /** Invitations accepted, or expired (pending or revoked), more than this many days ago; also the
   *  per-mail rows counting invitation sends older than that. */
  invitations: number;
  /** Idempotency keys older than this (a key is honoured for 24 hours). */
  idempotencyKeys: number;
  /** Webhook deliveries that succeeded or went dead (with their attempts) more than this many days ago,
   *  and outbox events dispatched before that whose deliveries are gone. */
  webhooks: number;
}

export interface GdprConfig {
  /** EXPORT_LINK_TTL_SECONDS (default 600, 60-3600): how long a signed download link works. */
  linkTtlSeconds: number;
  /** EXPORT_RETENTION_HOURS (default 168, 1-720): how long a finished archive is kept. */
  archiveRetentionHours: number;
  /** EXPORT_MAX_BYTES (default 104857600, 1 MiB - 1 GiB): the largest archive an export may produce. */
  maxArchiveBytes: number;
  retention: RetentionDays;
}

export const GDPR_DEFAULTS: GdprConfig = {
  linkTtlSeconds: 600,
  archiveRetentionHours: 168,
  maxArchiveBytes: 104_857_600,
  retention: {
    sessions: 30,
    refreshTokens: 30,
    emailTokens: 7,
    invitations: 90,
    idempotencyKeys: 7,
    webhooks: 30,
  },
};

/** Validates the GDPR variables. */
export function gdprConfig(int: IntReader): GdprConfig {
  const d = GDPR_DEFAULTS;
  return {
    linkTtlSeconds: int('EXPORT_LINK_TTL_SECONDS', d.linkTtlSeconds, 60, 3600),
    archiveRetentionHours: int('EXPORT_RETENTION_HOURS', d.archiveRetentionHours, 1, 720),
    maxArchiveBytes: int('EXPORT_MAX_BYTES', d.maxArchiveBytes, 1_048_576, 1_073_741_824),
    retention: {
      sessions: int('RETENTION_SESSIONS_DAYS', d.retention.sessions, 1, 3650),
      refreshTokens: int('RETENTION_REFRESH_TOKENS_DAYS', d.retention.refreshTokens, 1, 3650),
      emailTokens: int('RETENTION_EMAIL_TOKENS_DAYS', d.retention.emailTokens, 1, 3650),
      invitations: int('RETENTION_INVITATIONS_DAYS', d.retention.invitations, 1, 3650),
      idempotencyKeys: int('RETENTION_IDEMPOTENCY_KEYS_DAYS', d.retention.idempotencyKeys, 1, 365),
      webhooks: int('RETENTION_WEBHOOKS_DAYS', d.retention.webhooks, 1, 3650),
    },
  };
}
