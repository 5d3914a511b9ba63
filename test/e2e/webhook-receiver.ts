/** The e2e webhook receiver: what it records of each POST, and polling for it. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Received {
  path: string;
  id: string;
  body: string;
  headers: Record<string, string>;
  payload: { id: string; type: string; organization_id: string; data: Record<string, unknown> };
}

/**
 * A receiver of signed webhook POSTs on 127.0.0.1 (a free port) for `base` + path: each POST is verified
 * with the secret of its path in `secrets` (401 when there is none or the signature does not verify) and
 * handed to `onReceived`, whose answer is sent (200 `ok` when it gives none). Close `server` when done.
 */
export async function startWebhookReceiver(
  secrets: ReadonlyMap<string, string>,
  onReceived: (r: Received) => { status: number; body: string } | void,
): Promise<{ server: http.Server; base: string }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (ch: Buffer) => chunks.push(ch));
    req.on('end', () => {
      const path = req.url ?? '';
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, String(v)]),
      ) as Record<string, string>;
      const secret = secrets.get(path);
      try {
        if (!secret) throw new Error('unknown path');
        new Webhook(secret).verify(body, headers);
      } catch {
        res.writeHead(401).end('bad signature');
        return;
      }
      const answer = onReceived({
        path,
        id: headers['webhook-id']!,
        body,
        headers,
        payload: JSON.parse(body) as Received['payload'],
      }) ?? { status: 200, body: 'ok' };
      res.writeHead(answer.status).end(answer.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Polls `find` until it gives something (20 s at most). */
export async function until<T>(find: () => Promise<T | undefined> | T | undefined, what: string): Promise<T> {
  const end = Date.now() + 20_000;
  for (;;) {
    const hit = await find();
    if (hit !== undefined) return hit;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
