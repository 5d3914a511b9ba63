import { isTenantId } from './context.js';

/**
 * Isolation invariant: cache keys are built only by the tenant key factory (this module).
 *
 * Every cache key is one of:
 * - `sr:t:<tenantId>:<namespace>[:<part>...]` — tenant-scoped data;
 * - `sr:p:<namespace>[:<part>...]` — data that is deliberately not tenant-scoped (global flag definitions…).
 *
 * Parts are `encodeURIComponent`-encoded, so an encoded part never contains ':' and no caller-supplied
 * value can shift another tenant's id or namespace into the key. The tenant id is validated as a
 * canonical lowercase UUID and the namespace against {@link NAMESPACE_RE}, so the structure of a key is
 * unambiguous and {@link tenantOfCacheKey} can recover the tenant.
 */

declare const cacheKeyBrand: unique symbol;

/**
 * A cache key built by {@link tenantCacheKey} or {@link platformCacheKey}. The brand is a module-private
 * unique symbol, so the only type-safe way to obtain one is through this module; the cache API accepts
 * nothing else.
 */
export type CacheKey = string & { readonly [cacheKeyBrand]: true };

/** Allowed namespace form: lowercase, starts with a letter, at most 64 characters. */
const NAMESPACE_RE = /^[a-z][a-z0-9_.-]{0,63}$/;

const TENANT_PREFIX = 'sr:t:';
const PLATFORM_PREFIX = 'sr:p:';
const UUID_LENGTH = 36;

/** Namespaces already checked (they are constants of the code: a handful, bounded anyway). */
const checkedNamespaces = new Set<string>();

function checkNamespace(namespace: string): void {
  if (checkedNamespaces.has(namespace)) return;
  if (typeof namespace !== 'string' || !NAMESPACE_RE.test(namespace)) {
    throw new TypeError(
      `cache namespace must match ${String(NAMESPACE_RE)}, got ${JSON.stringify(namespace)}`,
    );
  }
  if (checkedNamespaces.size < 1024) checkedNamespaces.add(namespace);
}

function encodePart(part: string | number): string {
  if (typeof part === 'number') {
    if (!Number.isFinite(part)) throw new TypeError(`cache key part must be a finite number, got ${part}`);
    return String(part);
  }
  if (typeof part !== 'string') throw new TypeError(`cache key part must be a string or number`);
  try {
    return encodeURIComponent(part);
  } catch {
    // encodeURIComponent throws URIError on lone surrogates.
    throw new TypeError('cache key part must be well-formed Unicode');
  }
}

function build(prefix: string, namespace: string, parts: readonly (string | number)[]): CacheKey {
  checkNamespace(namespace);
  let key = prefix + namespace;
  for (const part of parts) key += ':' + encodePart(part);
  return key as CacheKey;
}

/**
 * Builds the cache key for tenant-scoped data: `sr:t:<tenantId>:<namespace>:<part1>:<part2>…`.
 *
 * Each part is `encodeURIComponent`-encoded (numbers must be finite and render as `String(n)`, so `1`
 * and `'1'` produce the same key).
 *
 * @param tenantId - the tenant the data belongs to; must be a canonical lowercase UUID.
 * @param namespace - what kind of data (e.g. `projects.by-id`); must match `/^[a-z][a-z0-9_.-]{0,63}$/`.
 * @param parts - identifying values within the namespace; any string, including ':' and '%'.
 * @returns the branded key.
 * @throws TypeError when the tenant id, namespace or a part is invalid.
 */
export function tenantCacheKey(tenantId: string, namespace: string, ...parts: (string | number)[]): CacheKey {
  if (!isTenantId(tenantId)) {
    throw new TypeError(`tenant id must be a canonical lowercase UUID, got ${JSON.stringify(tenantId)}`);
  }
  return build(`${TENANT_PREFIX}${tenantId}:`, namespace, parts);
}

/**
 * `tenantCacheKey(tenantId, namespace)` or `tenantCacheKey(tenantId, namespace, part)`, remembered: for
 * keys built on every request (an organization's policy, a user's membership). The same arguments give
 * the same key as the factory builds (it is the factory's key, built once, validated once), and the
 * same string object each time, whose hash a cache lookup then need not compute again. At most `max`
 * keys are kept (all are forgotten when it is reached).
 *
 * @throws TypeError as {@link tenantCacheKey} does, for arguments not remembered.
 */
export function tenantCacheKeyMemo(
  namespace: string,
  max = 10_000,
): (tenantId: string, part?: string) => CacheKey {
  checkNamespace(namespace);
  const memo = new Map<string, Map<string, CacheKey>>();
  let size = 0;
  return (tenantId, part) => {
    // No part and an empty part are different keys: only the first is remembered (under '').
    if (part === '') return tenantCacheKey(tenantId, namespace, part);
    const p = part ?? '';
    const known = memo.get(tenantId)?.get(p);
    if (known !== undefined) return known;
    const key =
      part === undefined ? tenantCacheKey(tenantId, namespace) : tenantCacheKey(tenantId, namespace, part);
    if (size >= max) {
      memo.clear();
      size = 0;
    }
    let inner = memo.get(tenantId);
    if (!inner) memo.set(tenantId, (inner = new Map<string, CacheKey>()));
    inner.set(p, key);
    size++;
    return key;
  };
}

/**
 * Builds the cache key for data that is deliberately NOT tenant-scoped (e.g. global feature-flag
 * definitions): `sr:p:<namespace>:<part1>:…`. Never use it for anything read on behalf of a tenant.
 *
 * @param namespace - must match `/^[a-z][a-z0-9_.-]{0,63}$/`.
 * @param parts - identifying values, encoded as in {@link tenantCacheKey}.
 * @returns the branded key.
 * @throws TypeError when the namespace or a part is invalid.
 */
export function platformCacheKey(namespace: string, ...parts: (string | number)[]): CacheKey {
  return build(PLATFORM_PREFIX, namespace, parts);
}

/**
 * Recovers the tenant a key belongs to.
 *
 * @param key - a key from {@link tenantCacheKey} or {@link platformCacheKey}.
 * @returns the tenant id, or `null` for a platform key.
 * @throws TypeError when the string is not a well-formed cache key (e.g. forged with a cast).
 */
export function tenantOfCacheKey(key: CacheKey): string | null {
  if (typeof key === 'string') {
    if (key.startsWith(TENANT_PREFIX)) {
      const tenantId = key.slice(TENANT_PREFIX.length, TENANT_PREFIX.length + UUID_LENGTH);
      const rest = key.slice(TENANT_PREFIX.length + UUID_LENGTH);
      if (isTenantId(tenantId) && rest.startsWith(':') && NAMESPACE_RE.test(rest.slice(1).split(':')[0]!)) {
        return tenantId;
      }
    } else if (key.startsWith(PLATFORM_PREFIX)) {
      if (NAMESPACE_RE.test(key.slice(PLATFORM_PREFIX.length).split(':')[0]!)) return null;
    }
  }
  throw new TypeError(`not a well-formed cache key: ${JSON.stringify(key)}`);
}
