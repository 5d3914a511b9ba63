import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { allPermissions } from '../../src/platform/authz/permissions.js';
import type { Authenticated, Authenticator, ResolvedTenant } from '../../src/platform/http/auth.js';
import { createLogger } from '../../src/platform/logger.js';
import { compose, type Composition } from '../../src/app/compose.js';
import { testDb } from './tenancy.js';

/** Captured log lines of a test app, parsed. */
export type LogLines = Record<string, unknown>[];

/**
 * An authenticator for tests only: bearer tokens minted by `issue()` map to a user and a tenant. It stands
 * in for the identity module's verified sources; it lives under test/ and is never wired in production.
 */
export function createTestAuthenticator(): {
  authenticator: Authenticator & { delayMs?: number };
  issue: (tenantId: string, opts?: { permissions?: ResolvedTenant['permissions']; role?: string }) => string;
} {
  const tokens = new Map<string, { who: Authenticated; tenant: ResolvedTenant }>();
  const lookup = (req: FastifyRequest) => {
    const h = req.headers.authorization;
    const token = typeof h === 'string' && h.startsWith('Bearer ') ? h.slice(7) : undefined;
    return token ? tokens.get(token) : undefined;
  };
  const authenticator: Authenticator & { delayMs?: number } = {
    async authenticate(req) {
      if (authenticator.delayMs) await new Promise((r) => setTimeout(r, authenticator.delayMs));
      return lookup(req)?.who ?? null;
    },
    async resolveTenant(req) {
      return lookup(req)?.tenant ?? null;
    },
  };
  return {
    authenticator,
    issue: (tenantId, opts = {}) => {
      const token = randomBytes(16).toString('hex');
      const userId = `user-${token.slice(0, 6)}`;
      tokens.set(token, {
        who: { principal: { kind: 'user', userId }, userId, sessionId: null, isPlatformAdmin: false },
        tenant: {
          tenantId,
          role: opts.role ?? 'owner',
          permissions: opts.permissions ?? new Set(allPermissions),
        },
      });
      return token;
    },
  };
}

/** The real composition on the test database, with logs captured. */
export async function buildTestApp(
  opts: { authenticator?: Authenticator; bodyLimitBytes?: number } = {},
): Promise<Composition & { logs: LogLines }> {
  const logs: LogLines = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n'))
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const composition = await compose({
    databaseUrl: testDb().url,
    poolSize: 4,
    log: createLogger({ level: 'info', destination }),
    bodyLimitBytes: opts.bodyLimitBytes ?? 1024 * 1024,
    trustProxy: false,
    version: 'test',
    authenticator: opts.authenticator,
  });
  return Object.assign(composition, { logs });
}
