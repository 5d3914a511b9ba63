/**
 * The audit event's whole PostgreSQL cost, its write AND its sealing, for the current design and for a
 * prototype of "write once" (a diagnostic, not a target; docs/performance.md, "Audited write, fourth pass").
 *
 * - `pending` (the design of migrations 0015/0016/0066): the write inserts the event into `audit_pending`;
 *   `app_audit_seal` later deletes it there and inserts it, chained, into `audit_events`.
 * - `write-once` (a prototype, tables `proto_*` made here): the write inserts the event once into its final
 *   table (`audit_events`' columns and indexes, keyed by `pending_id` instead of `seq`, plus the canonical
 *   JSON pieces the sealer hashes), through the same admission trigger; the sealer only appends narrow
 *   chain links (seq, pending_id, prev_hash, hash). It finds the unsealed events by a watermark on
 *   `pending_id`, which is NOT safe (transactions commit out of id order): a lower bound of what the
 *   design can cost, not a design.
 *
 * One connection, the runtime role, the write of bench:audit (tenant setting, named prepared statements,
 * COMMIT); every `STMT_BATCH` events (50) one seal call of the same variant in its own transaction. The
 * backend's CPU from /proc/<pid>/schedstat; variants alternate batch by batch.
 * Copies of the pending design (`c1_*` as it is, `c2_*` without `audit_events`' foreign key, `c3_*` without
 * the pending rows' delete guard) say what each part of the sealing costs.
 * Usage: npx tsx bench/audit-design.ts  (env: STMT_BATCHES per variant (60), STMT_BATCH (50),
 * STMT_VARIANTS=<name>,… (the write alone always runs))
 */
import { randomUUID } from 'node:crypto';
import { benchDatabase, median } from './harness.js';
import { openBackendSession } from './backend-session.js';

const BATCHES = Number(process.env.STMT_BATCHES ?? 60);
const BATCH = Number(process.env.STMT_BATCH ?? 50);

const COLUMNS = `organization_id, id, occurred_at, prefix, suffix, actor_type, actor_id, action, target_type,
  target_id, ip, user_agent, request_id, changes, metadata`;
const VALUES = `$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15::jsonb`;

/** The prototype: the event table, the links, the head, the seal (run as the table owner). */
const PROTO = (runtime: string) => `
  create table proto_events (organization_id uuid not null, pending_id bigint not null, id uuid not null,
    occurred_at timestamptz not null, prefix text not null, suffix text not null,
    actor_type text not null check (actor_type in ('user', 'api_key', 'system', 'anonymous')),
    actor_id text, action text not null check (action ~ '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$'),
    target_type text not null, target_id text, ip text, user_agent text, request_id text,
    changes jsonb, metadata jsonb, primary key (organization_id, pending_id));
  create index on proto_events (organization_id, action, pending_id);
  create index on proto_events (organization_id, actor_id, pending_id);
  create index on proto_events (organization_id, target_type, target_id, pending_id);
  create index on proto_events (organization_id, occurred_at);
  alter table proto_events enable row level security; alter table proto_events force row level security;
  create policy t on proto_events for all to "${runtime}"
    using (organization_id = app_current_tenant()) with check (organization_id = app_current_tenant());
  grant select, insert on proto_events to "${runtime}";
  create trigger admit before insert on proto_events for each row execute function app_audit_pending_admit();
  create table proto_links (organization_id uuid not null references organizations (id) on delete cascade,
    seq bigint not null check (seq > 0), pending_id bigint not null,
    prev_hash bytea not null check (length(prev_hash) = 32), hash bytea not null check (length(hash) = 32),
    primary key (organization_id, seq), unique (organization_id, pending_id));
  create table proto_heads (organization_id uuid primary key, seq bigint not null, hash bytea not null,
    pending_id bigint not null);
  create function proto_seal(p_org uuid, p_max integer) returns integer language plpgsql security definer
    set search_path = pg_catalog, public set plan_cache_mode = force_generic_plan as $$
    declare v_seq bigint; v_prev bytea; v_last bigint; v_hash bytea; r record; v_n integer := 0;
      v_ids bigint[] := '{}'; v_seqs bigint[] := '{}'; v_prevs bytea[] := '{}'; v_hashes bytea[] := '{}';
    begin
      select h.seq, h.hash, h.pending_id into v_seq, v_prev, v_last from proto_heads h
        where h.organization_id = p_org for update;
      if not found then
        insert into proto_heads values (p_org, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea, 0);
        v_seq := 0; v_prev := '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea; v_last := 0;
      end if;
      for r in select e.pending_id, e.prefix, e.suffix from proto_events e
          where e.organization_id = p_org and e.pending_id > v_last order by e.pending_id limit p_max loop
        v_seq := v_seq + 1;
        v_hash := sha256(v_prev || convert_to(r.prefix || v_seq::text || r.suffix, 'UTF8'));
        v_ids := v_ids || r.pending_id; v_seqs := v_seqs || v_seq;
        v_prevs := v_prevs || v_prev; v_hashes := v_hashes || v_hash;
        v_prev := v_hash; v_last := r.pending_id; v_n := v_n + 1;
      end loop;
      if v_n = 0 then return 0; end if;
      insert into proto_links (organization_id, seq, pending_id, prev_hash, hash)
        select p_org, x.seq, x.pending_id, x.prev, x.hash from unnest(v_ids, v_seqs, v_prevs, v_hashes)
          as x (pending_id, seq, prev, hash);
      update proto_heads h set seq = v_seq, hash = v_prev, pending_id = v_last where h.organization_id = p_org;
      return v_n;
    end $$;
  grant execute on function proto_seal(uuid, integer) to "${runtime}";`;

/** A copy of the pending design (`audit_pending`, `audit_events`, heads, seal function) named `<t>_*`:
 *  the variants of its sealing alternate with the real tables' (a `like` copy, grants and triggers as
 *  the real ones, `audit_events`' foreign key only when `fk`). */
const PENDING_COPY = (t: string, runtime: string, definer: string, opts: { fk: boolean; guard: boolean }) => `
  create table ${t}_pending (like audit_pending including all);
  alter table ${t}_pending enable row level security; alter table ${t}_pending force row level security;
  create policy t on ${t}_pending for all to "${runtime}"
    using (organization_id = app_current_tenant()) with check (organization_id = app_current_tenant());
  grant select, insert on ${t}_pending to "${runtime}";
  create trigger admit before insert on ${t}_pending for each row execute function app_audit_pending_admit();
  ${opts.guard ? `create trigger sealed_only before update or delete on ${t}_pending for each row execute function app_audit_pending_guard();` : ''}
  create table ${t}_events (like audit_events including all);
  ${opts.fk ? `alter table ${t}_events add foreign key (organization_id) references organizations (id) on delete cascade;` : ''}
  create trigger append_only before delete or update on ${t}_events for each row execute function app_audit_refuse_change();
  create table ${t}_heads (like audit_chain_heads including all);
  alter table ${t}_heads add foreign key (organization_id) references organizations (id) on delete cascade;
  create function ${t}_seal(p_org uuid, p_max integer) returns integer language plpgsql security definer
    set search_path = pg_catalog, public set plan_cache_mode = force_generic_plan as $$
    declare v_seq bigint; v_prev bytea; v_hash bytea; r record;
      v_ids bigint[] := '{}'; v_seqs bigint[] := '{}'; v_prevs bytea[] := '{}'; v_hashes bytea[] := '{}';
      v_moved integer;
    begin
      select h.seq, h.hash into v_seq, v_prev from ${t}_heads h where h.organization_id = p_org for update;
      if not found then
        insert into ${t}_heads (organization_id, seq, hash) values (p_org, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
        v_seq := 0; v_prev := '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
      end if;
      for r in select p.pending_id, p.prefix, p.suffix from ${t}_pending p
          where p.organization_id = p_org order by p.pending_id limit p_max loop
        v_seq := v_seq + 1;
        v_hash := sha256(v_prev || convert_to(r.prefix || v_seq::text || r.suffix, 'UTF8'));
        v_ids := v_ids || r.pending_id; v_seqs := v_seqs || v_seq;
        v_prevs := v_prevs || v_prev; v_hashes := v_hashes || v_hash;
        v_prev := v_hash;
      end loop;
      if cardinality(v_ids) = 0 then return 0; end if;
      with moved as (
        delete from ${t}_pending p where p.organization_id = p_org and p.pending_id = any (v_ids) returning p.*
      )
      insert into ${t}_events (organization_id, seq, id, occurred_at, actor_type, actor_id, action,
          target_type, target_id, ip, user_agent, request_id, changes, metadata, prev_hash, hash)
        select m.organization_id, x.seq, m.id, m.occurred_at, m.actor_type, m.actor_id, m.action,
            m.target_type, m.target_id, m.ip, m.user_agent, m.request_id, m.changes, m.metadata, x.prev, x.hash
          from moved m join unnest(v_ids, v_seqs, v_prevs, v_hashes) as x (pending_id, seq, prev, hash)
            on x.pending_id = m.pending_id;
      get diagnostics v_moved = row_count;
      update ${t}_heads h set seq = v_seq, hash = v_prev, updated_at = now() where h.organization_id = p_org;
      return v_moved;
    end $$;
  grant select, insert, update, delete on ${t}_pending, ${t}_events, ${t}_heads to "${definer}";
  alter function ${t}_seal(uuid, integer) owner to "${definer}";
  grant execute on function ${t}_seal(uuid, integer) to "${runtime}";`;

const ALL = [
  { name: 'write only', table: null, seal: null },
  { name: 'pending (now)', table: 'audit_pending', seal: 'select app_audit_seal($1, $2, true)' },
  { name: 'copy', table: 'c1_pending', seal: 'select c1_seal($1, $2)' },
  { name: 'copy, events no FK', table: 'c2_pending', seal: 'select c2_seal($1, $2)' },
  { name: 'copy, no delete guard', table: 'c3_pending', seal: 'select c3_seal($1, $2)' },
  { name: 'write-once (prototype)', table: 'proto_events', seal: 'select proto_seal($1, $2)' },
] as const;
const only = process.env.STMT_VARIANTS?.split(',');
const VARIANTS = ALL.filter((v, i) => i === 0 || !only || only.includes(v.name));

const { db, close } = await benchDatabase();
try {
  const session = await openBackendSession(db);
  const { org, user, admin, runtime, runtimeRole, cpuNs } = session;
  await admin.query(PROTO(runtimeRole));
  await admin.query(PENDING_COPY('c1', runtimeRole, db.roles.definer, { fk: true, guard: true }));
  await admin.query(PENDING_COPY('c2', runtimeRole, db.roles.definer, { fk: false, guard: true }));
  await admin.query(PENDING_COPY('c3', runtimeRole, db.roles.definer, { fk: true, guard: false }));
  const sealedIp = 'pd1.' + 'A'.repeat(60);
  const sealedUa = 'pd1.' + 'B'.repeat(200);
  const tx = async (fn: () => Promise<unknown>) => {
    await runtime.query('begin');
    await runtime.query({
      name: 'tenant',
      text: `select set_config('app.tenant_id', $1, true)`,
      values: [org],
    });
    await fn();
    await runtime.query('commit');
  };

  const write: number[][] = VARIANTS.map(() => []);
  const seal: number[][] = VARIANTS.map(() => []);
  const idle: number[][] = VARIANTS.map(() => []);
  const noop: number[][] = VARIANTS.map(() => []);
  for (let b = 0; b < BATCHES * VARIANTS.length; b++) {
    const i = b % VARIANTS.length;
    const v = VARIANTS[i]!;
    const c0 = cpuNs();
    for (let k = 0; k < BATCH; k++) {
      const id = randomUUID();
      await tx(async () => {
        await runtime.query({
          name: 'project',
          text: `insert into projects (organization_id, id, name, description) values ($1, $2, $3, $4)`,
          values: [org, id, `p-${id}`, 'bench'],
        });
        if (!v.table) return;
        const prefix = `{"action":"project.updated","actor":{"id":"${user}","type":"user"},"changes":{"after":{"name":"b"},"before":{"name":"a"}},"id":"${randomUUID()}","ip":"${sealedIp}","metadata":null,"occurred_at":"${new Date().toISOString()}","organization_id":"${org}","request_id":"req-1","seq":`;
        const suffix = `,"target":{"id":"${id}","type":"project"},"user_agent":"${sealedUa}","v":1}`;
        await runtime.query({
          name: `event${i}`,
          text: `insert into ${v.table} (${COLUMNS}) values (${VALUES})`,
          values: [
            org,
            randomUUID(),
            new Date().toISOString(),
            prefix,
            suffix,
            'user',
            user,
            'project.updated',
            'project',
            id,
            sealedIp,
            sealedUa,
            'req-1',
            '{"after":{"name":"b"},"before":{"name":"a"}}',
            null,
          ],
        });
      });
    }
    const c1 = cpuNs();
    if (v.seal) await tx(() => runtime.query({ name: `seal${i}`, text: v.seal, values: [org, 500] }));
    const c2 = cpuNs();
    // The same call again, nothing left to seal: a seal call's fixed cost (transaction, lock, checks).
    if (v.seal) await tx(() => runtime.query({ name: `seal${i}`, text: v.seal, values: [org, 500] }));
    const c3 = cpuNs();
    if (v.seal) await tx(() => runtime.query({ name: 'noop', text: 'select 1', values: [] }));
    const c4 = cpuNs();
    if (b >= VARIANTS.length * 3) {
      idle[i]!.push((c3 - c2) / 1000);
      noop[i]!.push((c4 - c3) / 1000);
      write[i]!.push((c1 - c0) / 1000 / BATCH);
      seal[i]!.push((c2 - c1) / 1000 / BATCH);
    }
  }
  console.log(
    `${BATCHES} batches of ${BATCH} transactions per variant, one seal call per batch, backend CPU µs per tx`,
  );
  const base = median(write[0]!);
  for (const [i, v] of VARIANTS.entries()) {
    const w = median(write[i]!);
    const s = median(seal[i]!);
    console.log(
      `  ${v.name.padEnd(24)} write ${w.toFixed(1).padStart(6)}  seal ${s.toFixed(1).padStart(5)}  event's total ${(w - base + s).toFixed(1).padStart(6)}` +
        (v.seal
          ? `   a call sealing nothing ${median(idle[i]!).toFixed(0)}, a transaction selecting 1 ${median(noop[i]!).toFixed(0)}`
          : ''),
    );
  }
  const links = await admin.query<{ n: string }>('select count(*) as n from proto_links');
  const events = await admin.query<{ n: string }>('select count(*) as n from audit_events');
  console.log(`  sealed: ${events.rows[0]!.n} audit_events rows, ${links.rows[0]!.n} prototype links`);
  await session.end();
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  await close();
}
