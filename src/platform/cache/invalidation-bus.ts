import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** A cache invalidation every server instance must apply. */
export type Invalidation =
  | { readonly kind: 'membership'; readonly orgId: string; readonly userId: string }
  | { readonly kind: 'organization'; readonly orgId: string }
  /** An organization now has this slug: a cached slug → id mapping of it (another organization's) is stale. */
  | { readonly kind: 'organization_slug'; readonly slug: string }
  | { readonly kind: 'user'; readonly userId: string }
  | { readonly kind: 'session'; readonly sessionId: string }
  /** A refresh-token family was revoked: its access tokens (`sid`) are refused from the next request. */
  | { readonly kind: 'token_family'; readonly userId: string; readonly familyId: string }
  /** Feature flag definitions changed: drop the definitions and every organization's flag context. */
  | { readonly kind: 'flags'; readonly deleted?: boolean }
  /** The plan catalog changed: every organization's flag context (its plan's entitlements) is stale. */
  | { readonly kind: 'plans' }
  /** An organization's flag overrides, plan or attributes changed. */
  | { readonly kind: 'flag_overrides'; readonly orgId: string }
  /** An API key was revoked: `keyId` is its public key id (`api_keys.key_id`). */
  | { readonly kind: 'api_key'; readonly keyId: string }
  /** A per-person key (a user's, an address's, an organization's) was destroyed or replaced: drop it. */
  | { readonly kind: 'personal_key'; readonly subjectId: string }
  /** An organization's data keys were rotated or destroyed: drop its unwrapped keys and active version. */
  | { readonly kind: 'tenant_keys'; readonly orgId: string }
  /** An organization's placement changed (an online move started, switched or ended): re-read it. */
  | { readonly kind: 'placement'; readonly orgId: string };

export interface InvalidationBus {
  /** Applies `msg` here at once, and on every other instance (through Redis pub/sub when configured). */
  publish(msg: Invalidation): void;
  close(): Promise<void>;
}

const CHANNEL = 'saasready:invalidate';

/**
 * In-process caches (memberships, organization policy and slugs, sessions, access-token revocation state) are
 * invalidated where the change is made;
 * with REDIS_URL, the same invalidation is broadcast so other instances drop their copies too and a role
 * change takes effect on the very next request wherever it lands.
 */
export function createInvalidationBus(opts: {
  redisUrl?: string;
  apply: (msg: Invalidation) => void;
  log?: Logger;
}): InvalidationBus {
  if (!opts.redisUrl) {
    return { publish: (msg) => opts.apply(msg), close: async () => {} };
  }
  const origin = randomUUID();
  const pub = new Redis(opts.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: false });
  const sub = new Redis(opts.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: false });
  for (const c of [pub, sub])
    c.on('error', (err: Error) => opts.log?.warn({ err: err.message }, 'invalidation bus'));
  void sub
    .subscribe(CHANNEL)
    .catch((err: Error) => opts.log?.error({ err: err.message }, 'invalidation subscribe'));
  sub.on('message', (_channel: string, raw: string) => {
    try {
      const { from, msg } = JSON.parse(raw) as { from: string; msg: Invalidation };
      if (from !== origin) opts.apply(msg);
    } catch {
      // not ours
    }
  });
  return {
    publish(msg) {
      opts.apply(msg);
      void pub.publish(CHANNEL, JSON.stringify({ from: origin, msg })).catch((err: Error) => {
        opts.log?.error({ err: err.message }, 'invalidation publish failed');
      });
    },
    async close() {
      sub.disconnect();
      await pub.quit().catch(() => pub.disconnect());
    },
  };
}
