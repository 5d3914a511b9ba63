import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_DIST } from '../../src/platform/http/console.js';
import {
  apiAs,
  expectAccessible,
  newContext,
  screenshots,
  sharedChromium,
  startConsoleApp,
  stopConsoleApp,
  useConsoleSuite,
  type ConsoleApp,
} from './support.js';

/** The console routes of the links the product mails, and the screen each must draw. */
const MAILED = [
  { path: '/verify-email?token=not-a-real-token', heading: 'Verify your email' },
  { path: '/reset-password?token=not-a-real-token', heading: 'Choose a new password' },
  { path: '/accept-invitation?token=not-a-real-invitation-token', heading: 'Join the organization' },
] as const;

describe('console: routes served by the API server', () => {
  let c: ConsoleApp;
  let browser: Browser;
  useConsoleSuite((app, b) => {
    c = app;
    browser = b;
  });

  it('every route the product mails is a console page (HTML with the CSP), never the JSON 404', async () => {
    for (const path of [...MAILED.map((m) => m.path), '/', '/sign-in', '/o/some-org/projects']) {
      const res = await fetch(`${c.origin}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toMatch(/^text\/html/);
      expect(res.headers.get('content-security-policy'), path).toContain("script-src 'self'");
      expect(res.headers.get('cache-control'), path).toBe('no-cache');
      const html = await res.text();
      expect(html).toContain('<base href="/" />');
      expect(html).toContain('<div id="root"></div>');
      // Vite's output only: no inline script for the CSP to refuse.
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    }
  });

  it('the API keeps its paths and its JSON 404; assets are immutable files', async () => {
    const json404 = async (path: string, init?: RequestInit) => {
      const res = await fetch(`${c.origin}${path}`, init);
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type'), path).toMatch(/^application\/json/);
      expect(((await res.json()) as { error: { code: string } }).error.code, path).toBe('ROUTE_NOT_FOUND');
    };
    await json404('/v1/no-such-thing');
    await json404('/v1');
    await json404('/.well-known/no-such-thing');
    await json404('/dev/mailbox');
    await json404('/assets/no-such-file.js');
    await json404('/favicon.ico');
    await json404('/sign-in', { method: 'POST' });
    await json404('/readyz/x');

    const openapi = await fetch(`${c.origin}/openapi.json`);
    expect(openapi.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await openapi.json()) as { openapi: string }).openapi).toMatch(/^3\./);
    const health = await fetch(`${c.origin}/healthz`);
    expect(health.headers.get('content-type')).toMatch(/^application\/json/);
    const docs = await fetch(`${c.origin}/docs`);
    expect(await docs.text()).not.toContain('<div id="root"></div>');
    const jwks = await fetch(`${c.origin}/.well-known/jwks.json`);
    expect(jwks.status).toBe(200);

    const index = readFileSync(join(CONSOLE_DIST, 'index.html'), 'utf8');
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(index)![1]!;
    const asset = await fetch(`${c.origin}/${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    // Path traversal out of the assets folder is refused, in the one error shape.
    const traversal = await fetch(`${c.origin}/assets/..%2findex.html`);
    expect(traversal.status).toBe(403);
    expect(((await traversal.json()) as { error: { code: string } }).error.code).toBeTypeOf('string');
  });

  it('in Chromium, each mailed link draws its own screen (not the console 404), accessible', async () => {
    const { context, page, problems } = await newContext(browser, c);
    for (const { path, heading } of MAILED) {
      await page.goto(path);
      await page.getByRole('heading', { name: heading }).waitFor();
      expect(await page.getByText('Page not found').count(), path).toBe(0);
      await expectAccessible(page, path);
      await screenshots(page, 'mailed-routes', path.slice(1).split('?')[0]!);
    }
    // The verification link with a bad token says so, and offers a way to a new link.
    await page.goto(MAILED[0].path);
    await page.getByText('This verification link is invalid, was already used, or has expired.').waitFor();
    await page.getByRole('link', { name: 'Sign in' }).waitFor();
    // An unknown console path draws the console's own "Page not found".
    await page.goto('/no-such-screen');
    await page.getByText('Page not found').waitFor();
    await expectAccessible(page, 'not found');
    expect(problems).toEqual([]);
    await context.close();
  }, 120_000);

  it('dark colour scheme from the system setting', async () => {
    const { context, page, problems } = await newContext(browser, c, { colorScheme: 'dark' });
    await page.goto('/sign-in');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.evaluate(() => document.documentElement.dataset.mantineColorScheme)).toBe('dark');
    await expectAccessible(page, 'sign-in (dark)');
    await screenshots(page, 'dark', 'sign-in');
    expect(problems).toEqual([]);
    await context.close();
  }, 60_000);
});

describe('console: under a PUBLIC_URL path prefix', () => {
  let c: ConsoleApp;
  let browser: Browser;
  // Its own app (the prefix is part of its configuration); the process's Chromium.
  beforeAll(async () => {
    [c, browser] = await Promise.all([startConsoleApp({ pathPrefix: '/app' }), sharedChromium()]);
  });
  afterAll(async () => {
    await stopConsoleApp(c);
  });

  it('pages, assets, links and API calls stay under the prefix', async () => {
    const html = await (await fetch(`${c.base}/verify-email?token=x`)).text();
    expect(html).toContain('<base href="/app/" />');
    const { context, page, problems } = await newContext(browser, c);
    await page.goto(`${c.base}/o/some-org/projects`);
    // Signed out: sent to sign-in, under the prefix.
    await page.waitForURL(`${c.base}/sign-in?next=%2Fo%2Fsome-org%2Fprojects`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.getByRole('link', { name: 'Create an account' }).getAttribute('href')).toBe(
      '/app/sign-up?next=%2Fo%2Fsome-org%2Fprojects',
    );
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.waitForURL(`${c.base}/sign-up**`);
    await page.getByRole('heading', { name: 'Create your account' }).waitFor();
    // The API call goes through the prefix too (a wrong base would hit the proxy's 404).
    await page.getByRole('textbox', { name: 'Email' }).fill('prefix-user@console.example.com');
    await page.getByRole('textbox', { name: 'Password' }).fill('Pw-a-long-enough-password-1');
    const answer = page.waitForResponse((r) => r.url() === `${c.base}/v1/auth/register`);
    await page.getByRole('button', { name: 'Create account' }).click();
    const res = await answer;
    expect(res.status(), await res.text()).toBe(202);
    await page.getByRole('heading', { name: 'Check your mail' }).waitFor();
    // A password sign-in's device cookie is scoped to the sign-in route as the browser addresses it.
    const login = await apiAs(page, c).post('/v1/auth/login', {
      email: 'prefix-user@console.example.com',
      password: 'Pw-a-long-enough-password-1',
    });
    expect(login.status(), await login.text()).toBe(200);
    const device = (await context.cookies()).find((k) => k.name === 'sr_device');
    expect(device).toMatchObject({ path: '/app/v1/auth/login', httpOnly: true });
    expect(problems).toEqual([]);
    await context.close();
  }, 120_000);
});
