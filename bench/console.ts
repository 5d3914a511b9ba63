/**
 * The console's weight and speed, for issue 9's quality bar (printed, not asserted: a benchmark, not a
 * timed test):
 *  1. the gzipped JavaScript and CSS of the sign-in route from Vite's build manifest (budget 200 KB JS),
 *     and of the members page's own chunks;
 *  2. the time from navigation to an interactive members page in Debian's Chromium on this machine: a
 *     signed-in owner of an organization with 20 members opens `/o/<slug>/members`; the clock stops when
 *     the last member's "Change role" button is drawn and enabled (the page's data and the owner's
 *     permissions have arrived and React has drawn them). Cold = a new
 *     browser context (empty HTTP cache), warm = the same context again (cached, immutable assets).
 *
 * Run: `npm run bench:console` (builds the console first when stale). CHROMIUM_PATH overrides
 * /usr/bin/chromium.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { uuidv7 } from '../src/platform/ids.js';
import { chromium } from 'playwright-core';
import { ensureBuilt } from '../web/scripts/ensure-built.js';
import { createPasswordHasher } from '../src/modules/auth/passwords.js';
import { freePort } from '../test/support/provision.js';
import { benchDatabase, median } from './harness.js';
import { composeBenchApp, seedOwners } from './identity.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const MEMBERS = 20;
const PASSWORD = 'bench-console-Pa55word!';
const DIST = fileURLToPath(new URL('../web/dist', import.meta.url));

interface ManifestChunk {
  file: string;
  css?: string[];
  imports?: string[];
}

/** gzip -9 sizes of a manifest entry and everything it imports statically (each file counted once). */
function weigh(
  manifest: Record<string, ManifestChunk | undefined>,
  entries: string[],
  skip = new Set<string>(),
) {
  const files = new Set<string>();
  const visit = (key: string) => {
    const chunk = manifest[key];
    if (!chunk || files.has(chunk.file) || skip.has(chunk.file)) return;
    files.add(chunk.file);
    for (const css of chunk.css ?? []) if (!skip.has(css)) files.add(css);
    for (const imported of chunk.imports ?? []) visit(imported);
  };
  entries.forEach(visit);
  let js = 0;
  let css = 0;
  for (const f of files) {
    const gz = gzipSync(readFileSync(join(DIST, f)), { level: 9 }).length;
    if (f.endsWith('.js')) js += gz;
    else css += gz;
  }
  return { files, js, css };
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

ensureBuilt();
const manifest = JSON.parse(readFileSync(join(DIST, '.vite', 'manifest.json'), 'utf8')) as Record<
  string,
  ManifestChunk | undefined
>;
const signIn = weigh(manifest, ['index.html', 'src/features/auth/pages/SignInPage.tsx']);
const members = weigh(manifest, ['src/features/members/pages/MembersPage.tsx'], signIn.files);
console.log(`sign-in route: ${kb(signIn.js)} JavaScript (budget 200 KB), ${kb(signIn.css)} CSS, gzip -9`);
console.log(`members page, beyond the sign-in route: ${kb(members.js)} JavaScript, ${kb(members.css)} CSS`);

const { db, close } = await benchDatabase();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  chromiumSandbox: false,
  args: ['--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
});
try {
  // One organization, its owner and 19 more members (seeded as superuser, as the other benchmarks do).
  const admin = new pg.Client({ connectionString: db.adminUrl });
  await admin.connect();
  const orgId = uuidv7();
  const slug = `bench-console-${orgId.slice(-6)}`;
  await admin.query(`insert into organizations (id, slug, name) values ($1, $2, 'Bench console')`, [
    orgId,
    slug,
  ]);
  await admin.query(`insert into tenant_placements (organization_id, database_key) values ($1, null)`, [
    orgId,
  ]);
  const hash = await createPasswordHasher().hash(PASSWORD);
  const seeded = await seedOwners(
    db.adminUrl,
    Array(MEMBERS).fill(orgId) as string[],
    PASSWORD,
    Array(MEMBERS).fill(hash) as string[],
  );
  // seedOwners makes everyone an owner; the others become members so the page draws mixed roles.
  await admin.query(`update memberships set role = 'member' where organization_id = $1 and user_id <> $2`, [
    orgId,
    seeded[0]!.userId,
  ]);
  await admin.end();

  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const app = await composeBenchApp({
    databaseUrl: db.url,
    keyVaultUrl: db.keyVaultUrl,
    poolSize: 8,
    publicUrl: origin,
    trustProxy: false,
  });
  await app.app.listen({ host: '127.0.0.1', port });
  try {
    const owner = seeded[0]!;
    const context = await browser.newContext({ baseURL: origin });
    const login = await context.request.post('/v1/auth/login', {
      headers: { origin },
      data: { email: owner.email, password: owner.password },
    });
    if (login.status() !== 200) throw new Error(`login answered ${login.status()}`);
    const cookies = await context.cookies();
    await context.close();

    const openMembers = async (ctx: Awaited<ReturnType<typeof browser.newContext>>) => {
      const page = await ctx.newPage();
      const trace: string[] = [];
      const t0 = performance.now();
      if (process.env.BENCH_TRACE) {
        page.on('requestfinished', (r) => {
          const at = (performance.now() - t0).toFixed(0);
          const t = r.timing();
          const wait = (t.responseStart - t.requestStart).toFixed(0);
          trace.push(`${at.padStart(5)} ms  ${r.method()} ${new URL(r.url()).pathname} (server ${wait} ms)`);
        });
      }
      await page.goto(`/o/${slug}/members`);
      // Interactive: the last member's "Change role" button is drawn, enabled (role and permissions known).
      const last = page.getByRole('button', { name: `Change role of ${seeded[MEMBERS - 1]!.email}` });
      await last.waitFor({ timeout: 30_000 });
      if (!(await last.isEnabled())) throw new Error('the members page drew its actions disabled');
      const ms = performance.now() - t0;
      if (trace.length) console.log(`  requests of one navigation (finished at):\n  ${trace.join('\n  ')}`);
      await page.close();
      return ms;
    };
    const cold: number[] = [];
    const warm: number[] = [];
    // One untimed pass: the server's first request compiles and caches what every later one reuses.
    {
      const ctx = await browser.newContext({ baseURL: origin });
      await ctx.addCookies(cookies);
      await openMembers(ctx);
      await ctx.close();
    }
    for (let i = 0; i < ROUNDS; i++) {
      const ctx = await browser.newContext({ baseURL: origin });
      await ctx.addCookies(cookies);
      cold.push(await openMembers(ctx));
      warm.push(await openMembers(ctx));
      await ctx.close();
    }
    const fmt = (xs: number[]) =>
      `median ${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
    console.log(
      `navigation → interactive members page (${MEMBERS} members, ${ROUNDS} rounds, Chromium headless):`,
    );
    console.log(`  cold (empty HTTP cache): ${fmt(cold)}`);
    console.log(`  warm (cached assets):    ${fmt(warm)}`);
  } finally {
    await app.app.close();
    await app.close();
  }
} finally {
  await browser.close();
  await close();
}
