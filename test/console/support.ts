import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { createServer as createHttpServer, request, type Server } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import axe from 'axe-core';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect } from 'vitest';
import { ensureBuilt } from '../../web/scripts/ensure-built.js';
import { buildTestApp, type TestAppDatabase } from '../support/app.js';
import { sharedMailbox } from '../support/mailbox.js';
import { mailText } from '../support/smtp.js';
import type { ComposeOptions, Composition } from '../../src/app/compose.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WEB = join(ROOT, 'web');
export const SCREENSHOTS = join(ROOT, 'test-output', 'console');

/** Debian's Chromium (`apt-get install chromium`); no browser is ever downloaded. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Builds the console when web/dist is missing or older than its sources (web/scripts/ensure-built.ts,
 * which installs web/'s packages first when they are missing). Test files run in parallel: one builds
 * under a lock directory, the others wait for it.
 */
export function ensureConsoleBuilt(): void {
  const lock = join(WEB, '.build-lock');
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A lock older than the longest build is left over from a killed run.
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 300_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error('timed out waiting for another console build');
      execFileSync('sleep', ['1']);
    }
  }
  try {
    ensureBuilt();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export type ConsoleApp = Composition & {
  /** The origin the browser uses. */
  origin: string;
  /** The console's URL: the origin and the PUBLIC_URL path prefix (if any). */
  base: string;
  /**
   * The client address the app sees for this test file's browser contexts (`X-Forwarded-For`, which the
   * app trusts from loopback only): each file has its own, so the per-address throttles (sign-ups, mail,
   * logins) give every file its own budget, as a fresh app per file did, also when files share an app.
   */
  clientAddress: string;
};

/** The test harness is the app's only loopback client: it states the client address of each file. */
const LOOPBACK_PROXY = ['127.0.0.1', '::1'];

/** A client address for one test file (10.0.0.0/8, random: no two files of a run share one). */
const newClientAddress = () => `10.${[...randomBytes(3)].join('.')}`;

/**
 * How often a console app's usage aggregator runs: a chart shows sent events within about a second
 * (the product's default is 5 s; the interval is a setting, what runs is the same).
 */
const AGGREGATE_EVERY_MS = 1000;

/**
 * The real composition, listening on a port of localhost (the origin the browser uses is its public URL,
 * so the CSRF Origin check and the mailed links agree), jobs running, mail to the suite's SMTP sink.
 * With `pathPrefix`, PUBLIC_URL is `http://localhost:<port><prefix>` and a reverse proxy on that port
 * strips the prefix before the app, as a deployment under a path would.
 */
export async function startConsoleApp(
  opts: {
    pathPrefix?: string;
    stripe?: ComposeOptions['stripe'];
    webhooks?: ComposeOptions['webhooks'];
    /** Social sign-in providers (none by default). */
    socialSignIn?: ComposeOptions['socialSignIn'];
    sso?: ComposeOptions['sso'];
    /** `database` placements and regions (none by default). */
    tenantDatabases?: ComposeOptions['tenantDatabases'];
    /** Another provisioned database than the suite's (with its owner role: placement moves). */
    database?: TestAppDatabase;
  } = {},
): Promise<ConsoleApp> {
  ensureConsoleBuilt();
  const prefix = opts.pathPrefix ?? '';
  const port = await freePort();
  const publicPort = prefix ? await freePort() : port;
  const origin = `http://localhost:${publicPort}`;
  const app = await buildTestApp({
    smtpUrl: sharedMailbox().url,
    runJobs: true,
    publicUrl: `${origin}${prefix}`,
    stripe: opts.stripe,
    webhooks: opts.webhooks,
    socialSignIn: opts.socialSignIn,
    sso: opts.sso,
    tenantDatabases: opts.tenantDatabases,
    ...(opts.database ? { database: opts.database } : {}),
    trustProxy: LOOPBACK_PROXY,
    usage: { aggregateEveryMs: AGGREGATE_EVERY_MS },
    // A placement move's copy waits this long before its switch (placement-moves.test.ts): short here.
    placementCacheTtlMs: 1000,
  });
  await app.app.listen({ port, host: '127.0.0.1' });
  const proxy = prefix ? await startPrefixProxy(publicPort, port, prefix) : undefined;
  const close = app.close.bind(app);
  return Object.assign(app, {
    origin,
    base: `${origin}${prefix}`,
    clientAddress: newClientAddress(),
    close: async () => {
      await new Promise((r) => proxy?.close(r) ?? r(undefined));
      await close();
    },
  });
}

/** A reverse proxy on `port` that serves `<prefix>/…` from the app's `/…` (and 404s anything else). */
async function startPrefixProxy(port: number, target: number, prefix: string): Promise<Server> {
  const server = createHttpServer((req, res) => {
    const url = req.url ?? '/';
    if (url !== prefix && !url.startsWith(`${prefix}/`) && !url.startsWith(`${prefix}?`)) {
      res.writeHead(404).end('not under the prefix');
      return;
    }
    const upstream = request(
      {
        host: '127.0.0.1',
        port: target,
        method: req.method,
        path: url.slice(prefix.length) || '/',
        headers: req.headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

/** The files' views of the shared app (see {@link useConsoleSuite}): a file never closes it. */
const sharedViews = new WeakSet<ConsoleApp>();

/** Closes an app of {@link startConsoleApp} (nothing for the shared app a file received). */
export async function stopConsoleApp(c: ConsoleApp | undefined): Promise<void> {
  if (!c || sharedViews.has(c)) return;
  await c.app.close();
  await c.close();
}

/**
 * What the console files of one test process share (Vitest runs test/console/ without isolation, see
 * vitest.config.ts): one app with the default options and one Chromium, started by the first file that
 * asks, closed when the process ends (test/console/environment.ts calls {@link closeSharedConsole}).
 * Kept on `globalThis`, so a second copy of this module (Vitest's watch mode re-evaluating it) finds
 * the same ones.
 */
interface SharedConsole {
  app?: Promise<ConsoleApp>;
  browser?: Promise<Browser>;
  /** {@link closeSharedConsole}, for the environment's teardown. */
  close?: () => Promise<void>;
}
const SHARED = Symbol.for('saasready.test.console.shared');
const shared = ((globalThis as Record<symbol, SharedConsole | undefined>)[SHARED] ??= {});

/** The process's shared console app (default options), started on first use. */
export function sharedConsoleApp(): Promise<ConsoleApp> {
  shared.app ??= startConsoleApp().catch((err: unknown) => {
    shared.app = undefined; // the next file tries again
    throw err;
  });
  return shared.app;
}

/** The process's shared Chromium, launched on first use (and again if it went away). */
export async function sharedChromium(): Promise<Browser> {
  const running = await shared.browser?.catch(() => undefined);
  if (running?.isConnected()) return running;
  const launched = launchChromium();
  shared.browser = launched;
  launched.catch(() => {
    if (shared.browser === launched) shared.browser = undefined; // the next file tries again
  });
  return launched;
}

/** Closes what {@link sharedConsoleApp} and {@link sharedChromium} started (at the end of the process). */
export async function closeSharedConsole(): Promise<void> {
  const { app, browser } = shared;
  shared.app = undefined;
  shared.browser = undefined;
  await (await browser?.catch(() => undefined))?.close();
  await stopConsoleApp(await app?.catch(() => undefined));
}
shared.close = closeSharedConsole;

/**
 * The set-up every console suite shares: the process's app (with a client address of this file's own)
 * and its Chromium, both started by the first file of the process that needs them and reused by the
 * next ones; each test makes its own browser context and its own users and organizations. After the
 * file, the contexts it left open (a failed test does not reach its own `close`) are closed. `use`
 * receives them once they are up.
 */
export function useConsoleSuite(use: (app: ConsoleApp, browser: Browser) => void): void {
  let browser: Browser | undefined;
  beforeAll(async () => {
    const [app, b] = await Promise.all([sharedConsoleApp(), sharedChromium()]);
    browser = b;
    // This file's view of the app: everything shared but the client address.
    const view = Object.assign(Object.create(app) as ConsoleApp, { clientAddress: newClientAddress() });
    sharedViews.add(view);
    use(view, b);
  });
  afterAll(async () => {
    await Promise.all((browser?.contexts() ?? []).map((c) => c.close()));
  });
}

/** Chromium, headless, with a fresh profile (Playwright creates and removes it). */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    args: [
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * A browser context (its own cookies) on the app, following the system colour scheme given. Every page
 * of it records Content-Security-Policy violations and uncaught errors in `problems`.
 */
export async function newContext(
  browser: Browser,
  c: ConsoleApp,
  opts: { colorScheme?: 'light' | 'dark' } = {},
): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({
    baseURL: c.origin,
    // The file's client address (also on `page.request`): see ConsoleApp.clientAddress.
    extraHTTPHeaders: { 'x-forwarded-for': c.clientAddress },
    viewport: { width: 1440, height: 900 },
    colorScheme: opts.colorScheme ?? 'light',
    // No transitions: axe and the screenshots see each screen settled, not half faded in.
    reducedMotion: 'reduce',
  });
  // A step that does not happen fails within the test's time, with the locator it waited for.
  context.setDefaultTimeout(15_000);
  const problems: string[] = [];
  context.on('page', (p) => watch(p, problems));
  const page = await context.newPage();
  return { context, page, problems };
}

function watch(page: Page, problems: string[]): void {
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy|Refused to/i.test(msg.text())) {
      const at = msg.location();
      problems.push(`${page.url()}: ${msg.text()} (${at.url}:${at.lineNumber})`);
    }
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
}

const AXE_SOURCE = axe.source;

/**
 * Runs axe-core in the page (injected through the DevTools protocol, which the page's CSP does not
 * govern) and fails on any serious or critical violation.
 */
export async function expectAccessible(page: Page, screen: string): Promise<void> {
  // The screen at rest: no control left in its hover state by the last click.
  await page.mouse.move(0, 0);
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async () => {
    const w = window as unknown as {
      axe: { run: (ctx: Document, opts: object) => Promise<{ violations: AxeViolation[] }> };
    };
    const result = await w.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary ?? ''}`),
    }));
  });
  const blocking = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(blocking, `axe on ${screen}: ${JSON.stringify(blocking, null, 1)}`).toEqual([]);
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; failureSummary?: string }[];
}

/** Screenshots of the page at 1440 px and 375 px wide under test-output/console/<folder>/. */
export async function screenshots(page: Page, folder: string, step: string): Promise<void> {
  const dir = join(SCREENSHOTS, folder);
  mkdirSync(dir, { recursive: true });
  const size = page.viewportSize() ?? { width: 1440, height: 900 };
  await page.screenshot({ path: join(dir, `${step}-1440.png`), fullPage: true });
  await page.setViewportSize({ width: 375, height: 812 });
  await page.screenshot({ path: join(dir, `${step}-375.png`), fullPage: true });
  // Nothing wider than the phone's screen: no horizontal scrolling at 375 px.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, `${step}: page wider than 375 px`).toBeLessThanOrEqual(0);
  await page.setViewportSize(size);
}

/** The link of the next mail to `email` that points at `page` of the console (waits for delivery). */
export async function mailedLink(
  email: string,
  path: 'verify-email' | 'reset-password' | 'accept-invitation',
  seen: Set<string>,
): Promise<string> {
  const pattern = new RegExp(`(https?://[^\\s"<>]+/${path}\\?token=[A-Za-z0-9_%-]+)`);
  const mail = await sharedMailbox().waitFor(
    (m) => m.to.includes(email) && !seen.has(m.raw) && pattern.test(mailText(m.raw)),
    30_000,
  );
  seen.add(mail.raw);
  return pattern.exec(mailText(mail.raw))![1]!;
}

/** A unique address and a password for a console test user. */
export const newEmail = (prefix: string) => `${prefix}-${randomBytes(5).toString('hex')}@console.example.com`;
export const newPassword = () => `Pw-${randomBytes(12).toString('base64url')}-console`;

/**
 * Signs a new person up through the console and opens the mailed verification link: the page ends signed
 * in, on their Personal Organization's projects.
 */
export async function signUpVerified(page: Page, email: string, password: string, seen: Set<string>) {
  await page.goto('/sign-up');
  await page.getByRole('heading', { name: 'Create your account' }).waitFor();
  await page.getByRole('textbox', { name: 'Email' }).fill(email);
  await page.getByRole('textbox', { name: 'Password' }).fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Check your mail' }).waitFor();
  await page.goto(await mailedLink(email, 'verify-email', seen));
  await page.waitForURL(/\/o\/[a-z0-9-]+\/projects$/);
}

/**
 * The API as the page's signed-in user (its cookies), with the Origin header a browser sends, for the
 * steps this milestone has no screen for yet (inviting, changing a role).
 */
export function apiAs(page: Page, c: ConsoleApp) {
  const headers = { origin: c.origin };
  return {
    get: (path: string) => page.request.get(`${c.base}${path}`, { headers }),
    post: (path: string, data?: unknown) =>
      page.request.post(`${c.base}${path}`, { headers, ...(data === undefined ? {} : { data }) }),
    patch: (path: string, data: unknown) => page.request.patch(`${c.base}${path}`, { headers, data }),
    put: (path: string, data: unknown) => page.request.put(`${c.base}${path}`, { headers, data }),
    delete: (path: string) => page.request.delete(`${c.base}${path}`, { headers }),
  };
}
