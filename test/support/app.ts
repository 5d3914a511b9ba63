import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { allPermissions } from '../../src/platform/authz/permissions.js';
import type { ResolvedTenant, TenantResolver } from '../../src/platform/http/auth.js';
import { createLogger } from '../../src/platform/logger.js';
import { compose, type Composition } from '../../src/app/compose.js';
import { testDb } from './tenancy.js';

/** Captured log lines of a test app, parsed. */
export type LogLines = Record<string, unknown>[];

/**
 * A resolver for tests only: bearer tokens minted by `issue()` map to a tenant. It stands in for the
 * identity module's verified sources; it lives under test/ and is never wired in production.
 */
export function createTokenResolver(): { resolver: TenantResolver; issue: (tenantId: string) => string } {
  const tokens = new Map<string, ResolvedTenant>();
  return {
    resolver: async (req) => {
      const h = req.headers.authorization;
      const token = typeof h === 'string' && h.startsWith('Bearer ') ? h.slice(7) : undefined;
      return (token && tokens.get(token)) || null;
    },
    issue: (tenantId) => {
      const token = randomBytes(16).toString('hex');
      tokens.set(token, {
        tenantId,
        principal: { kind: 'user', userId: `user-${token.slice(0, 6)}` },
        permissions: new Set(allPermissions),
      });
      return token;
    },
  };
}

/** The real composition on the test database, with logs captured. */
export async function buildTestApp(
  opts: { resolver?: TenantResolver; bodyLimitBytes?: number } = {},
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
    resolver: opts.resolver,
  });
  return Object.assign(composition, { logs });
}
