import type { FastifyRequest } from 'fastify';
import { authenticated } from '../../platform/http/auth.js';
import { AuthError } from './auth.errors.js';

/** Refuses (403 EMAIL_NOT_VERIFIED) a request whose user has not verified their email address. */
export type VerifiedEmailGate = (request: FastifyRequest) => void;

/**
 * The gate in front of what sends mail to others or mints credentials (invitations, API keys, access
 * tokens). `required` is the deployment's REQUIRE_VERIFIED_EMAIL (false: the gate lets everyone through).
 * The verified state comes with the principal (the session's or the token's cached user, dropped on every
 * instance when the user verifies): no query. An API key has no user and passes (a verified user made it).
 */
export function createVerifiedEmailGate(required: boolean): VerifiedEmailGate {
  return (request) => {
    if (!required) return;
    const who = authenticated(request);
    if (who.userId !== null && who.emailVerified !== true) {
      throw new AuthError(
        'EMAIL_NOT_VERIFIED',
        'verify your email address first: open the link we mailed you (or ask for a new one at POST /v1/auth/verify-email/resend)',
      );
    }
  };
}
