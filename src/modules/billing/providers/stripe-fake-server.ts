/**
 * TEST SUPPORT ONLY (never wired in production): a local HTTP server that answers the few Stripe API
 * endpoints the Stripe provider uses, so the tests drive the REAL `stripe` SDK (pointed at it with its
 * `host`/`port`/`protocol` options, or STRIPE_API_BASE) instead of a mock of it. Stripe cannot be
 * reached from the test machines.
 *
 * Endpoints: `POST /v1/customers`, `DELETE /v1/customers/:id` (404 `resource_missing` once gone; its
 * subscriptions cancelled), `POST /v1/subscriptions`, `GET /v1/subscriptions/:id`,
 * `POST /v1/billing/meter_events` (deduplicated by `identifier`, as Stripe does: a repeat answers 400
 * `duplicate_meter_event`, the code Stripe's API reference names, and is not counted), `POST /v1/checkout/sessions`,
 * `GET /v1/checkout/sessions/:id`, `POST /v1/checkout/sessions/:id/expire` (an open session only),
 * `POST /v1/billing_portal/sessions`. Every POST honours `Idempotency-Key` as Stripe does: the same key
 * with the same parameters replays the first answer; with other parameters it answers 400
 * `idempotency_error`. Bodies are form-encoded as the SDK sends them (`a[b][0][c]=v`). Requests without
 * the configured secret key answer 401.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';

type Form = { [k: string]: string | Form | Form[] | string[] };

/** Decodes `a[b][0][c]=v&…` into nested objects (numeric segments as object keys; see `list`). */
export function parseForm(body: string): Form {
  const out: Form = {};
  for (const pair of new URLSearchParams(body)) {
    const [rawKey, value] = pair;
    const parts = rawKey.replace(/\]/g, '').split('[');
    let node = out as Record<string, unknown>;
    parts.forEach((part, i) => {
      if (i === parts.length - 1) node[part] = value;
      else node = (node[part] ??= {}) as Record<string, unknown>;
    });
  }
  return out;
}

/** An object whose keys are `0`, `1`, … as the list it encodes. */
const list = (v: unknown): Record<string, unknown>[] =>
  v && typeof v === 'object' ? (Object.values(v) as Record<string, unknown>[]) : [];

export interface FakeMeterEvent {
  identifier: string;
  event_name: string;
  payload: Record<string, string>;
  timestamp: number;
}

export interface StripeFakeServer {
  readonly port: number;
  /** SDK options that point `new Stripe(key, …)` here. */
  readonly sdkOptions: { host: string; port: number; protocol: 'http' };
  readonly customers: Map<string, Record<string, unknown>>;
  /** Customers deleted through `DELETE /v1/customers/:id`. */
  readonly deletedCustomers: Set<string>;
  readonly subscriptions: Map<string, Record<string, unknown>>;
  /** Meter events accepted, by identifier (a repeated identifier is refused and not added). */
  readonly meterEvents: Map<string, FakeMeterEvent>;
  /** Every meter event request, accepted or refused as a duplicate. */
  meterEventRequests: number;
  readonly checkoutSessions: Record<string, unknown>[];
  readonly portalSessions: Record<string, unknown>[];
  /** Requests received, `METHOD path`. */
  readonly requests: string[];
  /** The sum of accepted meter event values of a customer and event name. */
  meterTotal(customer: string, eventName: string): number;
  /** Completes an open Checkout session (the customer paid in it). */
  completeCheckout(sessionId: string): void;
  /** Requests answered 400 `idempotency_error` (a key reused with other parameters). */
  readonly idempotencyErrors: number;
  /** Makes the next `n` requests to `path` fail with a 500 (Stripe unavailable). */
  failNext(path: string, n?: number): void;
  /** Makes the next `n` requests to `path` answer 400 `invalid_request_error` (a refusal for good). */
  refuseNext(path: string, n?: number): void;
  close(): Promise<void>;
}

const id = (prefix: string) => `${prefix}_${randomBytes(8).toString('hex')}`;

/** Starts the fake on 127.0.0.1 (a free port). `secretKey`: the key the SDK must present. */
export async function startStripeFake(secretKey: string): Promise<StripeFakeServer> {
  const customers = new Map<string, Record<string, unknown>>();
  const deletedCustomers = new Set<string>();
  const subscriptions = new Map<string, Record<string, unknown>>();
  const meterEvents = new Map<string, FakeMeterEvent>();
  const idempotent = new Map<string, { body: string; status: number; answer: unknown }>();
  const failures = new Map<string, number>();
  const refusals = new Map<string, number>();
  const state = {
    meterEventRequests: 0,
    checkoutSessions: [] as Record<string, unknown>[],
    portalSessions: [] as Record<string, unknown>[],
    requests: [] as string[],
    idempotencyErrors: 0,
  };
  const now = () => Math.floor(Date.now() / 1000);

  function route(method: string, path: string, form: Form): [number, unknown] {
    if (method === 'POST' && path === '/v1/customers') {
      const c = {
        id: id('cus'),
        object: 'customer',
        created: now(),
        name: form.name ?? null,
        email: form.email ?? null,
        metadata: form.metadata ?? {},
      };
      customers.set(c.id, c);
      return [200, c];
    }
    const cus = /^\/v1\/customers\/([A-Za-z0-9_]+)$/.exec(path);
    if (method === 'DELETE' && cus) {
      // As Stripe: the customer is gone (a later request answers 404 resource_missing) and its
      // subscriptions are cancelled at once.
      if (!customers.delete(cus[1]!)) return [404, missing('customer')[1]];
      deletedCustomers.add(cus[1]!);
      for (const s of subscriptions.values()) if (s.customer === cus[1]) s.status = 'canceled';
      return [200, { id: cus[1], object: 'customer', deleted: true }];
    }
    if (method === 'POST' && path === '/v1/subscriptions') {
      if (typeof form.customer !== 'string' || !customers.has(form.customer)) return missing('customer');
      const s = {
        id: id('sub'),
        object: 'subscription',
        created: now(),
        customer: form.customer,
        status: 'active',
        items: {
          object: 'list',
          data: list(form.items).map((i) => ({ id: id('si'), price: { id: i.price } })),
        },
        metadata: form.metadata ?? {},
      };
      subscriptions.set(s.id, s);
      return [200, s];
    }
    const sub = /^\/v1\/subscriptions\/([A-Za-z0-9_]+)$/.exec(path);
    if (method === 'GET' && sub) {
      const s = subscriptions.get(sub[1]!);
      return s ? [200, s] : missing('subscription');
    }
    if (method === 'POST' && path === '/v1/billing/meter_events') {
      const identifier = typeof form.identifier === 'string' ? form.identifier : id('mev');
      if (meterEvents.has(identifier)) {
        return [
          400,
          {
            error: {
              type: 'invalid_request_error',
              code: 'duplicate_meter_event',
              message: `An event already exists with identifier ${identifier}.`,
            },
          },
        ];
      }
      const e: FakeMeterEvent = {
        identifier,
        event_name: typeof form.event_name === 'string' ? form.event_name : '',
        payload: (form.payload ?? {}) as Record<string, string>,
        timestamp: Number(form.timestamp ?? now()),
      };
      meterEvents.set(identifier, e);
      return [200, { object: 'billing.meter_event', created: now(), livemode: false, ...e }];
    }
    if (method === 'POST' && path === '/v1/checkout/sessions') {
      if (typeof form.customer !== 'string' || !customers.has(form.customer)) return missing('customer');
      const sid = id('cs_test');
      const s = {
        id: sid,
        object: 'checkout.session',
        url: `https://checkout.stripe.test/c/pay/${sid}`,
        ...form,
        status: 'open',
      };
      state.checkoutSessions.push(s);
      return [200, s];
    }
    const cs = /^\/v1\/checkout\/sessions\/([A-Za-z0-9_]+)(\/expire)?$/.exec(path);
    if (cs && ((method === 'GET' && !cs[2]) || (method === 'POST' && cs[2]))) {
      const s = state.checkoutSessions.find((x) => x.id === cs[1]);
      if (!s) return missing('checkout session');
      if (!cs[2]) return [200, s];
      if (s.status !== 'open') {
        return [
          400,
          {
            error: {
              type: 'invalid_request_error',
              message: `Only Checkout Sessions with a status in ["open"] can be expired; this one is ${String(s.status)}.`,
            },
          },
        ];
      }
      s.status = 'expired';
      s.url = null;
      return [200, s];
    }
    if (method === 'POST' && path === '/v1/billing_portal/sessions') {
      if (typeof form.customer !== 'string' || !customers.has(form.customer)) return missing('customer');
      const sid = id('bps');
      const s = {
        id: sid,
        object: 'billing_portal.session',
        url: `https://billing.stripe.test/p/session/${sid}`,
        ...form,
      };
      state.portalSessions.push(s);
      return [200, s];
    }
    return [
      404,
      { error: { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path})` } },
    ];
  }
  const missing = (what: string): [number, unknown] => [
    400,
    { error: { type: 'invalid_request_error', code: 'resource_missing', message: `No such ${what}` } },
  ];

  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      state.requests.push(`${req.method} ${path}`);
      if (req.method === 'POST' && path === '/v1/billing/meter_events') state.meterEventRequests += 1;
      let status: number;
      let answer: unknown;
      const failing = failures.get(path) ?? 0;
      const refusing = refusals.get(path) ?? 0;
      if (req.headers.authorization !== `Bearer ${secretKey}`) {
        [status, answer] = [
          401,
          { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } },
        ];
      } else if (failing > 0) {
        failures.set(path, failing - 1);
        [status, answer] = [500, { error: { type: 'api_error', message: 'fake outage' } }];
      } else if (refusing > 0) {
        refusals.set(path, refusing - 1);
        [status, answer] = [
          400,
          {
            error: {
              type: 'invalid_request_error',
              param: 'timestamp',
              message: 'Timestamp must be within the past 35 calendar days (fake refusal).',
            },
          },
        ];
      } else {
        const key = req.headers['idempotency-key'];
        const cacheKey = typeof key === 'string' && req.method === 'POST' ? `${path}:${key}` : undefined;
        const cached = cacheKey ? idempotent.get(cacheKey) : undefined;
        if (cached && cached.body !== body) {
          state.idempotencyErrors += 1;
          [status, answer] = [
            400,
            {
              error: {
                type: 'idempotency_error',
                message: `Keys for idempotent requests can only be used with the same parameters they were first used with.`,
              },
            },
          ];
        } else if (cached) {
          [status, answer] = [cached.status, cached.answer];
        } else {
          [status, answer] = route(req.method ?? 'GET', path, parseForm(body));
          if (cacheKey) idempotent.set(cacheKey, { body, status, answer });
        }
      }
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': id('req') });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    sdkOptions: { host: '127.0.0.1', port, protocol: 'http' },
    customers,
    deletedCustomers,
    subscriptions,
    meterEvents,
    get meterEventRequests() {
      return state.meterEventRequests;
    },
    set meterEventRequests(n: number) {
      state.meterEventRequests = n;
    },
    checkoutSessions: state.checkoutSessions,
    portalSessions: state.portalSessions,
    requests: state.requests,
    meterTotal(customer, eventName) {
      let total = 0;
      for (const e of meterEvents.values()) {
        if (e.payload.stripe_customer_id === customer && e.event_name === eventName)
          total += Number(e.payload.value);
      }
      return total;
    },
    completeCheckout(sessionId) {
      const s = state.checkoutSessions.find((x) => x.id === sessionId);
      if (s?.status === 'open') s.status = 'complete';
    },
    get idempotencyErrors() {
      return state.idempotencyErrors;
    },
    failNext(path, n = 1) {
      failures.set(path, n);
    },
    refuseNext(path, n = 1) {
      refusals.set(path, n);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
