import { AppError } from '../../platform/errors.js';
import { createThrottle } from '../auth/throttle.js';
import { ScimError } from './scim.errors.js';

/** SCIM requests allowed per minute (SCIM_RATE_LIMIT_PER_MINUTE, SCIM_ORG_RATE_LIMIT_PER_MINUTE). */
export interface ScimRateLimits {
  /** Per SCIM token (default 600). */
  readonly perToken: number;
  /** Per organization, all its tokens together (default 1200: two tokens during a switch-over). */
  readonly perOrganization: number;
}

export const SCIM_RATE_LIMIT_DEFAULTS: ScimRateLimits = { perToken: 600, perOrganization: 1200 };

/** Counts one request of a token of an organization; throws a SCIM 429 (with Retry-After) over a limit. */
export type ScimRateLimiter = (req: { tenantId: string; scimTokenId: string }) => void;

/**
 * The `/scim/v2` rate limit: a fixed window of one minute per token and per organization, on the
 * platform's throttle (`createThrottle`: check and count in one synchronous step, so parallel requests
 * cannot overshoot; in-process counters, so N instances allow up to N× the budget). Every authenticated
 * request counts, refused ones included; the answer over a limit is 429 with a SCIM error body and
 * `Retry-After` (the seconds until the window that ran out ends).
 */
export function createScimRateLimiter(limits: ScimRateLimits = SCIM_RATE_LIMIT_DEFAULTS): ScimRateLimiter {
  const throttle = createThrottle('scim.requests', {
    token: { limit: limits.perToken, windowMs: 60_000 },
    organization: { limit: limits.perOrganization, windowMs: 60_000 },
  });
  const detail =
    `too many SCIM requests: at most ${limits.perToken} per minute per token and ` +
    `${limits.perOrganization} per minute per organization`;
  return (req) => {
    try {
      throttle.acquire([
        { kind: 'token', value: req.scimTokenId },
        { kind: 'organization', value: req.tenantId },
      ]);
    } catch (err) {
      const retry = err instanceof AppError ? err.details?.retryAfterSeconds : undefined;
      if (typeof retry === 'number') throw new ScimError(429, detail, undefined, retry);
      throw err;
    }
  };
}
