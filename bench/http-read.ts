/**
 * End-to-end tenant read over HTTP, every part in a process of its own:
 *   - the app, started as `npm start` starts it (`node --import tsx src/main.ts`, NODE_ENV=production,
 *     its default log level, its log to BENCH_APP_LOG or /dev/null: logging is part of the honest cost),
 *     on the benchmark's database through the runtime role (RLS, tenant per transaction);
 *   - a bare server (bench/http-bare-server.ts): Fastify + pg as the superuser, no auth, no RLS, no log,
 *     the same pool size and response schema, with an unnamed and a named prepared statement route;
 *   - the load generator (autocannon), in a fresh child process per run.
 * Targets (bench/http-targets.ts), each a GET of a random project of a random signed-in user's
 * organization: bare-unnamed, bare-prepared, session, session-org-slug, session-org-id,
 * session-path-slug, jwt, apikey; with BENCH_TARGETS=all also jwt-org-slug, apikey-org-slug,
 * session-silent-log (a second app process with LOG_LEVEL=silent: what logging costs) and app-noauth
 * (the composition with a header-trusting authenticator: what identity costs). After a warm-up run per
 * target, rounds run every target in turn; medians are reported with ratios to both bare routes and CPU
 * per response by process from /proc. Any non-2xx response or error makes the exit code 1.
 * Environment: BENCH_SECONDS (10), BENCH_ROUNDS (3), BENCH_CONNECTIONS (32), BENCH_POOL (10, the app's
 * DB_POOL_SIZE and the bare pool), BENCH_USERS (100), BENCH_WARMUP_SECONDS (3), BENCH_TARGETS (names,
 * or `all`), BENCH_MAX_FOREIGN (0.25: a round in which other processes used more cores is noisy),
 * BENCH_MAX_ROUNDS (= rounds: more lets noisy rounds be replaced), BENCH_APP_LOG (a file for the app's
 * log), BENCH_PROFILE=<target> (run that target alone with its server under --cpu-prof and summarize
 * the measured interval), BENCH_DATABASE_URL (a superuser URL instead of a throwaway embedded cluster),
 * BENCH_REDIS_URL (the app's REDIS_URL; unset like a default `npm start`), BENCH_NODE_ARGS (node flags
 * for the app processes, e.g. `--trace-gc`, whose lines go to BENCH_APP_LOG), BENCH_COMPARE_DIR (another
 * checkout of the project, e.g. a worktree of main: a second app started from it on the same database,
 * each app target followed in every round by its twin `<name>@cmp` sent to that app, an A/B in the
 * same minutes; the other checkout must have the same migrations).
 * Usage: npm run bench:http
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createPasswordHasher } from '../src/modules/auth/passwords.js';
import { freePort } from '../test/support/provision.js';
import { startConsumerAccounting } from './cpu-accounting.js';
import { benchDatabase, seedProjects } from './harness.js';
import { appEnvironment, installCleanup, startServer, track, type ServerProcess } from './http-processes.js';
import { foreignCores, printReport, type Measured, type Round } from './http-report.js';
import {
  preflight,
  refreshAccessTokens,
  requestsOf,
  selectTargets,
  signIn,
  withCompareTwins,
  type ServerName,
  type Target,
} from './http-targets.js';
import { seedOwners } from './identity.js';
import { forkLoadProcess } from './load.js';
import { summarizeProfile } from './profile-summary.js';

const env = process.env;
const SECONDS = Number(env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 32);
const POOL = Number(env.BENCH_POOL ?? 10); // DB_POOL_SIZE's default
const USERS = Number(env.BENCH_USERS ?? 100);
const WARMUP = Number(env.BENCH_WARMUP_SECONDS ?? 3);
const MAX_FOREIGN = Number(env.BENCH_MAX_FOREIGN ?? 0.25);
const MAX_ROUNDS = Math.max(ROUNDS, Number(env.BENCH_MAX_ROUNDS ?? ROUNDS));
const PROFILE = env.BENCH_PROFILE?.trim() || undefined;
const APP_LOG = env.BENCH_APP_LOG ?? '/dev/null';
/** Extra node flags for the app processes (not the bare server), e.g. `--trace-gc`, whose lines go to the app log. */
const APP_NODE_ARGS = (env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
const PASSWORD = 'bench password: correct horse battery staple';

const COMPARE_DIR = env.BENCH_COMPARE_DIR?.trim() || undefined;
const selected = selectTargets(PROFILE ?? env.BENCH_TARGETS);
const targets = COMPARE_DIR && !PROFILE ? withCompareTwins(selected) : selected;
if (PROFILE && targets.length !== 1) throw new Error('BENCH_PROFILE names one target');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'saasready-http-bench-'));
const profileDir = path.join(tmp, 'profile');
const servers = new Map<ServerName, ServerProcess>();
const owned: { dbClose?: () => Promise<void> } = {};

let stopping: Promise<void> | undefined;
/** Stops the servers, drops the database and stops the cluster, once (an interrupt and the main flow both call it). */
function stopEverything(): Promise<void> {
  stopping ??= (async () => {
    try {
      await Promise.all([...servers.values()].map((s) => s.stop(5_000)));
      await owned.dbClose?.();
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  })();
  return stopping;
}
installCleanup(stopEverything);

async function startServers(
  names: ReadonlySet<ServerName>,
  database: Awaited<ReturnType<typeof benchDatabase>>['db'],
) {
  const appEnv = await appEnvironment(database, POOL, path.join(tmp, 'data'));
  const profiled = PROFILE ? targets[0]!.server : undefined;
  for (const name of names) {
    const port = await freePort();
    const nodeArgs = [
      ...(name === 'bare' ? [] : APP_NODE_ARGS),
      ...(name === profiled ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
    ];
    // The compared app answers as the app's URL (the issuer of its access tokens, the allowed origin).
    const publicUrl = name === 'app-compare' ? servers.get('app')!.url : `http://127.0.0.1:${port}`;
    const app = { PORT: String(port), PUBLIC_URL: publicUrl };
    const spec: { entry: string; env: Record<string, string>; readyPath: string; cwd?: string } =
      name === 'app-compare'
        ? { entry: 'src/main.ts', env: { ...appEnv, ...app }, readyPath: '/healthz', cwd: COMPARE_DIR }
        : name === 'bare'
          ? {
              entry: 'bench/http-bare-server.ts',
              env: { BARE_DATABASE_URL: database.adminUrl, BARE_POOL: String(POOL), BARE_PORT: String(port) },
              readyPath: '/bare/ready',
            }
          : name === 'app'
            ? { entry: 'src/main.ts', env: { ...appEnv, ...app }, readyPath: '/healthz' }
            : name === 'app-silent-log'
              ? {
                  entry: 'src/main.ts',
                  env: { ...appEnv, ...app, LOG_LEVEL: 'silent' },
                  readyPath: '/healthz',
                }
              : { entry: 'bench/http-app-noauth.ts', env: { ...appEnv, ...app }, readyPath: '/healthz' };
    servers.set(name, await startServer({ name, port, logFile: APP_LOG, nodeArgs, ...spec }));
  }
}

const { db, close } = await benchDatabase();
owned.dbClose = close;
try {
  const rows = await seedProjects(db.adminUrl, 100, 100);
  const projectsOf = new Map<string, string[]>();
  for (const r of rows) projectsOf.set(r.org, [...(projectsOf.get(r.org) ?? []), r.id]);
  const orgIds = [...projectsOf.keys()];
  const admin = new pg.Client({ connectionString: db.adminUrl });
  await admin.connect();
  const slugRows = await admin.query<{ id: string; slug: string }>(
    'select id, slug from organizations where id = any($1::uuid[])',
    [orgIds],
  );
  await admin.end();
  const slugOf = new Map(slugRows.rows.map((r) => [r.id, r.slug]));
  const phc = await createPasswordHasher().hash(PASSWORD); // the app's hasher; one hash serves every user
  const users = await seedOwners(
    db.adminUrl,
    orgIds,
    PASSWORD,
    orgIds.map(() => phc),
  );

  await startServers(new Set<ServerName>(['app', ...targets.map((t) => t.server)]), db);
  const app = servers.get('app')!;
  const creds = await signIn(app.url, users.slice(0, USERS), slugOf);
  const first = creds[0]!;
  for (const t of targets)
    await preflight(t, servers.get(t.server)!.url, first, projectsOf.get(first.orgId)![0]!);

  const consumers = Object.fromEntries([...servers].map(([name, s]) => [name, [s.pid]]));
  const job = async (t: Target, seconds: number): Promise<Measured> => {
    if (t.name.startsWith('jwt')) await refreshAccessTokens(app.url, creds);
    const url = servers.get(t.server)!.url;
    const requests = requestsOf(t, creds, projectsOf);
    const load = await forkLoadProcess(
      { name: t.name, url, connections: CONNECTIONS, seconds, pick: 'random', requests },
      track,
    );
    try {
      const cpu = startConsumerAccounting({
        consumers: { ...consumers, load: [load.pid] },
        postgresDatabase: db.database,
      });
      const result = await load.go();
      return { ...result, cpu: cpu.stop() };
    } finally {
      load.kill();
    }
  };

  const warm: Measured[] = [];
  for (const t of targets) warm.push(await job(t, WARMUP));
  // A round runs every target once, in turn. A round during which other processes used more than
  // MAX_FOREIGN cores is noisy: up to MAX_ROUNDS rounds run until ROUNDS quiet ones; the medians use the
  // quiet rounds when there are ROUNDS of them, else every round (and say so).
  const quiet = (round: Round) => Object.values(round).every((r) => foreignCores(r) <= MAX_FOREIGN);
  const rounds: Round[] = [];
  const measuredFromUs = Number(process.hrtime.bigint() / 1000n);
  while (rounds.filter(quiet).length < ROUNDS && rounds.length < MAX_ROUNDS) {
    const round: Round = {};
    for (const t of targets) round[t.name] = await job(t, SECONDS);
    rounds.push(round);
  }
  const measuredToUs = Number(process.hrtime.bigint() / 1000n);
  const quietRounds = rounds.filter(quiet);
  const used = quietRounds.length >= ROUNDS ? quietRounds : rounds;

  console.log(
    `http-read: ${SECONDS}s per target per round, ${rounds.length} round(s), targets in turn, ${CONNECTIONS} connections, ` +
      `pool ${POOL} (app and bare), ${creds.length} signed-in users over ${orgIds.length} orgs x 100 projects, ` +
      `PostgreSQL ${db.serverVersion}${env.BENCH_DATABASE_URL ? '' : ' (embedded)'}, Node ${process.version}, ${os.availableParallelism()} CPUs`,
  );
  console.log(
    `  app: node --import tsx src/main.ts, NODE_ENV=production, default log level (info) to ${APP_LOG}` +
      `${env.BENCH_REDIS_URL ? ', Redis cache' : ', in-process cache'}; bare, app and load generator in separate processes`,
  );
  console.log(
    `  ${quietRounds.length} of ${rounds.length} rounds quiet (other processes <= ${MAX_FOREIGN} cores); medians over ` +
      (used === quietRounds ? 'the quiet rounds' : 'ALL rounds (machine busy: read the CPU figures)'),
  );
  const bad = printReport({ targets, rounds, used, warm, quiet });

  if (PROFILE) {
    const server = servers.get(targets[0]!.server)!;
    await server.stop(); // a graceful exit writes the profile
    servers.delete(targets[0]!.server);
    const files = fs.existsSync(profileDir)
      ? fs.readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'))
      : [];
    if (files.length === 0) throw new Error(`no profile written to ${profileDir}`);
    const kept = path.join(os.tmpdir(), `http-read-${PROFILE}-${Date.now()}.cpuprofile`);
    fs.copyFileSync(path.join(profileDir, files[0]!), kept);
    console.log(`\nprofile of ${server.name} serving ${PROFILE} (kept at ${kept}):`);
    const window = { fromUs: measuredFromUs, toUs: measuredToUs };
    for (const line of summarizeProfile(kept, { top: 25, window })) console.log(line);
  }
  if (bad > 0) {
    console.log(`  INVALID RUN: ${bad} non-2xx responses or errors`);
    process.exitCode = 1;
  }
} finally {
  await stopEverything();
}
