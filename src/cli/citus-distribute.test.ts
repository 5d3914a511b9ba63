import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropProvisioned,
  provisionDatabase,
  type ProvisionedDatabase,
} from '../../test/support/provision.js';
import { connect, testDb } from '../../test/support/tenancy.js';
import { runCli } from '../../test/support/cli.js';
import { startPgBouncer } from '../../test/support/pgbouncer.js';
import { createBareOrganization } from '../modules/organizations/organization-records.js';
import { citusPlan, DEFINER_PASSWORD, planText } from '../platform/tenancy/citus-plan.js';
import { runCitusSteps } from './citus-distribute.js';
import { sealAudit } from '../../test/support/audit.js';
import { createAuditService } from '../modules/audit/audit.service.js';
import { testJwtKey } from '../modules/tokens/tokens.test-support.js';
import { recordAudit } from '../platform/audit/record.js';
import { createAuditSigner, createAuditVerifier } from '../platform/audit/signing.js';
import type { TenantCtx } from '../platform/tenancy/context.js';
import { citusClassification } from '../platform/tenancy/citus-tables.js';
import { CITUS_TRIGGERS } from '../platform/tenancy/citus-triggers.js';
import { createTenancy, type Tenancy } from '../platform/tenancy/tenancy.js';

/**
 * `npx saasready citus distribute` on plain PostgreSQL (the Citus run of the suite is separate,
 * docs/citus.md): the plan printed by --dry-run covers every classified table once, in an order Citus
 * accepts, is deterministic, and its trigger replacements hold on PostgreSQL itself; without --dry-run the
 * command refuses. On a database of its own: the trigger replacements are applied (and rolled back).
 */
describe('npx saasready citus distribute', () => {
  let db: ProvisionedDatabase;
  let admin: pg.Client;
  let tenancy: Tenancy;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    db = await provisionDatabase(testDb().superuserUrl, 'sr_citus');
    admin = await connect(db.adminUrl);
    tenancy = createTenancy({ url: db.url, poolSize: 1 });
    env = {
      DATABASE_URL: db.url,
      MIGRATION_DATABASE_URL: db.migrationUrl,
      WORKER_DATABASE_URL: db.workerUrl,
      KEY_VAULT_DATABASE_URL: db.keyVaultUrl,
      DEFINER_ROLE: db.roles.definer,
    };
  });
  afterAll(async () => {
    await admin?.end();
    await tenancy?.close();
    if (db) await dropProvisioned(db);
  });

  it('--dry-run prints every table once: settings, triggers, reference, distributed (referenced first), local', async () => {
    const plan = await citusPlan(admin, db.roles);
    expect(plan.citus).toBe(false);
    const classes = await citusClassification(admin);
    const tableSteps = plan.steps.filter((s) => ['reference', 'distributed', 'local'].includes(s.kind));
    expect(tableSteps.map((s) => s.table).sort()).toEqual(classes.map((c) => c.table).sort());
    expect(tableSteps.map((s) => s.kind)).toEqual(
      [...tableSteps.map((s) => s.kind)].sort(
        (a, b) =>
          ['reference', 'distributed', 'local'].indexOf(a) - ['reference', 'distributed', 'local'].indexOf(b),
      ),
    );
    const kinds = plan.steps.map((s) => s.kind);
    expect(kinds.slice(0, 2)).toEqual(['setting', 'definer']);
    expect(kinds.lastIndexOf('trigger')).toBeLessThan(kinds.indexOf('reference'));

    // No table comes before a table of the plan it references (Citus needs the referenced one first).
    const fks = await admin.query<{ from: string; to: string }>(
      `select c.relname as from, r.relname as to from pg_constraint k
         join pg_class c on c.oid = k.conrelid join pg_class r on r.oid = k.confrelid
        where k.contype = 'f' and c.relnamespace = 'public'::regnamespace and not c.relispartition
          and k.conrelid <> k.confrelid`,
    );
    const position = new Map(tableSteps.map((s, i) => [s.table!, i]));
    for (const fk of fks.rows) {
      expect({ fk, ok: position.get(fk.to)! < position.get(fk.from)! }).toEqual({ fk, ok: true });
    }

    // The statements' shape; the distributed tables colocated with the first; usage_events as its parent.
    const [first, ...others] = tableSteps.filter((s) => s.kind === 'distributed');
    expect(first!.sql).toEqual([
      `select create_distributed_table('public."${first!.table}"', 'organization_id', colocate_with => 'none')`,
    ]);
    for (const s of others) {
      expect(s.sql).toEqual([
        `select create_distributed_table('public."${s.table}"', 'organization_id', colocate_with => 'public."${first!.table}"')`,
      ]);
    }
    expect(others.map((s) => s.table)).toContain('usage_events');
    expect(tableSteps.some((s) => /usage_events_p\d/.test(s.table!))).toBe(false);
    for (const s of tableSteps.filter((x) => x.kind === 'reference')) {
      expect(s.sql).toEqual([`select create_reference_table('public."${s.table}"')`]);
    }
    for (const s of tableSteps.filter((x) => x.kind === 'local')) {
      expect(s.sql).toEqual([`select citus_add_local_table_to_metadata('public."${s.table}"')`]);
    }

    // The CLI prints exactly this plan, the same each time.
    const printed = await runCli(['citus', 'distribute', '--dry-run'], env);
    expect(printed.code, printed.out).toBe(0);
    expect(printed.out).toBe(planText(plan));
    expect(planText(await citusPlan(admin, db.roles))).toBe(printed.out);
    expect(plan.blocked).toEqual([]);
  }, 60_000);

  it('refuses to run without Citus, with a clear message', async () => {
    const res = await runCli(['citus', 'distribute'], env);
    expect(res.code).toBe(1);
    expect(res.out).toContain('the citus extension is not installed in this database');
  }, 30_000);

  it('the guard triggers it drops guard nothing the runtime and worker roles could do: neither may UPDATE, DELETE or TRUNCATE there', async () => {
    const guarded = [...new Set(CITUS_TRIGGERS.map((d) => d.table))];
    const res = await admin.query<{ t: string; r: string; may: boolean }>(
      `select t, r, has_table_privilege(r, t, 'UPDATE') or has_table_privilege(r, t, 'DELETE')
              or has_table_privilege(r, t, 'TRUNCATE') as may
         from unnest($1::text[]) t, unnest($2::text[]) r`,
      [guarded, [db.roles.runtime, db.roles.worker]],
    );
    expect(res.rows.length).toBe(guarded.length * 2);
    expect(res.rows.filter((x) => x.may)).toEqual([]);
  });

  it('a trigger on a tenant table with no decision stops the plan, naming it', async () => {
    await admin.query('begin');
    try {
      await admin.query(`create trigger test_undecided before truncate on projects
        for each statement execute function app_audit_refuse_change()`);
      await expect(citusPlan(admin, db.roles)).rejects.toThrow(/test_undecided on projects/);
    } finally {
      await admin.query('rollback');
    }
  });

  it('a table name with quotes reaches Citus as the string literal of its quoted identifier', async () => {
    const odd = `it's "odd"`;
    await admin.query('begin');
    try {
      await admin.query(`create table public."it's ""odd""" (organization_id uuid)`);
      const plan = await citusPlan(admin, db.roles);
      const step = plan.steps.find((s) => s.table === odd);
      expect(step?.kind).toBe('distributed');
      const arg = /^select create_distributed_table\((.+), 'organization_id', colocate_with => '.+'\)$/.exec(
        step!.sql[0]!,
      )?.[1];
      expect(arg).toBe(`'public."it''s ""odd"""'`);
      const res = await admin.query<{ t: string | null }>(`select to_regclass(${arg!})::text as t`);
      expect(res.rows[0]!.t).toBe(`"it's ""odd"""`);
    } finally {
      await admin.query('rollback');
    }
  });

  it("the triggers' replacements hold on PostgreSQL: audit_pending checks rows and numbers them, the runtime role cannot choose pending_id", async () => {
    const { id: org } = await createBareOrganization(tenancy.withTenant, {
      slug: `c-${randomUUID()}`,
      name: 'c',
    });
    const plan = await citusPlan(admin, db.roles);
    const insert = (extra: string, action = 'project.created') =>
      admin.query(
        `insert into audit_pending (organization_id, id, occurred_at, prefix, suffix, actor_type, action,
           target_type${extra ? ', pending_id' : ''}) values ($1, $2, now(), '{', '}', 'system', $3, 'project'${extra})`,
        [org, randomUUID(), action],
      );
    await admin.query('begin');
    try {
      for (const step of plan.steps.filter((s) => s.kind === 'trigger' || s.kind === 'setting')) {
        for (const stmt of step.sql) await admin.query(stmt);
      }
      await admin.query(`set local role ${db.roles.runtime}`);
      await admin.query(`select set_config('app.tenant_id', $1, true)`, [org]);
      await insert('');
      const row = await admin.query<{ pending_id: string }>('select pending_id from audit_pending');
      expect(Number(row.rows[0]!.pending_id)).toBeGreaterThan(0);
      await admin.query('savepoint s');
      await expect(insert(', 42')).rejects.toMatchObject({ code: '42501' });
      await admin.query('rollback to savepoint s');
      await expect(insert('', 'Not An Action')).rejects.toMatchObject({ code: '23514' });
    } finally {
      await admin.query('rollback');
    }
  }, 30_000);

  it('the password is in no statement text: ALTER ROLE gets its SCRAM verifier, which a SCRAM login with the password passes', async () => {
    const role = `sr_scram_${randomUUID().slice(0, 8)}`;
    const dbName = decodeURIComponent(new URL(db.url).pathname.slice(1));
    await admin.query(`create role "${role}" login`);
    await admin.query(`grant connect on database "${dbName}" to "${role}"`);
    const texts: string[] = [];
    const spy = {
      query: (text: string, values?: unknown[]) => {
        texts.push(text);
        return admin.query(text, values);
      },
    } as unknown as pg.ClientBase;
    const password = randomBytes(24).toString('base64url');
    let out = '';
    const bouncer = await startPgBouncer({ superuserUrl: testDb().superuserUrl, poolSize: 1 });
    try {
      await runCitusSteps(
        spy,
        [
          {
            kind: 'definer',
            sql: [
              `alter role "${role}" login password ${DEFINER_PASSWORD}`,
              `select length(${DEFINER_PASSWORD}) as n`,
            ],
            why: 'a password generated at run time',
          },
        ],
        (t) => (out += t),
        password,
      );
      expect(texts.filter((t) => t.includes(password))).toEqual([]);
      expect(texts).toContain(`set local log_statement = 'none'`);
      expect(out).not.toContain(password);
      // The bouncer checks a client's SCRAM proof against the verifier in pg_shadow.
      const as = (pw: string) => {
        const url = new URL(bouncer.via(db.url));
        url.username = role;
        url.password = pw;
        return new pg.Client({ connectionString: url.toString() });
      };
      const ok = as(password);
      await ok.connect();
      try {
        expect((await ok.query<{ u: string }>('select current_user as u')).rows).toEqual([{ u: role }]);
      } finally {
        await ok.end();
      }
      const wrong = as(`${password}x`);
      await expect(wrong.connect()).rejects.toThrow();
      await wrong.end().catch(() => {});
    } finally {
      await bouncer.stop();
      await admin.query(`revoke connect on database "${dbName}" from "${role}"`);
      await admin.query(`drop role "${role}"`);
    }
  });

  // Last: it changes this file's database for good.
  it('runs the steps (here the setting, the trigger steps and a password step), then skips what is done; the password is never written out', async () => {
    const plan = await citusPlan(admin, db.roles);
    const steps = [
      ...plan.steps.filter((s) => s.kind === 'setting' || s.kind === 'trigger'),
      {
        kind: 'definer' as const,
        sql: [`alter role "${db.roles.definer}" password ${DEFINER_PASSWORD}`],
        why: 'a password generated at run time',
      },
    ];
    expect(steps.length).toBeGreaterThan(5);
    let out = '';
    await runCitusSteps(admin, steps, (t) => (out += t));
    expect(out).toContain('drop trigger "audit_pending_admit" on public."audit_pending";');
    expect(out).toContain(`password ${DEFINER_PASSWORD};`);
    const role = await admin.query<{ password: string }>(
      'select rolpassword as password from pg_authid where rolname = $1',
      [db.roles.definer],
    );
    expect(role.rows[0]!.password).toMatch(/^SCRAM-SHA-256\$/);
    expect(out).not.toMatch(/password '/);
    const left = await admin.query(
      `select 1 from pg_trigger t join pg_class c on c.oid = t.tgrelid
        where not t.tgisinternal and c.relname in ('audit_events', 'audit_checkpoints', 'audit_pending', 'invoices')`,
    );
    expect(left.rows).toEqual([]);
    // Again: every trigger step is done; the plan itself now has none.
    let again = '';
    await runCitusSteps(admin, steps.slice(0, -1), (t) => (again += t));
    expect(again).not.toContain('drop trigger');
    expect(again).toContain('-- already done: trigger audit_pending');
    expect(
      (await citusPlan(admin, db.roles)).steps.filter((s) => s.kind === 'setting' || s.kind === 'trigger'),
    ).toEqual([]);

    // The audit path as the application runs it, on the schema as Citus has it: recorded (pending_id from
    // the column default), sealed into the chain, verified with its signed checkpoint.
    const { id: org } = await createBareOrganization(tenancy.withTenant, {
      slug: `c-${randomUUID()}`,
      name: 'c',
    });
    const ctx: TenantCtx = { tenantId: org, actor: { kind: 'system', name: 'test' }, requestId: 'r1' };
    for (let i = 0; i < 3; i++) {
      await tenancy.withTenant(org, (t) =>
        recordAudit(t, ctx, { action: 'project.created', target: { type: 'project', id: `p${i}` } }),
      );
    }
    expect(await sealAudit(tenancy.withTenant, org)).toBe(3);
    const signer = createAuditSigner(await testJwtKey());
    const audit = createAuditService({
      withTenant: tenancy.withTenant,
      signer,
      verifier: createAuditVerifier([signer.publicKey]),
    });
    await audit.checkpoint(ctx);
    expect(await audit.verify(ctx)).toMatchObject({ valid: true });
  }, 30_000);
});
