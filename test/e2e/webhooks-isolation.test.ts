import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedMailbox } from '../support/mailbox.js';
import { mailText } from '../support/smtp.js';
import {
  createOrg,
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
describe('e2e: slow webhook receivers do not delay other jobs', () => {
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
    const key = await owner.browser.post(
      '/v1/api-keys',
      { name: 'slow', scopes: ['projects:read'] },
      inOrg(org.id),
    );
    expect(key.statusCode, key.body).toBe(201);
    rememberSecret(key.json<{ secret: string }>().secret);
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
});
