/**
 * The Stripe billing provider's configuration (issue 11), read by `loadConfig`. Without
 * STRIPE_SECRET_KEY the deployment bills with the built-in (local) provider.
 */

/** Where the Stripe SDK sends its requests: api.stripe.com unless STRIPE_API_BASE says otherwise. */
export interface StripeApiBase {
  host: string;
  port: number;
  protocol: 'http' | 'https';
}

/** The validated Stripe settings (present only when STRIPE_SECRET_KEY is set). */
export interface StripeConfig {
  secretKey: string;
  webhookSecret: string;
  /** STRIPE_API_BASE (tests, a proxy); undefined: Stripe's own API. */
  apiBase: StripeApiBase | undefined;
  /** STRIPE_GRACE_DAYS (default 7, 1-60): days from a failed payment to the suspension. */
  graceDays: number;
  /** STRIPE_PRICES: plan key → the Stripe price id its subscription uses. */
  planPrices: Record<string, string>;
  /** STRIPE_METER_EVENTS: meter key → the Stripe meter `event_name` its usage is pushed as. */
  meterEvents: Record<string, string>;
}

type Fail = (variable: string, message: string) => Error;

/** Plan keys: as plan-model's PLAN_KEY_RE (whether the catalog has them is checked at start). */
const PLAN_KEY = /^[a-z0-9][a-z0-9_-]{0,39}$/;
/** Meter keys: exactly usage-model's METER_KEY_RE (every key a meter can have). */
const METER_KEY = /^[a-z][a-z0-9_.-]{0,63}$/;
const STRIPE_ID = /^[A-Za-z0-9_]{1,255}$/;
/** A Stripe meter's `event_name`: at most 100 characters (Stripe's limit, and the ledger's column). */
const EVENT_NAME = /^[A-Za-z0-9_]{1,100}$/;

function read(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/** A JSON object of key → Stripe identifier (keys as plan and meter keys are written). */
function mapping(
  env: NodeJS.ProcessEnv,
  name: string,
  what: string,
  fail: Fail,
  key: RegExp,
  uniqueValues: boolean,
  value: RegExp = STRIPE_ID,
): Record<string, string> {
  const raw = read(env, name);
  if (raw === undefined) return {};
  const bad = (why: string) => fail(name, `${name} must be a JSON object of ${what}: ${why}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw bad('it is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw bad('not an object');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (!key.test(k)) throw bad(`${JSON.stringify(k.slice(0, 64))} is not a key`);
    if (typeof v !== 'string' || !value.test(v)) throw bad(`the value of "${k}" is not an identifier`);
    // Two plans on one price: a subscription to it could not say which plan it is.
    if (uniqueValues && Object.values(out).includes(v)) throw bad(`"${k}" repeats another key's value`);
    out[k] = v;
  }
  return out;
}

function apiBase(env: NodeJS.ProcessEnv, fail: Fail): StripeApiBase | undefined {
  const raw = read(env, 'STRIPE_API_BASE');
  if (raw === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (
    !url ||
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.pathname.length > 1 ||
    url.username ||
    url.password ||
    url.search ||
    url.hash
  ) {
    throw fail(
      'STRIPE_API_BASE',
      'STRIPE_API_BASE must be an http:// or https:// origin (no path, credentials, query or fragment)',
    );
  }
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  // The secret key travels in every request: in clear only to this machine (a local test server).
  if (protocol === 'http' && !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)) {
    throw fail('STRIPE_API_BASE', 'STRIPE_API_BASE must use https:// unless it is localhost or 127.0.0.1');
  }
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : protocol === 'http' ? 80 : 443,
    protocol,
  };
}

/**
 * Reads STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET (required with the key), STRIPE_API_BASE,
 * STRIPE_GRACE_DAYS, STRIPE_PRICES and STRIPE_METER_EVENTS. Messages never show a secret.
 *
 * @returns undefined without STRIPE_SECRET_KEY (the local provider; a webhook secret alone is refused)
 */
export function stripeConfig(
  env: NodeJS.ProcessEnv,
  int: (name: string, fallback: number, min: number, max: number) => number,
  fail: Fail,
): StripeConfig | undefined {
  const secretKey = read(env, 'STRIPE_SECRET_KEY');
  if (secretKey === undefined) {
    if (read(env, 'STRIPE_WEBHOOK_SECRET') !== undefined) {
      throw fail('STRIPE_SECRET_KEY', 'STRIPE_SECRET_KEY is required when STRIPE_WEBHOOK_SECRET is set');
    }
    return undefined;
  }
  if (!/^(sk|rk)_(test|live)_[A-Za-z0-9]{1,250}$/.test(secretKey)) {
    throw fail(
      'STRIPE_SECRET_KEY',
      'STRIPE_SECRET_KEY must be a Stripe secret or restricted key (sk_… or rk_…)',
    );
  }
  const webhookSecret = read(env, 'STRIPE_WEBHOOK_SECRET');
  if (webhookSecret === undefined) {
    throw fail('STRIPE_WEBHOOK_SECRET', 'STRIPE_WEBHOOK_SECRET is required when STRIPE_SECRET_KEY is set');
  }
  if (!/^whsec_[A-Za-z0-9+/=]{1,250}$/.test(webhookSecret)) {
    throw fail('STRIPE_WEBHOOK_SECRET', 'STRIPE_WEBHOOK_SECRET must be a webhook signing secret (whsec_…)');
  }
  return {
    secretKey,
    webhookSecret,
    apiBase: apiBase(env, fail),
    graceDays: int('STRIPE_GRACE_DAYS', 7, 1, 60),
    planPrices: mapping(env, 'STRIPE_PRICES', 'plan keys to Stripe price ids', fail, PLAN_KEY, true),
    meterEvents: mapping(
      env,
      'STRIPE_METER_EVENTS',
      'meter keys to Stripe meter event names',
      fail,
      METER_KEY,
      false,
      EVENT_NAME,
    ),
  };
}
