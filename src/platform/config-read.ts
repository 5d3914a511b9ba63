/** The primitives every part of `loadConfig` reads the environment with, and the error they throw. */

/** A bad or missing environment variable. The message is one line and never contains a secret value. */
export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(message);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

/** Quotes a (non-secret) value for an error message: single line, bounded length. */
export function shown(value: string): string {
  const cut = value.length > 60 ? `${value.slice(0, 60)}…` : value;
  return JSON.stringify(cut);
}

/** Reads a variable; empty or whitespace-only counts as unset. */
export function read(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

export function int(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(name, `${name} must be an integer from ${min} to ${max} (got ${shown(raw)})`);
  }
  return n;
}

export function oneOf<T extends string>(
  env: NodeJS.ProcessEnv,
  name: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `${name} must be one of ${allowed.join(', ')} (got ${shown(raw)})`);
  }
  return raw as T;
}

/** Validates a URL whose value may hold a password: the message shows at most its scheme. */
export function secretUrl(name: string, raw: string, schemes: readonly string[], needsUser: boolean): string {
  const expected = `${name} must be a ${schemes.map((s) => `${s}//`).join(' or ')} URL`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, `${expected} (the value does not parse as a URL)`);
  }
  if (!schemes.includes(url.protocol)) {
    throw new ConfigError(name, `${expected} (got scheme ${shown(url.protocol)})`);
  }
  if (needsUser && !url.username) throw new ConfigError(name, `${expected} with a user name (none given)`);
  return raw;
}
