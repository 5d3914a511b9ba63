import dns from 'node:dns';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAddressPolicy, embeddedIPv4 } from './address-policy.js';
import { guardedLookup, MAX_CONCURRENT_LOOKUPS, postJson } from './webhook-http.js';

describe('webhook address policy (SSRF)', () => {
  const policy = createAddressPolicy();

  it('refuses private, loopback, link-local, unique-local, multicast, unspecified and CGNAT addresses', () => {
    for (const a of [
      '127.0.0.1',
      '127.8.9.10',
      '10.0.0.1',
      '10.255.255.254',
      '172.16.5.4',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '255.255.255.255',
      '::1',
      '[::1]',
      '::',
      'fe80::1',
      'fc00::1',
      'fd12:3456::1',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:169.254.169.254',
      '::ffff:a9fe:a9fe',
      '::10.0.0.1',
      '64:ff9b::a9fe:a9fe',
      '2002:a00:1::1',
      // Local-use NAT64 (RFC 8215) and SIIT IPv4-translated (RFC 2765) forms of private addresses.
      '64:ff9b:1::a00:1',
      '64:ff9b:1:ffff::7f00:1',
      '::ffff:0:7f00:1',
      '::ffff:0:10.0.0.1',
      '::ffff:0:a9fe:a9fe',
    ]) {
      expect({ a, refused: policy.refusal(a) !== null }).toEqual({ a, refused: true });
    }
  });

  it('allows public addresses, and what WEBHOOK_ALLOWED_CIDRS lists (nothing more)', () => {
    for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '::ffff:0:8.8.8.8']) {
      expect({ a, refusal: policy.refusal(a) }).toEqual({ a, refusal: null });
    }
    const allowing = createAddressPolicy(['127.0.0.1/32', '10.1.0.0/16', '::1']);
    expect(allowing.refusal('127.0.0.1')).toBeNull();
    expect(allowing.refusal('::ffff:127.0.0.1')).toBeNull();
    expect(allowing.refusal('10.1.200.3')).toBeNull();
    expect(allowing.refusal('::1')).toBeNull();
    expect(allowing.refusal('127.0.0.2')).not.toBeNull();
    expect(allowing.refusal('10.2.0.1')).not.toBeNull();
    expect(allowing.refusal('169.254.169.254')).not.toBeNull();
    expect(policy.refusal('not-an-ip')).not.toBeNull();
  });

  it('finds the IPv4 address an IPv6 one embeds', () => {
    expect(embeddedIPv4('::ffff:7f00:1')).toBe('127.0.0.1');
    expect(embeddedIPv4('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(embeddedIPv4('64:ff9b::8.8.8.8')).toBe('8.8.8.8');
    expect(embeddedIPv4('2002:0a00:0001::')).toBe('10.0.0.1');
    expect(embeddedIPv4('::ffff:0:a00:1')).toBe('10.0.0.1');
    expect(embeddedIPv4('::1')).toBeNull();
    expect(embeddedIPv4('2606:4700::1111')).toBeNull();
  });
});

describe('webhook POSTs: the address is checked when connecting', () => {
  let server: http.Server;
  let port: number;
  let hits = 0;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      hits++;
      req.resume();
      res.writeHead(req.url === '/redirect' ? 302 : 200, { location: 'http://127.0.0.1/elsewhere' });
      res.end('x'.repeat(100_000));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const opts = (cidrs: string[] = []) => ({
    policy: createAddressPolicy(cidrs),
    timeoutMs: 2000,
    maxResponseBytes: 1024,
  });
  const post = (url: string, cidrs?: string[]) => postJson(new URL(url), {}, '{}', opts(cidrs));

  it('refuses 127.0.0.1, 10.x, 169.254.169.254 and [::1] literals, and a name resolving to loopback', async () => {
    const before = hits;
    for (const url of [
      `http://127.0.0.1:${port}/`,
      'http://10.0.0.1:9/',
      'http://169.254.169.254/latest/meta-data/',
      `http://[::1]:${port}/`,
      `http://[::ffff:127.0.0.1]:${port}/`,
      `http://localhost:${port}/`,
    ]) {
      const out = await post(url);
      expect({ url, kind: out.kind }).toEqual({ url, kind: 'error' });
      expect(out.kind === 'error' && out.error).toMatch(/^refused: /);
    }
    expect(hits).toBe(before);
  });

  it("a refused name does not disclose the address it resolved to (the log is the tenant's)", async () => {
    const out = await post(`http://localhost:${port}/`);
    expect(out).toMatchObject({
      kind: 'error',
      error: 'refused: localhost resolves to a private or reserved address',
    });
  });

  it('a status line whose body does not end in time is a timeout, not that status', async () => {
    const dripping = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('started');
      /* never ends */
    });
    await new Promise<void>((r) => dripping.listen(0, '127.0.0.1', r));
    try {
      const p = (dripping.address() as AddressInfo).port;
      const out = await postJson(new URL(`http://127.0.0.1:${p}/`), {}, '{}', {
        ...opts(['127.0.0.1/32']),
        timeoutMs: 300,
      });
      expect(out).toMatchObject({ kind: 'error', error: 'no complete answer within 300 ms' });
    } finally {
      dripping.closeAllConnections();
      await new Promise<void>((r) => dripping.close(() => r()));
    }
  });

  it('an allowed address is reached; redirects are not followed; the body is cut at the limit', async () => {
    const ok = await post(`http://127.0.0.1:${port}/`, ['127.0.0.1/32']);
    expect(ok).toMatchObject({ kind: 'response', status: 200 });
    expect(ok.kind === 'response' && ok.body.length).toBe(1024);
    const redirect = await post(`http://127.0.0.1:${port}/redirect`, ['127.0.0.1/32']);
    expect(redirect).toMatchObject({ kind: 'response', status: 302 });
  });

  it('a receiver that does not answer in time is an error', async () => {
    const slow = http.createServer(() => {
      /* never answers */
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    try {
      const p = (slow.address() as AddressInfo).port;
      const out = await postJson(new URL(`http://127.0.0.1:${p}/`), {}, '{}', {
        ...opts(['127.0.0.1/32']),
        timeoutMs: 300,
      });
      expect(out).toMatchObject({ kind: 'error' });
      expect(out.kind === 'error' && out.error).toMatch(/within 300 ms/);
    } finally {
      slow.closeAllConnections();
      await new Promise<void>((r) => slow.close(() => r()));
    }
  });
});

describe('webhook name lookups', () => {
  it("take at most two of libuv's threads at once, however slow the names' DNS servers are", async () => {
    const original = dns.lookup;
    let running = 0;
    let most = 0;
    const pending: (() => void)[] = [];
    // A getaddrinfo that answers only when told to (an organization's slow authoritative server).
    (dns as { lookup: unknown }).lookup = (_h: string, _o: unknown, cb: (...a: unknown[]) => void) => {
      running++;
      most = Math.max(most, running);
      pending.push(() => {
        running--;
        cb(null, [{ address: '8.8.8.8', family: 4 }]);
      });
    };
    try {
      const lookup = guardedLookup(createAddressPolicy());
      const answers = Array.from(
        { length: 6 },
        (_, i) =>
          new Promise<unknown>((resolve) =>
            lookup(`slow-${i}.example`, { all: true }, (err, list) => resolve(err ?? list)),
          ),
      );
      await new Promise((r) => setTimeout(r, 20));
      expect(running).toBe(MAX_CONCURRENT_LOOKUPS);
      while (pending.length > 0) {
        pending.shift()!();
        await new Promise((r) => setTimeout(r, 5));
      }
      const all = await Promise.all(answers);
      expect(all).toHaveLength(6);
      for (const a of all) expect(a).toEqual([{ address: '8.8.8.8', family: 4 }]);
      expect(most).toBe(MAX_CONCURRENT_LOOKUPS);
    } finally {
      (dns as { lookup: unknown }).lookup = original;
    }
  });
});
