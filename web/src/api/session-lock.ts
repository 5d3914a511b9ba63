import type { Middleware } from 'openapi-fetch';

/**
 * The API calls that replace the session cookie (switching organization, changing the password, the
 * second-factor steps): the server rotates the session token, so a request still in flight with the old
 * cookie is refused (401) and the console would read "signed out". Such a call waits for every request
 * in flight to finish and holds back new ones until it has answered (a writer lock over the cookie).
 */
const ROTATING: ReadonlySet<string> = new Set([
  '/v1/session/switch',
  '/v1/auth/password',
  '/v1/auth/two-factor/enroll/confirm',
  '/v1/auth/two-factor/disable',
  '/v1/auth/two-factor/verify',
]);

let inFlight = 0;
let idleWaiters: (() => void)[] = [];
/** Settles when the rotating call under way has answered. */
let rotation: Promise<void> | null = null;
let endRotation: (() => void) | null = null;

function settle(): void {
  inFlight--;
  if (inFlight === 0) {
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  }
}

const idle = () => (inFlight === 0 ? Promise.resolve() : new Promise<void>((r) => idleWaiters.push(r)));

export const sessionLock: Middleware = {
  async onRequest({ request, schemaPath }) {
    while (rotation) await rotation;
    if (ROTATING.has(schemaPath)) {
      rotation = new Promise<void>((resolve) => {
        endRotation = resolve;
      });
      await idle();
    } else {
      inFlight++;
    }
    return request;
  },
  onResponse({ response, schemaPath }) {
    done(schemaPath);
    return response;
  },
  onError({ error, schemaPath }) {
    done(schemaPath);
    return error instanceof Error ? error : new Error(String(error));
  },
};

function done(schemaPath: string): void {
  if (!ROTATING.has(schemaPath)) {
    settle();
    return;
  }
  const end = endRotation;
  rotation = null;
  endRotation = null;
  end?.();
}
