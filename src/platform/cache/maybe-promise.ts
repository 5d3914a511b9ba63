/**
 * A value, or the promise of one. What request-path lookups answer: the value itself on a cache hit (no
 * promise, no microtask, no async-context hook), a promise only when they must go to the database.
 */
export type MaybePromise<T> = T | Promise<T>;

/** Whether `value` is still pending (a promise) rather than already known. */
export function isPending<T>(value: MaybePromise<T>): value is Promise<T> {
  return value instanceof Promise;
}

/**
 * `fn(value)` at once when `value` is known, else once it settles: a chain that stays synchronous as long
 * as every step hits its cache. A synchronous throw of `fn` propagates synchronously. (Not named `then`:
 * a module exporting `then` is a thenable, and `import()` of it would call that function.)
 */
export function andThen<T, U>(value: MaybePromise<T>, fn: (v: T) => MaybePromise<U>): MaybePromise<U> {
  return value instanceof Promise ? value.then(fn) : fn(value);
}
