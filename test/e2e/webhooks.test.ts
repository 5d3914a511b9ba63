import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { queueDeliveryAttempt } from '../../src/modules/webhooks/webhook-delivery.js';
import { requeueStuckDeliveries } from '../../src/modules/webhooks/webhook-sweep.js';
import { uuidv7 } from '../../src/platform/ids.js';
import { sharedMailbox } from '../support/mailbox.js';
import { mailText } from '../support/smtp.js';
import { connect, testDb } from '../support/tenancy.js';
import { dropProvisioned, provisionDatabase, type ProvisionedDatabase } from '../support/provision.js';
import {
  addNewMember,
  createOrg,
  createReadKey,
  inOrg,
  rememberSecret,
  signUp,
  startApp,
  stopApp,
  type E2eApp,
  type User,
} from './helpers.js';
import { startWebhookReceiver, until, type Received } from './webhook-receiver.js';

/**
 * Webhooks end to end on the real composition: the worker dispatches outbox events, signs and POSTs them to
 * a real receiver on 127.0.0.1 (allowed by WEBHOOK_ALLOWED_CIDRS), which verifies each signature with the
 * `standardwebhooks` package and de-duplicates by `webhook-id` as the specification asks receivers to.
 */
describe('e2e: signed webhooks', () => {
  let c: E2eApp;
  let owner: User;
  let ownerB: User;
  let a: { id: string; slug: string };
  let b: { id: string; slug: string };
  let server: http.Server;
  let base: string;
  const received: Received[] = [];
  /** What the receiver processed: one per webhook-id (a repeated id is a retry of the same message). */
  const processed = new Map<string, Received>();
  const secrets = new Map<string, string>();
  let flakyFailures = 2;
  /** The endpoint whose first delivery "crashes" between the POST and recording its result. */
  let crashEndpoint = '';
  let crashed = 0;
  /** A database of its own: every app of a shared test database runs jobs from one queue, so another
   *  file's app could send this file's deliveries without its crash hook. */
  let own: ProvisionedDatabase;

  const endpointsUrl = '/v1/webhooks/endpoints';
  async function createEndpoint(who: User, org: string, path: string, eventTypes: string[]) {
    const res = await who.browser.post(endpointsUrl, { url: `${base}${path}`, eventTypes }, inOrg(org));
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json<{ id: string; secret: string }>();
    secrets.set(path, rememberSecret(body.secret));
    return body;
  }
  const at = (path: string) => received.filter((r) => r.path === path);

  beforeAll(async () => {
    ({ server, base } = await startWebhookReceiver(secrets, (r) => {
      received.push(r);
      if (r.path === '/flaky' && flakyFailures > 0) {
        flakyFailures--;
        return { status: 500, body: 'try later' };
      }
      if (!processed.has(r.id)) processed.set(r.id, r);
    }));
    own = await provisionDatabase(testDb().superuserUrl, 'sr_webhooks');
    c = await startApp({
      database: { url: own.url, workerUrl: own.workerUrl, keyVaultUrl: own.keyVaultUrl },
      webhooks: {
        allowedCidrs: ['127.0.0.1/32'],
        allowHttp: true,
        retryScheduleSeconds: [1, 1],
        timeoutMs: 5000,
        disableAfterDays: 5,
        afterSend: (delivery) => {
          if (delivery.endpointId === crashEndpoint && crashed === 0) {
            crashed++;
            throw new Error('worker crashed after the POST, before recording it');
          }
        },
      },
    });
    owner = await signUp(c, 'hooks');
    ownerB = await signUp(c, 'hooks-b');
    a = await createOrg(owner.browser, 'hooks-a');
    b = await createOrg(ownerB.browser, 'hooks-b');
  });
  afterAll(async () => {
    await stopApp(c);
    await new Promise<void>((r) => server.close(() => r()));
    if (own) await dropProvisioned(own);
  });

  it('refuses private, loopback, link-local and non-https URLs when an endpoint is saved', async () => {
    const cases: [string, string][] = [
      ['http://10.0.0.1/hook', 'WEBHOOK_URL_NOT_ALLOWED'],
      ['http://169.254.169.254/latest/meta-data/', 'WEBHOOK_URL_NOT_ALLOWED'],
      ['http://[::1]:8080/hook', 'WEBHOOK_URL_NOT_ALLOWED'],
      ['http://127.0.0.2/hook', 'WEBHOOK_URL_NOT_ALLOWED'],
      ['https://localhost/hook', 'WEBHOOK_URL_NOT_ALLOWED'],
      ['http://[::ffff:10.0.0.1]/hook', 'WEBHOOK_URL_NOT_ALLOWED'],
      ['ftp://hooks.example.test/x', 'WEBHOOK_URL_INVALID'],
      ['https://user:pw@hooks.example.test/x', 'WEBHOOK_URL_INVALID'],
    ];
    for (const [url, code] of cases) {
      const res = await owner.browser.post(endpointsUrl, { url, eventTypes: ['*'] }, inOrg(a.id));
      expect({
        url,
        status: res.statusCode,
        code: res.json<{ error: { code: string } }>().error.code,
      }).toEqual({
        url,
        status: 400,
        code,
      });
    }
    const types = await owner.browser.post(
      endpointsUrl,
      { url: 'https://hooks.example.test/x', eventTypes: ['member.*', 'nope.*'] },
      inOrg(a.id),
    );
    expect(types.statusCode).toBe(400);
    expect(types.json()).toMatchObject({
      error: { code: 'WEBHOOK_EVENT_TYPES_INVALID', details: { unknown: ['nope.*'] } },
    });
    const missing = await owner.browser.post(
      endpointsUrl,
      { url: 'https://hooks.example.test/x' },
      inOrg(a.id),
    );
    expect(missing.statusCode).toBe(400);
    expect(missing.json<{ error: { code: string } }>().error.code).toBe('VALIDATION_FAILED');
  });

  it('delivers signed events that verify with standardwebhooks; org A’s endpoint never gets B’s events', async () => {
    const hook = await createEndpoint(owner, a.id, '/a', ['api_key.*', 'member.*']);
    expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    // Stored only sealed with the organization's data key.
    const admin = await connect(own.adminUrl);
    try {
      const stored = await admin.query<{ secret: string }>(
        'select secret from webhook_endpoints where id = $1',
        [hook.id],
      );
      expect(stored.rows[0]!.secret).toMatch(/^t1\./);
      expect(stored.rows[0]!.secret).not.toContain(hook.secret.slice(6, 20));
    } finally {
      await admin.end();
    }
    await createEndpoint(ownerB, b.id, '/b', ['*']);
    const keyId = await createReadKey(owner.browser, a.id, 'k');
    await createReadKey(ownerB.browser, b.id, 'kb');
    const got = await until(() => at('/a').find((r) => r.payload.type === 'api_key.created'), 'A’s event');
    expect(got.payload).toMatchObject({
      type: 'api_key.created',
      organization_id: a.id,
      data: { object: 'api_key', id: keyId, name: 'k' },
    });
    expect(got.headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(Number(got.headers['webhook-timestamp'])).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(got.headers['webhook-signature']).toMatch(/^v1,/);
    // A tampered body does not verify.
    expect(() => new Webhook(hook.secret).verify(got.body.replace('"k"', '"K"'), got.headers)).toThrow();
    await until(() => at('/b').find((r) => r.payload.type === 'api_key.created'), 'B’s event');
    expect(at('/a').every((r) => r.payload.organization_id === a.id)).toBe(true);
    expect(at('/b').every((r) => r.payload.organization_id === b.id)).toBe(true);
    // An idempotent retry of the creation: the same endpoint, no secret.
    const first = await owner.browser.post(
      endpointsUrl,
      { url: `${base}/other`, eventTypes: ['organization.deleted'] },
      { ...inOrg(a.id), 'idempotency-key': 'hook-1' },
    );
    const again = await owner.browser.post(
      endpointsUrl,
      { url: `${base}/other`, eventTypes: ['organization.deleted'] },
      { ...inOrg(a.id), 'idempotency-key': 'hook-1' },
    );
    rememberSecret(first.json<{ secret: string }>().secret);
    expect(again.statusCode).toBe(201);
    expect(again.json()).toMatchObject({ id: first.json<{ id: string }>().id, secret: null });
  });

  it('retries after 500s on the schedule, with the same webhook-id, and logs every attempt', async () => {
    const flaky = await createEndpoint(owner, a.id, '/flaky', ['member.role_changed', 'api_key.revoked']);
    const list = await owner.browser.get('/v1/api-keys', inOrg(a.id));
    const keyId = list.json<{ data: { id: string }[] }>().data[0]!.id;
    expect((await owner.browser.delete(`/v1/api-keys/${keyId}`, inOrg(a.id))).statusCode).toBe(204);
    const deliveries = await until(async () => {
      const res = await owner.browser.get(`${endpointsUrl}/${flaky.id}/deliveries`, inOrg(a.id));
      const page = res.json<{
        data: { status: string; webhookId: string; log: { responseStatus: number; trigger: string }[] }[];
      }>();
      return page.data[0]?.status === 'succeeded' ? page.data : undefined;
    }, 'the flaky delivery to succeed');
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]!.log.map((l) => l.responseStatus)).toEqual([500, 500, 200]);
    const hits = at('/flaky');
    expect(hits).toHaveLength(3);
    expect(new Set(hits.map((h) => h.id))).toEqual(new Set([deliveries[0]!.webhookId]));
  });

  it('a worker crash after the POST: the message is sent again with the same webhook-id, one delivery', async () => {
    const hook = await createEndpoint(owner, a.id, '/crash', ['api_key.created']);
    crashEndpoint = hook.id;
    const key = await owner.browser.post(
      '/v1/api-keys',
      { name: 'crash', scopes: ['projects:read'] },
      inOrg(a.id),
    );
    rememberSecret(key.json<{ secret: string }>().secret);
    const deliveries = await until(async () => {
      const res = await owner.browser.get(`${endpointsUrl}/${hook.id}/deliveries`, inOrg(a.id));
      const page = res.json<{
        data: { id: string; status: string; webhookId: string; attempts: number }[];
      }>();
      return page.data[0]?.status === 'succeeded' ? page.data : undefined;
    }, 'the delivery after the crash');
    expect(crashed).toBe(1);
    expect(deliveries).toHaveLength(1);
    const hits = at('/crash');
    expect(hits).toHaveLength(2);
    expect(hits[0]!.id).toBe(hits[1]!.id);
    // The receiver processed it once; the system holds one delivery for this event and endpoint.
    expect([...processed.values()].filter((r) => r.path === '/crash')).toHaveLength(1);
    const admin = await connect(own.adminUrl);
    try {
      const rows = await admin.query(
        'select count(*)::int as n from webhook_deliveries where endpoint_id = $1',
        [hook.id],
      );
      expect(rows.rows[0]).toEqual({ n: 1 });
    } finally {
      await admin.end();
    }
  });

  it('manual redelivery sends the same message again', async () => {
    const page = await owner.browser.get(`${endpointsUrl}/${crashEndpoint}/deliveries`, inOrg(a.id));
    const d = page.json<{ data: { id: string; webhookId: string }[] }>().data[0]!;
    const before = at('/crash').length;
    const res = await owner.browser.post(`/v1/webhooks/deliveries/${d.id}/redeliver`, {}, inOrg(a.id));
    expect(res.statusCode, res.body).toBe(202);
    await until(() => (at('/crash').length > before ? true : undefined), 'the redelivery');
    expect(at('/crash').at(-1)!.id).toBe(d.webhookId);
    const log = await until(async () => {
      const r = await owner.browser.get(`${endpointsUrl}/${crashEndpoint}/deliveries`, inOrg(a.id));
      const l = r.json<{ data: { log: { trigger: string }[] }[] }>().data[0]!.log;
      return l.some((x) => x.trigger === 'manual') ? l : undefined;
    }, 'the manual attempt in the log');
    expect(log.map((x) => x.trigger)).toEqual(['automatic', 'manual']);
  });

  it('at delivery time a private address is refused whatever the saved URL; failing for days disables and mails', async () => {
    const hook = await createEndpoint(owner, a.id, '/moved', ['member.role_changed', 'api_key.created']);
    const admin = await connect(own.adminUrl);
    try {
      // As if its name now resolved elsewhere: the URL points at [::1] (not allowed) and has failed 6 days.
      await admin.query(
        `update webhook_endpoints set url = $2, failing_since = now() - interval '6 days' where id = $1`,
        [hook.id, `http://[::1]:${new URL(base).port}/moved`],
      );
    } finally {
      await admin.end();
    }
    const before = at('/moved').length;
    const key = await owner.browser.post(
      '/v1/api-keys',
      { name: 'moved', scopes: ['projects:read'] },
      inOrg(a.id),
    );
    rememberSecret(key.json<{ secret: string }>().secret);
    const ep = await until(async () => {
      const r = await owner.browser.get(`${endpointsUrl}/${hook.id}`, inOrg(a.id));
      const e = r.json<{ enabled: boolean; disabledReason: string | null }>();
      return e.enabled ? undefined : e;
    }, 'the endpoint to be disabled');
    expect(ep.disabledReason).toBe('failing');
    const log = await owner.browser.get(`${endpointsUrl}/${hook.id}/deliveries`, inOrg(a.id));
    const d = log.json<{ data: { log: { error: string | null; responseStatus: number | null }[] }[] }>()
      .data[0]!;
    expect(d.log[0]!.responseStatus).toBeNull();
    expect(d.log[0]!.error).toMatch(/^refused: /);
    expect(at('/moved').length).toBe(before);
    const mail = await sharedMailbox().waitFor(
      (m) => m.to.includes(owner.email) && mailText(m.raw).includes('so the endpoint was disabled'),
      20_000,
    );
    expect(mailText(mail.raw)).toContain(`/o/${a.slug}/settings/webhooks`);
    // Redelivery to a disabled endpoint is refused until it is enabled again.
    const redeliver = await owner.browser.post(
      `/v1/webhooks/deliveries/${log.json<{ data: { id: string }[] }>().data[0]!.id}/redeliver`,
      {},
      inOrg(a.id),
    );
    expect(redeliver.statusCode).toBe(409);
  });

  it('after a rotation of the organization’s data key the endpoint’s secret is re-encrypted and still signs', async () => {
    const admin = await connect(own.adminUrl);
    const stored = async () =>
      (
        await admin.query<{ secret: string }>(
          `select secret from webhook_endpoints where organization_id = $1 and url like '%/a'`,
          [a.id],
        )
      ).rows[0]!.secret;
    try {
      const version = (await stored()).split('.')[1];
      const rotate = await owner.browser.post('/v1/organization/keys/rotate', {}, inOrg(a.id));
      expect(rotate.statusCode, rotate.body).toBe(202);
      await until(
        async () => ((await stored()).split('.')[1] !== version ? true : undefined),
        'the secret to be re-encrypted under the new key version',
      );
    } finally {
      await admin.end();
    }
    const before = at('/a').length;
    const key = await owner.browser.post(
      '/v1/api-keys',
      { name: 'after', scopes: ['projects:read'] },
      inOrg(a.id),
    );
    rememberSecret(key.json<{ secret: string }>().secret);
    const got = await until(
      () =>
        at('/a')
          .slice(before)
          .find((r) => r.payload.data.name === 'after'),
      'a delivery signed after the rotation',
    );
    // The receiver verified it with the secret it was given at creation.
    expect(got.payload.type).toBe('api_key.created');
  });

  it('edits, rotates the secret, lists with pagination and deletes endpoints', async () => {
    const list = await owner.browser.get(`${endpointsUrl}?limit=2`, inOrg(a.id));
    expect(list.statusCode).toBe(200);
    const page = list.json<{ data: { id: string }[]; nextCursor: string | null }>();
    expect(page.data).toHaveLength(2);
    expect(page.nextCursor).not.toBeNull();
    const next = await owner.browser.get(`${endpointsUrl}?limit=2&cursor=${page.nextCursor}`, inOrg(a.id));
    expect(next.json<{ data: { id: string }[] }>().data[0]!.id < page.data[1]!.id).toBe(true);
    const id = page.data[0]!.id;
    const patched = await owner.browser.patch(
      `${endpointsUrl}/${id}`,
      { eventTypes: ['invitation.*'], description: 'CRM', enabled: false },
      inOrg(a.id),
    );
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({
      eventTypes: ['invitation.*'],
      description: 'CRM',
      enabled: false,
      disabledReason: 'manual',
    });
    const rotated = await owner.browser.post(`${endpointsUrl}/${id}/rotate-secret`, {}, inOrg(a.id));
    expect(rotated.statusCode).toBe(200);
    expect(rememberSecret(rotated.json<{ secret: string }>().secret)).toMatch(/^whsec_/);
    expect((await owner.browser.delete(`${endpointsUrl}/${id}`, inOrg(a.id))).statusCode).toBe(204);
    expect((await owner.browser.get(`${endpointsUrl}/${id}`, inOrg(a.id))).statusCode).toBe(404);
    const types = await owner.browser.get('/v1/webhooks/event-types', inOrg(a.id));
    expect(types.json<{ data: string[] }>().data).toContain('member.added');
  });
  it('webhooks:manage: admins manage endpoints, members get 403; a member joining is a member.added event', async () => {
    const admin = await addNewMember(owner.browser, a.id, 'admin');
    rememberSecret(admin.password);
    const member = await addNewMember(owner.browser, a.id, 'member');
    rememberSecret(member.password);
    expect((await admin.browser.get(endpointsUrl, inOrg(a.id))).statusCode).toBe(200);
    const refused = await member.browser.get(endpointsUrl, inOrg(a.id));
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toEqual({
      error: { code: 'FORBIDDEN', message: 'missing permission webhooks:manage' },
    });
    const added = await until(
      () => at('/a').find((r) => r.payload.type === 'member.added' && r.payload.data.id === member.userId),
      'the member.added event',
    );
    expect(added.payload.data).toMatchObject({ object: 'member', role: 'member' });
  });

  it('a rotated secret keeps signing beside the new one for the overlap (24 h by default), then stops', async () => {
    const org = await createOrg(owner.browser, 'hooks-rot');
    const ep = await createEndpoint(owner, org.id, '/rot', ['api_key.created']);
    const oldSecret = ep.secret;
    const rotated = await owner.browser.post(`${endpointsUrl}/${ep.id}/rotate-secret`, {}, inOrg(org.id));
    expect(rotated.statusCode, rotated.body).toBe(200);
    const body = rotated.json<{ secret: string; previousSecretExpiresAt: string }>();
    const newSecret = rememberSecret(body.secret);
    const overlapMs = new Date(body.previousSecretExpiresAt).getTime() - Date.now();
    expect(overlapMs).toBeGreaterThan(23.9 * 3_600_000);
    expect(overlapMs).toBeLessThanOrEqual(24 * 3_600_000);
    const newKey = async (name: string) => {
      const key = await owner.browser.post(
        '/v1/api-keys',
        { name, scopes: ['projects:read'] },
        inOrg(org.id),
      );
      expect(key.statusCode, key.body).toBe(201);
      rememberSecret(key.json<{ secret: string }>().secret);
    };

    // During the overlap: the receiver still holding the OLD secret verifies (its verifier accepts the
    // request when any of the signatures matches), and so does one already on the new secret.
    await newKey('during');
    const during = await until(
      () => at('/rot').find((r) => r.payload.type === 'api_key.created' && r.body.includes('"during"')),
      'the delivery during the overlap',
    );
    expect(during.headers['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(() => new Webhook(oldSecret).verify(during.body, during.headers)).not.toThrow();
    expect(() => new Webhook(newSecret).verify(during.body, during.headers)).not.toThrow();

    // After it (its end moved to the past): only the new secret signs; the old one no longer verifies.
    const admin = await connect(own.adminUrl);
    try {
      await admin.query(
        `update webhook_endpoints set previous_secret_expires_at = now() - interval '1 second' where id = $1`,
        [ep.id],
      );
    } finally {
      await admin.end();
    }
    secrets.set('/rot', newSecret);
    await newKey('after');
    const after = await until(
      () => at('/rot').find((r) => r.payload.type === 'api_key.created' && r.body.includes('"after"')),
      'the delivery after the overlap',
    );
    expect(after.headers['webhook-signature']!.split(' ')).toHaveLength(1);
    expect(() => new Webhook(oldSecret).verify(after.body, after.headers)).toThrow();
    expect(() => new Webhook(newSecret).verify(after.body, after.headers)).not.toThrow();
  });

  it('a pending delivery whose job was lost is queued again by the sweep, once; one whose job waits is left to it', async () => {
    const org = await createOrg(owner.browser, 'hooks-stuck');
    const ep = await createEndpoint(owner, org.id, '/stuck', ['api_key.created']);
    const lost = uuidv7();
    const waiting = uuidv7();
    const admin = await connect(own.adminUrl);
    const workerPool = new pg.Pool({ connectionString: own.workerUrl, max: 2 });
    try {
      // Two deliveries due an hour ago and still pending: one lost its job, the other's job waits.
      for (const [id, name] of [
        [lost, 'lost'],
        [waiting, 'waiting'],
      ] as const) {
        const event = uuidv7();
        await admin.query(
          `insert into webhook_events (organization_id, id, type, payload, occurred_at, dispatched_at)
           values ($1, $2, 'api_key.created', $3, now(), now())`,
          [
            org.id,
            event,
            JSON.stringify({ id: event, type: 'api_key.created', organization_id: org.id, data: { name } }),
          ],
        );
        await admin.query(
          `insert into webhook_deliveries (organization_id, id, event_id, endpoint_id, next_attempt_at)
           values ($1, $2, $3, $4, now() - interval '1 hour')`,
          [org.id, id, event, ep.id],
        );
      }
      const later = new Date(Date.now() + 3_600_000);
      await c.tenancy.withTenant(org.id, (db) =>
        queueDeliveryAttempt(db, org.id, waiting, 'automatic', later),
      );
      const jobsOf = async (id: string) =>
        (
          await admin.query<{ n: number }>(
            `select count(*)::int as n from graphile_worker._private_jobs where key = $1`,
            [`${org.id}/webhooks.deliver:${id}`],
          )
        ).rows[0]!.n;

      const sweep = () =>
        requeueStuckDeliveries({ workerPool, withTenant: c.tenancy.withTenant, maxAttempts: 3 });
      expect(await sweep()).toBeGreaterThanOrEqual(1);
      const got = await until(
        () => at('/stuck').find((r) => r.body.includes('"lost"')),
        'the re-queued delivery',
      );
      expect(got.headers['webhook-id']).toBe(`msg_${lost.replace(/-/g, '')}`);
      const state = async (id: string) =>
        (
          await admin.query<{ status: string; overdue: boolean }>(
            `select status, next_attempt_at < now() - interval '30 minutes' as overdue
               from webhook_deliveries where id = $1`,
            [id],
          )
        ).rows[0]!;
      await until(async () => ((await state(lost)).status === 'succeeded' ? true : undefined), 'success');
      // The waiting one was left to its job: still overdue on paper, one job, not sent.
      expect(await state(waiting)).toEqual({ status: 'pending', overdue: true });
      expect(await jobsOf(waiting)).toBe(1);
      // Idempotent: a second run queues neither again.
      await sweep();
      expect(await jobsOf(waiting)).toBe(1);
      expect(await jobsOf(lost)).toBe(0);
      expect(at('/stuck').filter((r) => r.body.includes('"lost"'))).toHaveLength(1);
      expect(at('/stuck').filter((r) => r.body.includes('"waiting"'))).toHaveLength(0);
    } finally {
      await workerPool.end();
      await admin.end();
    }
  });

  it('a delivery failing inside the worker (its secret cannot be opened) uses its attempts and ends dead; the sweep never revives it', async () => {
    const org = await createOrg(owner.browser, 'hooks-broken');
    const broken = await createEndpoint(owner, org.id, '/broken', ['api_key.created']);
    const other = await createEndpoint(owner, org.id, '/other', ['member.removed']);
    const admin = await connect(own.adminUrl);
    const workerPool = new pg.Pool({ connectionString: own.workerUrl, max: 2 });
    try {
      // Another row's ciphertext: bound to that row, it does not open for this one.
      await admin.query(
        `update webhook_endpoints set secret = (select secret from webhook_endpoints where id = $2)
          where id = $1`,
        [broken.id, other.id],
      );
      const key = await owner.browser.post(
        '/v1/api-keys',
        { name: 'broken', scopes: ['projects:read'] },
        inOrg(org.id),
      );
      rememberSecret(key.json<{ secret: string }>().secret);
      type Delivery = {
        id: string;
        status: string;
        log: { responseStatus: number | null; error: string | null; trigger: string }[];
      };
      const dead = await until(async () => {
        const res = await owner.browser.get(`${endpointsUrl}/${broken.id}/deliveries`, inOrg(org.id));
        const d = res.json<{ data: Delivery[] }>().data[0];
        return d?.status === 'dead' ? d : undefined;
      }, 'the broken delivery to end dead');
      // Three automatic attempts (the schedule [1, 1] + 1), each logged with the error and no response.
      expect(dead.log).toHaveLength(3);
      for (const l of dead.log) {
        expect(l.trigger).toBe('automatic');
        expect(l.responseStatus).toBeNull();
        expect(l.error).toMatch(/^internal error: /);
      }
      expect(at('/broken')).toHaveLength(0);
      // Our failure says nothing about the receiver: the endpoint is not marked failing.
      const ep = await admin.query<{ enabled: boolean; failing_since: Date | null }>(
        'select enabled, failing_since from webhook_endpoints where id = $1',
        [broken.id],
      );
      expect(ep.rows[0]).toEqual({ enabled: true, failing_since: null });

      // As if its last attempt was logged but its end was not: pending, overdue, no job. The sweep ends it.
      await admin.query(
        `update webhook_deliveries set status = 'pending', next_attempt_at = now() - interval '1 hour'
          where id = $1`,
        [dead.id],
      );
      const jobs = async () =>
        (
          await admin.query<{ n: number }>(
            `select count(*)::int as n from graphile_worker._private_jobs where key = $1`,
            [`${org.id}/webhooks.deliver:${dead.id}`],
          )
        ).rows[0]!.n;
      expect(await jobs()).toBe(0);
      const sweep = () =>
        requeueStuckDeliveries({ workerPool, withTenant: c.tenancy.withTenant, maxAttempts: 3 });
      expect(await sweep()).toBe(0);
      expect(await jobs()).toBe(0);
      const row = await admin.query<{ status: string; next_attempt_at: Date | null }>(
        'select status, next_attempt_at from webhook_deliveries where id = $1',
        [dead.id],
      );
      expect(row.rows[0]).toEqual({ status: 'dead', next_attempt_at: null });
      const log = await admin.query<{ n: number }>(
        'select count(*)::int as n from webhook_delivery_attempts where delivery_id = $1',
        [dead.id],
      );
      expect(log.rows[0]!.n).toBe(3);
    } finally {
      await workerPool.end();
      await admin.end();
    }
  });
});
