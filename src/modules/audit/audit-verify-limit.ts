import { AppError } from '../../platform/errors.js';
import { createThrottle } from '../auth/throttle.js';
import { AuditError } from './audit.errors.js';

/** Full verifications of one organization's chain a process starts per minute, at most. */
export const AUDIT_VERIFICATIONS_PER_MINUTE = 5;
/** Exports of one organization's audit log a process starts per minute, at most. */
export const AUDIT_EXPORTS_PER_MINUTE = 10;

/** Counts one new read of organization `org`'s whole chain; throws 429 RATE_LIMITED over the limit. */
export type AuditScanLimit = (org: string) => void;
/** The limit of `GET /v1/audit-logs/verify`. */
export type AuditVerifyLimit = AuditScanLimit;

/**
 * A rate limit of a route that reads an organization's whole chain (verify, export): a process starts at
 * most `perMinute` of them per organization in a fixed window of one minute, on the platform's throttle
 * (`createThrottle`, in-process counters: N instances allow up to N× the budget). Over it the answer is
 * 429 RATE_LIMITED with `Retry-After` (the seconds until the window ends), as an API key's rate limit
 * answers. `what` names the reads in the message ("audit log verifications").
 */
function createAuditScanLimit(name: string, what: string, perMinute: number): AuditScanLimit {
  const throttle = createThrottle(name, { organization: { limit: perMinute, windowMs: 60_000 } });
  return (org) => {
    try {
      throttle.acquire([{ kind: 'organization', value: org }]);
    } catch (err) {
      const retryAfterSeconds = err instanceof AppError ? err.details?.retryAfterSeconds : undefined;
      if (typeof retryAfterSeconds !== 'number') throw err;
      throw new AuditError(
        'RATE_LIMITED',
        `too many ${what}: at most ${perMinute} per minute per organization`,
        { retryAfterSeconds },
      );
    }
  };
}

/**
 * The rate limit of `GET /v1/audit-logs/verify` (each verification reads the whole chain, twice when it
 * finds a break). Callers that share a verification already running (audit.service.ts) spend nothing.
 */
export const createAuditVerifyLimit = (perMinute = AUDIT_VERIFICATIONS_PER_MINUTE): AuditScanLimit =>
  createAuditScanLimit('audit.verify', 'audit log verifications', perMinute);

/**
 * The rate limit of `GET /v1/audit-logs/export` (an export without filters reads, and opens the personal
 * fields of, every event of the chain). Counted when the export starts, before anything is sent.
 */
export const createAuditExportLimit = (perMinute = AUDIT_EXPORTS_PER_MINUTE): AuditScanLimit =>
  createAuditScanLimit('audit.export', 'audit log exports', perMinute);
