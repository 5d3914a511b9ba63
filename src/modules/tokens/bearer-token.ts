import type { FastifyRequest } from 'fastify';

/** JWS compact serialization: three base64url parts (the signature may be empty, and is then refused). */
const BEARER_JWT = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i;
const MAX_HEADER_LENGTH = 4096 + 7;

/**
 * The JWT of an `Authorization: Bearer <jwt>` header, or undefined when there is no such header or it
 * holds anything else (another scheme, an opaque token, several values). Nothing is verified here:
 * pass the result to `TokenService.verifyAccess`.
 */
export function bearerToken(request: FastifyRequest): string | undefined {
  const h = request.headers.authorization;
  if (typeof h !== 'string' || h.length > MAX_HEADER_LENGTH) return undefined;
  return BEARER_JWT.exec(h.trim())?.[1];
}
