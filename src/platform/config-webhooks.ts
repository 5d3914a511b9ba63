import { isIP } from 'node:net';

/** Webhook delivery settings (WEBHOOK_* variables), read by `loadConfig`. */
export interface WebhookConfig {
  /** WEBHOOK_ALLOWED_CIDRS: ranges allowed although private/reserved (SSRF policy exceptions). */
  allowedCidrs: string[];
  /** WEBHOOK_ALLOW_HTTP (default false): endpoints may use http:// URLs (otherwise https:// only). */
  allowHttp: boolean;
  /** WEBHOOK_RETRY_SCHEDULE: seconds to wait before each retry after the first attempt. */
  retryScheduleSeconds: number[];
  /** WEBHOOK_TIMEOUT_MS (default 10000): the whole exchange of one attempt. */
  timeoutMs: number;
  /** WEBHOOK_DISABLE_AFTER_DAYS (default 5): an endpoint failing this long without a success is disabled. */
  disableAfterDays: number;
  /**
   * WEBHOOK_SECRET_OVERLAP_HOURS (default 24, 0–168): after an endpoint's secret is rotated, deliveries are
   * signed with the new AND the previous secret this long, so receivers can switch without losing any.
   */
  secretOverlapHours: number;
}

/** Standard Webhooks' suggested schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (8 attempts, ~27.6 h). */
export const DEFAULT_RETRY_SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000];

type Fail = (variable: string, message: string) => Error;
type Int = (name: string, fallback: number, min: number, max: number) => number;

function read(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function cidrOk(entry: string): boolean {
  const [a = '', p, extra] = entry.split('/');
  const family = isIP(a);
  if (family === 0 || extra !== undefined) return false;
  return p === undefined || (/^\d{1,3}$/.test(p) && Number(p) <= (family === 6 ? 128 : 32));
}

export function webhookConfig(env: NodeJS.ProcessEnv, int: Int, fail: Fail): WebhookConfig {
  const cidrs = (read(env, 'WEBHOOK_ALLOWED_CIDRS') ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  for (const c of cidrs) {
    if (!cidrOk(c)) {
      throw fail(
        'WEBHOOK_ALLOWED_CIDRS',
        `WEBHOOK_ALLOWED_CIDRS must be a comma-separated list of IP addresses or CIDRs (bad entry ${JSON.stringify(c.slice(0, 60))})`,
      );
    }
  }
  const http = read(env, 'WEBHOOK_ALLOW_HTTP') ?? 'false';
  if (http !== 'true' && http !== 'false') {
    throw fail('WEBHOOK_ALLOW_HTTP', 'WEBHOOK_ALLOW_HTTP must be one of true, false');
  }
  const rawSchedule = read(env, 'WEBHOOK_RETRY_SCHEDULE');
  let schedule = DEFAULT_RETRY_SCHEDULE;
  if (rawSchedule !== undefined) {
    const parts = rawSchedule.split(',').map((s) => s.trim());
    const ok =
      parts.length >= 1 &&
      parts.length <= 20 &&
      parts.every((s) => /^\d{1,6}$/.test(s) && Number(s) >= 1 && Number(s) <= 172_800);
    if (!ok) {
      throw fail(
        'WEBHOOK_RETRY_SCHEDULE',
        'WEBHOOK_RETRY_SCHEDULE must be 1 to 20 comma-separated delays in seconds, each from 1 to 172800',
      );
    }
    schedule = parts.map(Number);
  }
  return {
    allowedCidrs: cidrs,
    allowHttp: http === 'true',
    retryScheduleSeconds: schedule,
    timeoutMs: int('WEBHOOK_TIMEOUT_MS', 10_000, 1000, 60_000),
    disableAfterDays: int('WEBHOOK_DISABLE_AFTER_DAYS', 5, 1, 60),
    secretOverlapHours: int('WEBHOOK_SECRET_OVERLAP_HOURS', 24, 0, 168),
  };
}
