import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedMailbox } from '../support/mailbox.js';
import { mailText } from '../support/smtp.js';
import {
  createOrg,
  createReadKey,
  inOrg,
  rememberSecret,
  signUp,
  startApp,
  stopApp,
  type E2eApp,
  type User,
  uniqueEmail,
} from './helpers.js';

/**
 * Webhook POSTs wait on other people's servers (up to WEBHOOK_TIMEOUT_MS each). One organization's slow or
 * black-holed receivers must not hold the job slots that every organization's mails, exports and key
 * rotations run in: deliveries run on a job runner of their own.
 */
describe("e2e: one organization's webhooks cannot flood the platform", () => {
  let c: E2eApp;
  let owner: User;
  let org: { id: string; slug: string };
  let hanging: http.Server;
  let base: string;
  let open = 0;

  beforeAll(async () => {
    hanging = http.createServer((req) => {
      open++;
      req.resume(); // reads the POST, never answers
    });
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`;
    c = await startApp({
      webhooks: {
        allowedCidrs: ['127.0.0.1/32'],
        allowHttp: true,
        retryScheduleSeconds: [600],
        timeoutMs: 20_000,
        disableAfterDays: 5,
      },
    });
    owner = await signUp(c, 'hooks-slow');
    org = await createOrg(owner.browser, 'hooks-slow');
  });
  afterAll(async () => {
    // The hanging POSTs end at once (connection reset) so the runners stop without waiting them out.
    hanging.closeAllConnections();
    await stopApp(c);
    await new Promise<void>((r) => hanging.close(() => r()));
  });

  it('an invitation mail goes out while three deliveries hang on a receiver that never answers', async () => {
    for (const path of ['/a', '/b', '/c']) {
      const res = await owner.browser.post(
        '/v1/webhooks/endpoints',
        { url: `${base}${path}`, eventTypes: ['api_key.created'] },
        inOrg(org.id),
      );
      expect(res.statusCode, res.body).toBe(201);
      rememberSecret(res.json<{ secret: string }>().secret);
    }
    await createReadKey(owner.browser, org.id, 'slow');
    // Wait until the receiver holds at least two POSTs open (as many as the main runner's slots).
    const end = Date.now() + 15_000;
    while (open < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(open).toBeGreaterThanOrEqual(2);

    const email = uniqueEmail('slow-invitee');
    const started = Date.now();
    const res = await owner.browser.post('/v1/invitations', { email, role: 'member' }, inOrg(org.id));
    expect(res.statusCode, res.body).toBe(201);
    // Far sooner than the 20 s the hanging POSTs hold their slots.
    const mail = await sharedMailbox().waitFor(
      (m) => m.to.includes(email) && mailText(m.raw).includes('accept-invitation'),
      8_000,
    );
    expect(mail).toBeDefined();
    expect(Date.now() - started).toBeLessThan(8_000);
    rememberSecret(/token=([A-Za-z0-9_-]+)/.exec(mailText(mail.raw))![1]!);
  });

  it('an organization has at most 20 endpoints, also when they are created concurrently', async () => {
    const create = (path: string) =>
      owner.browser.post(
        '/v1/webhooks/endpoints',
        { url: `${base}${path}`, eventTypes: ['api_key.revoked'], enabled: false },
        inOrg(org.id),
      );
    const list = async () =>
      (await owner.browser.get('/v1/webhooks/endpoints?limit=100', inOrg(org.id))).json<{
        data: { id: string }[];
      }>().data;
    // Three exist from the test above: 14 more one by one, then 6 at once for the last 3 places.
    for (let i = 0; i < 14; i++) {
      const res = await create(`/n${i}`);
      expect(res.statusCode, res.body).toBe(201);
      rememberSecret(res.json<{ secret: string }>().secret);
    }
    const racing = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => create(`/race${i}`)));
    for (const r of racing) {
      if (r.statusCode === 201) rememberSecret(r.json<{ secret: string }>().secret);
    }
    expect(racing.map((r) => r.statusCode).sort()).toEqual([201, 201, 201, 409, 409, 409]);
    expect(racing.find((r) => r.statusCode === 409)!.json()).toMatchObject({
      error: { code: 'WEBHOOK_ENDPOINT_LIMIT' },
    });
    const all = await list();
    expect(all).toHaveLength(20);
    // Deleting one makes room for one.
    const del = await owner.browser.delete(`/v1/webhooks/endpoints/${all[0]!.id}`, inOrg(org.id));
    expect(del.statusCode, del.body).toBe(204);
    const again = await create('/again');
    expect(again.statusCode, again.body).toBe(201);
    rememberSecret(again.json<{ secret: string }>().secret);
  });
});
