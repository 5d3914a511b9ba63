/**
 * Where the audit event's PostgreSQL time goes (a diagnostic, not a target): the tenant write of
 * bench:audit (one project insert) alone and with the event's insert, sent by the runtime role as
 * `withTenant` sends them (tenant setting, named prepared inserts, COMMIT), on one connection, with the
 * CPU time of that connection's backend read from /proc/<pid>/schedstat around every transaction.
 * Variants of `audit_pending` are copies of it (same columns, indexes, RLS, grants, guard triggers), each
 * with its own admission trigger and with or without the foreign key, so the variants can be interleaved
 * transaction by transaction: a busy machine then slows every variant alike. Medians per variant.
 *
 * Usage: npx tsx bench/audit-statement.ts  (env: STMT_TX per variant (4000), STMT_VARIANTS (comma list))
 */
import { randomUUID } from 'node:crypto';
import { benchDatabase, median } from './harness.js';
import { openBackendSession } from './backend-session.js';

const TX = Number(process.env.STMT_TX ?? 4000);

const INSERT_PROJECT = `insert into projects (organization_id, id, name, description) values ($1, $2, $3, $4)`;
const insertPending = (
  table: string,
) => `insert into ${table} (organization_id, id, occurred_at, prefix, suffix,
  actor_type, actor_id, action, target_type, target_id, ip, user_agent, request_id, changes, metadata)
  values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15::jsonb)`;

/** The admission trigger's checks (migration 0016), unqualified: the variants without a SET clause resolve
 *  them under the session's default path exactly as 0066's qualified names do. */
const CHECKS = `
      v_bad := case
        when new.actor_type not in ('user', 'api_key', 'system', 'anonymous') then 'actor_type'
        when octet_length(new.actor_id) > 512 then 'actor_id'
        when not (new.action ~ '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$') or octet_length(new.action) > 256
          then 'action'
        when octet_length(new.target_type) > 512 then 'target_type'
        when octet_length(new.target_id) > 1024 then 'target_id'
        when octet_length(new.ip) > 512 then 'ip'
        when octet_length(new.user_agent) > 2048 then 'user_agent'
        when octet_length(new.request_id) > 1024 then 'request_id'
        when octet_length(new.changes::text) > 1048576 then 'changes'
        when octet_length(new.metadata::text) > 1048576 then 'metadata'
        when octet_length(new.prefix) + octet_length(new.suffix) > 262144 then 'prefix, suffix'
      end;`;

interface Variant {
  readonly name: string;
  /** No event: the write alone. */
  readonly bare?: boolean;
  readonly fk: boolean;
  /** `definer set`, `definer` (no SET clause), `invoker`. */
  readonly fn: 'definer set' | 'definer' | 'invoker';
  readonly checks?: string;
}

const ALL: Variant[] = [
  { name: 'write', bare: true, fk: true, fn: 'definer set' },
  { name: 'event 0016', fk: true, fn: 'definer set' },
  { name: 'event no FK', fk: false, fn: 'definer set' },
  { name: 'event no SET', fk: true, fn: 'definer' },
  { name: 'event 0066', fk: false, fn: 'definer' },
  { name: 'event 0066 invoker', fk: false, fn: 'invoker' },
  { name: 'event 0066 no checks', fk: false, fn: 'definer', checks: 'v_bad := null;' },
];
const only = process.env.STMT_VARIANTS?.split(',');
const VARIANTS = only ? ALL.filter((v) => only.includes(v.name)) : ALL;

function setup(v: Variant, i: number, runtime: string): string {
  const t = `bench_pending_${i}`;
  const f = `bench_admit_${i}`;
  const clause =
    v.fn === 'definer set'
      ? 'security definer set search_path = pg_catalog, public'
      : v.fn === 'definer'
        ? 'security definer'
        : 'security invoker';
  return `create table ${t} (like audit_pending including all);
    ${v.fk ? `alter table ${t} add foreign key (organization_id) references organizations (id) on delete cascade;` : ''}
    alter table ${t} enable row level security; alter table ${t} force row level security;
    create policy tenant_isolation on ${t} for all to "${runtime}"
      using (organization_id = app_current_tenant()) with check (organization_id = app_current_tenant());
    grant select, insert on ${t} to "${runtime}";
    create function ${f}() returns trigger language plpgsql ${clause} as $$
    declare v_bad text;
    begin ${v.checks ?? CHECKS}
      if v_bad is not null then
        raise exception 'audit_pending row refused by the check of %', v_bad using errcode = 'check_violation';
      end if;
      new.pending_id := pg_catalog.nextval('public.audit_pending_pending_id_seq'::pg_catalog.regclass);
      return new;
    end $$;
    create trigger admit before insert on ${t} for each row execute function ${f}();
    create trigger sealed_only before update or delete on ${t} for each row execute function app_audit_pending_guard();
    ${v.fn === 'invoker' ? `grant usage on sequence audit_pending_pending_id_seq to "${runtime}";` : ''}`;
}

const { db, close } = await benchDatabase();
try {
  const session = await openBackendSession(db);
  const { org, user, admin, runtime, runtimeRole, cpuNs } = session;
  for (const [i, v] of VARIANTS.entries()) await admin.query(setup(v, i, runtimeRole));
  const sealedIp = 'v1.' + 'A'.repeat(60);
  const sealedUa = 'v1.' + 'B'.repeat(200);

  const cpu: number[][] = VARIANTS.map(() => []);
  for (let n = 0; n < TX * VARIANTS.length; n++) {
    const i = n % VARIANTS.length;
    const v = VARIANTS[i]!;
    const id = randomUUID();
    const c0 = cpuNs();
    await runtime.query('begin');
    await runtime.query({
      name: 'tenant',
      text: `select set_config('app.tenant_id', $1, true)`,
      values: [org],
    });
    await runtime.query({ name: 'project', text: INSERT_PROJECT, values: [org, id, `p-${id}`, 'bench'] });
    if (!v.bare) {
      const prefix = `{"action":"project.created","actor":{"id":"${user}","type":"user"},"changes":null,"id":"${randomUUID()}","ip":"${sealedIp}","metadata":{"name":"p"},"occurred_at":"${new Date().toISOString()}","organization_id":"${org}","request_id":"req-1","seq":`;
      const suffix = `,"target":{"id":"${id}","type":"project"},"user_agent":"${sealedUa}","v":1}`;
      await runtime.query({
        name: `pending${i}`,
        text: insertPending(`bench_pending_${i}`),
        values: [
          org,
          randomUUID(),
          new Date().toISOString(),
          prefix,
          suffix,
          'user',
          user,
          'project.created',
          'project',
          id,
          sealedIp,
          sealedUa,
          'req-1',
          null,
          '{"name":"p"}',
        ],
      });
    }
    await runtime.query('commit');
    if (n >= VARIANTS.length * 200) cpu[i]!.push((cpuNs() - c0) / 1000); // after a warm-up
  }
  console.log(`${TX} transactions per variant, interleaved one by one, one connection, backend CPU µs/tx`);
  const mean = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b).slice(0, Math.floor(xs.length * 0.9));
    return s.reduce((a, b) => a + b, 0) / s.length;
  };
  for (const [i, v] of VARIANTS.entries()) {
    console.log(
      `  ${v.name.padEnd(26)} median ${median(cpu[i]!).toFixed(1).padStart(6)}  mean of fastest 90% ${mean(cpu[i]!).toFixed(1).padStart(6)}`,
    );
  }
  await session.end();
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  await close();
}
