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
import { buildTestApp } from '../support/app.js';
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
};

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
  });
  await app.app.listen({ port, host: '127.0.0.1' });
  const proxy = prefix ? await startPrefixProxy(publicPort, port, prefix) : undefined;
  const close = app.close.bind(app);
  return Object.assign(app, {
    origin,
    base: `${origin}${prefix}`,
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

export async function stopConsoleApp(c: ConsoleApp | undefined): Promise<void> {
  if (!c) return;
  await c.app.close();
  await c.close();
}

/**
 * The set-up every console suite shares: one app with a built console and one Chromium for the whole file,
 * both closed after it. `use` receives them once they are up.
 */
export function useConsoleSuite(use: (app: ConsoleApp, browser: Browser) => void): void {
  let app: ConsoleApp | undefined;
  let browser: Browser | undefined;
  beforeAll(async () => {
    app = await startConsoleApp();
    browser = await launchChromium();
    use(app, browser);
  });
  afterAll(async () => {
    await browser?.close();
    await stopConsoleApp(app);
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
