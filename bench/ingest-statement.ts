/**
 * Where the ingestion statement's PostgreSQL time goes (a diagnostic, not a target): the service's batch
 * statement sent by the runtime role inside `withTenant`'s transaction shape, on one connection, with the
 * CPU time of that connection's backend read from /proc, against variants of the schema applied between
 * rounds (each variant undone before the next), and against the bare insert of the same rows.
 *
 * Usage: npx tsx bench/ingest-statement.ts  (env: STMT_BATCH (1000), STMT_BATCHES (60), STMT_ROUNDS (3),
 * STMT_VARIANTS (comma list, default all))
 */
import fs from 'node:fs';
import pg from 'pg';
import { benchDatabase, median, seedProjects } from './harness.js';
import { INSERT_BATCH_SQL } from '../src/modules/usage/usage-events.repository.js';

const SIZE = Number(process.env.STMT_BATCH ?? 1000);
const BATCHES = Number(process.env.STMT_BATCHES ?? 60);
const ROUNDS = Number(process.env.STMT_ROUNDS ?? 3);
const METER = 'bench.bytes';

function backendTicks(pid: number): number {
  const raw = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

interface Variant {
  name: string;
  setup?: string;
  teardown?: string;
  /** Runs as the admin (superuser) instead of the runtime role, with this statement. */
  bare?: boolean;
  /** Another statement with the same parameters (a variant of the statement rather than the schema). */
  sql?: string;
}

const KEYS_ONLY = `insert into usage_event_keys (organization_id, id, digest, occurred_at)
  select $1::uuid, t.id, decode(t.digest, 'hex'), t.occurred_at
    from unnest($2::text[], $3::text[], $4::numeric[], $5::text[], $6::timestamptz[], $7::jsonb[], $8::text[])
      as t (id, meter, value, dimension, occurred_at, properties, digest)
  on conflict do nothing`;
const EVENTS_ONLY = `insert into usage_events (organization_id, id, meter, value, dimension, occurred_at, properties)
  select $1::uuid, t.id, t.meter, t.value, t.dimension, t.occurred_at, t.properties
    from unnest($2::text[], $3::text[], $4::numeric[], $5::text[], $6::timestamptz[], $7::jsonb[], $8::text[])
      as t (id, meter, value, dimension, occurred_at, properties, digest)`;

const OLD_METER_CHECK = `check (meter ~ '^[a-z][a-z0-9_.-]{0,63}$')`;
const NEW_METER_CHECK = `check (meter ~ '^[a-z][a-z0-9_.-]*$' and octet_length(meter) <= 64)`;
const FK = `alter table usage_event_keys add constraint usage_event_keys_organization_id_fkey
  foreign key (organization_id) references organizations (id) on delete cascade`;

const VARIANTS: Variant[] = [
  { name: 'current' },
  {
    // Migration 0017's schema and statement: the foreign key checked per key, the bounded regex.
    name: 'before 0022',
    setup: `${FK}; alter table usage_events drop constraint usage_events_meter_format,
      add constraint usage_events_meter_format ${OLD_METER_CHECK}`,
    teardown: `alter table usage_event_keys drop constraint usage_event_keys_organization_id_fkey;
      alter table usage_events drop constraint usage_events_meter_format,
      add constraint usage_events_meter_format ${NEW_METER_CHECK}`,
    sql: INSERT_BATCH_SQL.replace(
      /\n\s*where exists \(select 1 from organizations o where o.id = \$1::uuid\)/,
      '',
    ),
  },
  {
    name: 'no RLS (both tables)',
    setup: `alter table usage_events disable row level security; alter table usage_event_keys disable row level security`,
    teardown: `alter table usage_events enable row level security; alter table usage_event_keys enable row level security`,
  },
  {
    name: 'no org_meter_time index',
    setup: `drop index usage_events_org_meter_time_idx`,
    teardown: `create index usage_events_org_meter_time_idx on usage_events (organization_id, meter, occurred_at)`,
  },
  {
    name: 'no BRIN indexes',
    setup: `drop index usage_events_xid_idx; drop index usage_event_keys_occurred_idx`,
    teardown: `create index usage_events_xid_idx on usage_events using brin (xid) with (autosummarize = on);
      create index usage_event_keys_occurred_idx on usage_event_keys using brin (occurred_at)`,
  },
  {
    name: 'no CHECKs on events',
    setup: `alter table usage_events drop constraint usage_events_id_length, drop constraint usage_events_meter_format,
      drop constraint usage_events_value_range`,
    teardown: `alter table usage_events add constraint usage_events_id_length check (octet_length(id) between 1 and 128),
      add constraint usage_events_meter_format ${NEW_METER_CHECK},
      add constraint usage_events_value_range check (value is null or (value <> 'NaN' and value between -1e20 and 1e20))`,
  },
  { name: 'keys insert only', sql: KEYS_ONLY },
  { name: 'events insert only', sql: EVENTS_ONLY },
  { name: 'bare insert', bare: true },
];
const only = process.env.STMT_VARIANTS?.split(',');
if (only) VARIANTS.splice(0, VARIANTS.length, ...VARIANTS.filter((v) => only.includes(v.name)));

const BARE_SQL = `insert into bench_usage_bare (organization_id, id, meter, value, occurred_at, properties)
  select $1::uuid, t.id, t.meter, t.value, t.at, t.props
    from unnest($2::text[], $3::text[], $4::numeric[], $5::timestamptz[], $6::jsonb[]) as t (id, meter, value, at, props)
  on conflict do nothing`;

const { db, close } = await benchDatabase();
try {
  const orgs = [...new Set((await seedProjects(db.adminUrl, 100, 1)).map((r) => r.org))];
  const admin = new pg.Client({ connectionString: db.adminUrl });
  await admin.connect();
  await admin.query(`insert into meters (key, aggregation, unit) values ($1, 'sum', 'bytes')`, [METER]);
  await admin.query(`create table bench_usage_bare (organization_id uuid not null, id text not null,
    meter text not null, value numeric, occurred_at timestamptz not null, properties jsonb,
    primary key (organization_id, id))`);
  const runtime = new pg.Client({ connectionString: db.url });
  await runtime.connect();
  const bareClient = new pg.Client({ connectionString: db.adminUrl });
  await bareClient.connect();
  const pidOf = async (c: pg.Client) =>
    Number((await c.query<{ p: number }>('select pg_backend_pid() as p')).rows[0]!.p);
  const runtimePid = await pidOf(runtime);
  const barePid = await pidOf(bareClient);

  let n = 0;
  const batch = () => {
    const ids: string[] = [];
    const at: string[] = [];
    const values: string[] = [];
    const props: string[] = [];
    const digests: string[] = [];
    for (let i = 0; i < SIZE; i++) {
      n++;
      ids.push(`e-${String(n).padStart(9, '0')}`);
      values.push(String((n % 977) + 0.25));
      at.push(new Date(Date.now() - (n % 3_600_000)).toISOString());
      props.push(JSON.stringify({ region: `r${n % 5}` }));
      digests.push((n * 2654435761).toString(16).padStart(32, '0').slice(-32));
    }
    return { ids, at, values, props, digests, meters: ids.map(() => METER), dims: ids.map(() => null) };
  };

  const times: Record<string, { us: number; cpu: number }[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of VARIANTS) {
      if (v.setup) await admin.query(v.setup);
      const work = Array.from({ length: BATCHES }, batch);
      const client = v.bare ? bareClient : runtime;
      const pid = v.bare ? barePid : runtimePid;
      const c0 = backendTicks(pid);
      const t0 = performance.now();
      for (let b = 0; b < work.length; b++) {
        const w = work[b]!;
        const org = orgs[b % orgs.length]!;
        if (v.bare) {
          await client.query(BARE_SQL, [org, w.ids, w.meters, w.values, w.at, w.props]);
        } else {
          await client.query('begin');
          await client.query(`select set_config('app.tenant_id', $1, true)`, [org]);
          await client.query(v.sql ?? INSERT_BATCH_SQL, [
            org,
            w.ids,
            w.meters,
            w.values,
            w.dims,
            w.at,
            w.props,
            w.digests,
          ]);
          await client.query('commit');
        }
      }
      const us = ((performance.now() - t0) * 1000) / (BATCHES * SIZE);
      const cpu = ((backendTicks(pid) - c0) * 10_000) / (BATCHES * SIZE);
      (times[v.name] ??= []).push({ us, cpu });
      if (v.teardown) await admin.query(v.teardown);
    }
  }
  console.log(
    `statement: ${ROUNDS} rounds x ${BATCHES} batches of ${SIZE}, one connection, backend CPU from /proc`,
  );
  for (const v of VARIANTS) {
    const t = times[v.name]!;
    console.log(
      `  ${v.name.padEnd(26)} wall ${median(t.map((x) => x.us))
        .toFixed(1)
        .padStart(5)} µs/event` +
        `  backend CPU ${median(t.map((x) => x.cpu))
          .toFixed(1)
          .padStart(5)} µs/event` +
        `  (rounds: ${t.map((x) => x.cpu.toFixed(1)).join(' ')})`,
    );
  }
  await runtime.end();
  await bareClient.end();
  await admin.end();
} finally {
  await close();
}
