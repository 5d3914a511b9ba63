import { TenancyError } from './errors.js';

interface Waiter {
  grant(): void;
  refuse(err: Error): void;
}

/**
 * The count of connections open to tenant databases, across all their pools: a connection is opened
 * only under a permit and gives it back when its socket has closed, so the number open never exceeds
 * `cap`. Why a counter and not per-pool sizes: databases are many and mostly idle, and a fixed share
 * each would either waste the server's connection slots or starve a busy database.
 *
 * Waiting is bounded: a request without a free permit waits at most its timeout, then fails with
 * TENANT_DATABASE_BUSY. Waiters are served first come, first served. The queue itself is bounded by
 * the connections pools may be opening at once (their sizes), not by the number of requests.
 */
export class ConnectionPermits {
  readonly cap: number;
  #inUse = 0;
  #peak = 0;
  #closed = false;
  readonly #waiters: Waiter[] = [];
  readonly #drained: (() => void)[] = [];
  /** Called when a request starts waiting: the owner closes idle connections to free permits. */
  readonly #onPressure: () => void;

  constructor(cap: number, onPressure: () => void) {
    if (!Number.isSafeInteger(cap) || cap < 1) throw new RangeError('the connection cap must be at least 1');
    this.cap = cap;
    this.#onPressure = onPressure;
  }

  /** Permits held: connections open or being opened. */
  get inUse(): number {
    return this.#inUse;
  }
  /** The most permits ever held at once. */
  get peak(): number {
    return this.#peak;
  }
  /** Requests waiting for a permit. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** Takes a permit, waiting at most `timeoutMs` for one (then TENANT_DATABASE_BUSY). */
  acquire(timeoutMs: number): Promise<void> {
    if (this.#closed) return Promise.reject(closedError());
    if (this.#inUse < this.cap) {
      this.#inUse++;
      if (this.#inUse > this.#peak) this.#peak = this.#inUse;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        reject(
          new TenancyError(
            'TENANT_DATABASE_BUSY',
            `no tenant database connection free within ${timeoutMs} ms: all ${this.cap} (TENANT_DB_MAX_CONNECTIONS) are in use`,
          ),
        );
      }, timeoutMs);
      timer.unref();
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(timer);
          resolve();
        },
        refuse: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.#waiters.push(waiter);
      this.#onPressure();
    });
  }

  /** Gives a permit back: to the first waiter if there is one (the count stays), else to the pool. */
  release(): void {
    const next = this.#waiters.shift();
    if (next) next.grant();
    else if (--this.#inUse === 0) for (const done of this.#drained.splice(0)) done();
  }

  /** Resolves once no permit is held: every connection's socket has closed. */
  drained(): Promise<void> {
    if (this.#inUse === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  /** Refuses every waiter and every later request (shutdown). Permits held are still released. */
  close(): void {
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) waiter.refuse(closedError());
  }
}

function closedError(): TenancyError {
  return new TenancyError('TENANT_DATABASES_CLOSED', 'the tenant database pools are closed');
}
