/** The metering settings (environment: see src/platform/config.ts), with their defaults. */
export interface UsageSettings {
  /** USAGE_LATENESS_DAYS (default 7): events older than this are refused (TOO_LATE). */
  latenessDays?: number;
  /** USAGE_RETENTION_DAYS (default 400): raw events are kept this long (daily partitions dropped). */
  retentionDays?: number;
  /** How often the aggregator runs (default 5 s) and recorded usage is flushed (default 5 s). */
  aggregateEveryMs?: number;
  recordFlushMs?: number;
}

export interface ResolvedUsageSettings {
  latenessMs: number;
  futureMs: number;
  retentionDays: number;
  aheadDays: number;
  aggregateEveryMs: number;
  recordFlushMs: number;
}

const DAY = 86_400_000;

export function usageSettings(s: UsageSettings | undefined): ResolvedUsageSettings {
  return {
    latenessMs: (s?.latenessDays ?? 7) * DAY,
    futureMs: 5 * 60_000,
    retentionDays: s?.retentionDays ?? 400,
    aheadDays: 7,
    aggregateEveryMs: s?.aggregateEveryMs ?? 5000,
    recordFlushMs: s?.recordFlushMs ?? 5000,
  };
}
