import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import type { AppConfig } from '../platform/config.js';
import {
  citusPlan,
  citusTablesDone,
  DEFINER_PASSWORD,
  planText,
  type CitusStep,
} from '../platform/tenancy/citus-plan.js';
import { connectForCli } from './connect.js';
import { scramSha256Verifier } from './scram-verifier.js';

export interface CitusDistributeArgs {
  readonly dryRun: boolean;
  /** A superuser of the coordinator (CITUS_SUPERUSER_URL): the settings, the definer role's login and
   *  pg_dist_authinfo need one. Without it, the owner role (MIGRATION_DATABASE_URL) runs the plan. */
  readonly superuserUrl?: string;
}

const NO_CITUS =
  'saasready: the citus extension is not installed in this database: run `create extension citus` on the ' +
  'coordinator first (docs/citus.md), or `--dry-run` to print the plan';

/** Whether a step still has to run: a table Citus already knows, or a trigger already gone, is skipped
 *  (Citus may convert a table on its own, e.g. a local table referencing a new reference table). */
async function stillToDo(q: pg.ClientBase, step: CitusStep): Promise<boolean> {
  if (!step.table) return true;
  if (step.kind === 'trigger') {
    const name = /^drop trigger "((?:[^"]|"")+)"/.exec(step.sql[0]!)?.[1]?.replaceAll('""', '"');
    const res = await q.query(
      `select 1 from pg_catalog.pg_trigger t join pg_catalog.pg_class c on c.oid = t.tgrelid
        where c.relnamespace = 'public'::regnamespace and c.relname = $1 and t.tgname = $2`,
      [step.table, name],
    );
    return res.rows.length > 0;
  }
  return !(await citusTablesDone(q)).has(step.table);
}

/**
 * `saasready citus distribute [--dry-run]`: prints the plan (citus-plan.ts) and, without --dry-run, runs it
 * step by step (each step in its own transaction, re-checked just before it runs: re-running after a
 * failure continues where it stopped). Exit 0 done (or printed), 1 refused or failed.
 */
export async function citusDistribute(
  config: AppConfig,
  log: Logger,
  args: CitusDistributeArgs,
  write: (text: string) => void,
): Promise<number> {
  const { pool: owner, roles, url, close } = await connectForCli(config, log, 'owner');
  try {
    const plan = await citusPlan(owner, roles);
    if (args.dryRun) {
      write(planText(plan));
      return 0;
    }
    if (!plan.citus) {
      write(`${NO_CITUS}\n`);
      return 1;
    }
    if (plan.blocked.length > 0) {
      write(planText(plan));
      write(
        `saasready: refused: ${plan.blocked.map((b) => `trigger ${b.trigger} on ${b.table}`).join(', ')} ` +
          'must first move out of the trigger (see the BLOCKED lines)\n',
      );
      return 1;
    }
    const client = new pg.Client({ connectionString: args.superuserUrl ?? url });
    await client.connect();
    try {
      const su = await client.query<{ s: boolean }>(
        'select rolsuper as s from pg_catalog.pg_roles where rolname = current_user',
      );
      const needsSuper = plan.steps.some((s) => s.kind === 'setting' || s.kind === 'definer');
      if (needsSuper && !su.rows[0]?.s) {
        write(
          'saasready: refused: the coordinator settings and the definer role login need a superuser: ' +
            'set CITUS_SUPERUSER_URL\n',
        );
        return 1;
      }
      await runCitusSteps(client, plan.steps, write);
      write('citus distribute: done\n');
      return 0;
    } finally {
      await client.end();
    }
  } finally {
    await close();
  }
}

/**
 * Runs the steps in order on `client`, each re-checked just before it runs (a table Citus already knows, a
 * trigger already gone: skipped and said). `:definer_password` becomes a password generated here (or
 * `password`, for tests), sent to the database and never written out, nor put in any statement's text:
 * `ALTER ROLE … PASSWORD` gets its SCRAM verifier, any other statement the password as a bind parameter,
 * and the step runs with statement logging off (a statement's text reaches the server log with
 * `log_statement`, or with `log_min_error_statement` when it fails).
 */
export async function runCitusSteps(
  client: pg.ClientBase,
  steps: readonly CitusStep[],
  write: (text: string) => void,
  password: string = randomBytes(24).toString('base64url'),
): Promise<void> {
  for (const step of steps) {
    if (!(await stillToDo(client, step))) {
      write(`-- already done: ${step.kind}${step.table ? ` ${step.table}` : ''}\n`);
      continue;
    }
    write(`-- ${step.kind}${step.table ? ` ${step.table}` : ''}: ${step.why}\n`);
    const secret = step.sql.some((stmt) => stmt.includes(DEFINER_PASSWORD));
    // A step of several statements is one transaction (a trigger is never dropped without its
    // replacement), and so is one with the password (its logging settings are transaction-local); a single
    // Citus function call runs on its own, as Citus prefers.
    const atomic = step.sql.length > 1 || secret;
    if (atomic) await client.query('begin');
    try {
      if (secret) {
        await client.query(`set local log_statement = 'none'`);
        await client.query(`set local log_min_error_statement = 'panic'`);
      }
      for (const stmt of step.sql) {
        if (!stmt.includes(DEFINER_PASSWORD)) {
          await client.query(stmt);
        } else if (/^alter role /i.test(stmt)) {
          // The verifier is base64, '$' and ':': no quote to escape.
          await client.query(stmt.replaceAll(DEFINER_PASSWORD, `'${scramSha256Verifier(password)}'`));
        } else {
          await client.query(stmt.replaceAll(DEFINER_PASSWORD, '$1::text'), [password]);
        }
        write(`${stmt};\n`);
      }
      if (atomic) await client.query('commit');
    } catch (err) {
      if (atomic) await client.query('rollback').catch(() => {});
      throw err;
    }
  }
}
