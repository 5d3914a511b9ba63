import { AppError } from '../../platform/errors.js';
import { createThrottle } from '../auth/throttle.js';
import { AuditError } from './audit.errors.js';

/** Full verifications of one organization's chain a process starts per minute, at most. */
export const AUDIT_VERIFICATIONS_PER_MINUTE = 5;

/** Counts one new verification of organization `org`; throws 429 RATE_LIMITED over the limit. */
export type AuditVerifyLimit = (org: string) => void;

/**
 * The rate limit of `GET /v1/audit-logs/verify`: each verification reads the whole chain, so a process
 * starts at most `perMinute` of them per organization in a fixed window of one minute, on the platform's
 * throttle (`createThrottle`, in-process counters: N instances allow up to N× the budget). Over it the
 * answer is 429 RATE_LIMITED with `Retry-After` (the seconds until the window ends), as an API key's
 * rate limit answers. Callers that share a verification already running (audit.service.ts) spend nothing.
 */
export function createAuditVerifyLimit(perMinute = AUDIT_VERIFICATIONS_PER_MINUTE): AuditVerifyLimit {
  const throttle = createThrottle('audit.verify', { organization: { limit: perMinute, windowMs: 60_000 } });
  return (org) => {
    try {
      throttle.acquire([{ kind: 'organization', value: org }]);
    } catch (err) {
      const retryAfterSeconds = err instanceof AppError ? err.details?.retryAfterSeconds : undefined;
      if (typeof retryAfterSeconds !== 'number') throw err;
      throw new AuditError(
        'RATE_LIMITED',
        `too many audit log verifications: at most ${perMinute} per minute per organization`,
        { retryAfterSeconds },
      );
    }
  };
}
