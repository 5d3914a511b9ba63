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

export default defineConfig({
  test: {
    // Once per run (not per project): the database, Redis and the SMTP sink every file uses.
    globalSetup: ['./test/support/global-setup.ts'],
    maxWorkers: 3,
    projects: [
      {
        // The browser tests, first (they are the longest): a test process runs console file after console
        // file without isolation, so one app and one Chromium serve them all (test/console/support.ts;
        // each test still has its own browser context, users and organizations), closed by the
        // environment's teardown when Vitest ends the process (test/console/environment.ts).
        test: {
          ...common,
          name: 'console',
          include: [CONSOLE],
          isolate: false,
          environment: './test/console/environment.ts',
        },
      },
      {
        // Everything else, each file in a fresh process.
        test: {
          ...common,
          name: 'server',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, CONSOLE],
        },
      },
    ],
  },
});
