import { configDefaults, defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

/** What every test file runs with. */
const common: TestProjectInlineConfiguration['test'] = {
  // Every test process seals job payloads with the test KEK (code that queues jobs outside compose()),
  // and fails a test during which a tenant scope sent a statement without its explicit organization_id
  // filter (on with SAASREADY_EXPLICIT_FILTERS, which the global setup sets for the whole run).
  setupFiles: [
    './test/support/job-key.ts',
    './test/support/statement-cache.ts',
    './test/support/explicit-filter-check.ts',
  ],
  testTimeout: 30_000,
  hookTimeout: 120_000,
  pool: 'forks',
  // Three test processes on two cores: a test process spends about half its time waiting (PostgreSQL,
  // Chromium, servers it started, the job queue), so a third one keeps the cores busy (a full run went from
  // about 15 to about 9 minutes here).
  maxWorkers: 3,
};

const CONSOLE = 'test/console/**/*.test.ts';

/**
 * Server files that keep a fresh process each (the `server` project): they change process-wide state (fake
 * timers, environment variables, the statement cache setting), or start and kill servers and clusters of
 * their own (test/lifecycle).
 */
const ISOLATED = [
  'test/lifecycle/**/*.test.ts',
  'src/modules/auth/throttle.test.ts',
  'src/modules/sso/oidc.ssrf.test.ts',
  'src/cli/migrate.test.ts',
  'src/platform/tenancy/citus-setter.test.ts',
  'src/platform/tenancy/pgbouncer.test.ts',
  'src/platform/tenancy/pipelined-query.test.ts',
  'src/platform/tenancy/schema-qualified-reads.test.ts',
  // Counts the process's prepared statement names per schema (capped at 2,000 a kind), which earlier
  // files of a group would have used up.
  'src/platform/tenancy/schema-placement.test.ts',
  'test/e2e/token-attacks.test.ts',
];

const MODULES_BILLING = ['billing', 'quotas', 'usage', 'plans', 'tenant-placement'].map(
  (m) => `src/modules/${m}/**/*.test.ts`,
);
const MODULES_IDENTITY = [
  'auth',
  'sso',
  'two-factor',
  'passkeys',
  'tokens',
  'social-sign-in',
  'api-keys',
].map((m) => `src/modules/${m}/**/*.test.ts`);

/**
 * Every other server file, in groups that each run without isolation: a test process runs the files of
 * one group one after the other and keeps their modules (the composition is imported once, not once per
 * file). A process ends with its group, so what the files of a group keep in memory ends with it too (a
 * process that ran about 90 files grew past 2 GB). Vitest runs the projects in the order of their names: the
 * groups with the longest files (the CLI's tenant move, the placement DDL lock, platform-admin's CLI) come
 * first, the many short files of identity and platform last, so the run does not end on one long file.
 */
const SHARED: { name: string; include: string[]; exclude?: string[] }[] = [
  {
    name: 'shared 1: tenancy, app, cli, migrations',
    include: [
      'src/platform/tenancy/**/*.test.ts',
      'src/app/**/*.test.ts',
      'src/cli/**/*.test.ts',
      'src/migrations/**/*.test.ts',
    ],
  },
  { name: 'shared 2: billing, quotas, usage, placement', include: MODULES_BILLING },
  {
    name: 'shared 3: modules',
    include: ['src/modules/**/*.test.ts'],
    exclude: [...MODULES_BILLING, ...MODULES_IDENTITY],
  },
  { name: 'shared 4: e2e a-q', include: ['test/e2e/[a-q]*.test.ts'] },
  { name: 'shared 5: e2e r', include: ['test/e2e/r*.test.ts'] },
  {
    name: 'shared 6: e2e s-z, multi-instance',
    include: ['test/e2e/[s-z]*.test.ts', 'test/multi-instance/**/*.test.ts', 'test/*.test.ts'],
  },
  { name: 'shared 7: identity', include: MODULES_IDENTITY },
  {
    name: 'shared 8: platform',
    include: ['src/platform/**/*.test.ts'],
    exclude: ['src/platform/tenancy/**'],
  },
];

export default defineConfig({
  test: {
    // Once per run (not per project): the database, Redis and the SMTP sink every file uses.
    globalSetup: ['./test/support/global-setup.ts'],
    maxWorkers: 3,
    projects: [
      {
        // The files of ISOLATED, each in a fresh process.
        test: {
          ...common,
          name: 'server',
          include: ISOLATED,
        },
      },
      // The rest, a process per group (see SHARED and docs/testing.md, "How the suite runs").
      ...SHARED.map((g) => ({
        test: {
          ...common,
          name: g.name,
          include: g.include,
          exclude: [...configDefaults.exclude, ...ISOLATED, ...(g.exclude ?? [])],
          isolate: false,
        },
      })),
      {
        // The browser tests, after every server file (`groupOrder` 1: Vitest starts them when the server
        // projects have ended). Run beside the server groups, whose processes keep both cores busy, a
        // Chromium page could miss a 15 s wait; alone, they share the cores only with each other. A test
        // process runs console file after console file without isolation, so one app and one Chromium serve
        // them all (test/console/support.ts; each test still has its own browser context, users and
        // organizations), closed by the environment's teardown when Vitest ends the process
        // (test/console/environment.ts).
        test: {
          ...common,
          name: 'console',
          include: [CONSOLE],
          isolate: false,
          environment: './test/console/environment.ts',
          sequence: { groupOrder: 1 },
          // Two processes, two Chromiums: on two cores the console files took 219 s so against 231 s with
          // three, which also made each page wait longer for a core.
          maxWorkers: 2,
        },
      },
    ],
  },
});
