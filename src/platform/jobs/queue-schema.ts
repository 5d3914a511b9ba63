import pg from 'pg';
import { Logger, runMigrations } from 'graphile-worker';
import type { RoleNames } from '../db/bootstrap.js';
import { JOB_PAYLOAD_TTL_MS } from './payload-seal.js';

/** The runtime role's one way into the queue (SECURITY DEFINER, owned by the definer role). */
export const ENQUEUE_SIGNATURE = 'public.app_enqueue_job(text, json, text, integer, timestamptz)';

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Task names: lower-case dotted words, as `enqueueable_tasks` checks too. */
const TASK_SHAPE = '^[a-z][a-z0-9_.:-]{0,99}$';

/**
 * Checks what the runtime role may queue: a task listed in `enqueueable_tasks` (migrations add their
 * tasks there; recurring tasks such as the audit checkpoint are not listed, only the worker's crontab
 * queues them); a payload of exactly the sealed shape (so nothing travels in clear but the tenant, the
 * request id and the expiry), expiring within the longest link validity; a tenant equal to the caller's
 * scope (a job without a tenant may come from any scope: its handler runs outside every tenant); `v` the
 * JSON number 2. The job key is namespaced by tenant, so no tenant can replace another's pending job, and
 * sealed into the payload, so a replacement of a tenantless job (possible from any scope) fails at once.
 */
function enqueueFunctionSql(ttlSeconds: number): string {
  return `create or replace function ${ENQUEUE_SIGNATURE.replace(/\(.*$/, '')}(
      p_task text, p_payload json, p_job_key text, p_max_attempts integer, p_run_at timestamptz)
    returns void language plpgsql security definer
    set search_path = pg_catalog, public as $fn$
    declare
      v_tenant uuid;
      v_exp double precision;
      v_now double precision := extract(epoch from now());
    begin
      if p_task is null or p_task !~ '${TASK_SHAPE}'
          or not exists (select 1 from public.enqueueable_tasks t where t.task = p_task) then
        raise exception 'app_enqueue_job: task % is not enqueueable', coalesce(p_task, 'null')
          using errcode = 'insufficient_privilege';
      end if;
      if p_payload is null or json_typeof(p_payload) is distinct from 'object'
          or (select array_agg(k order by k) from json_object_keys(p_payload) k)
             is distinct from array['exp', 'requestId', 'sealed', 'tenantId', 'v']
          or json_typeof(p_payload->'v') is distinct from 'number' or (p_payload->>'v') is distinct from '2'
          or json_typeof(p_payload->'sealed') is distinct from 'string'
          or p_payload->>'sealed' !~ '^v1\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*$'
          or json_typeof(p_payload->'exp') is distinct from 'number'
          or json_typeof(p_payload->'tenantId') not in ('string', 'null')
          or json_typeof(p_payload->'requestId') not in ('string', 'null')
          or length(coalesce(p_payload->>'requestId', '')) > 200 then
        raise exception 'app_enqueue_job: the payload is not a sealed job payload'
          using errcode = 'invalid_parameter_value';
      end if;
      if json_typeof(p_payload->'tenantId') = 'string' then
        if p_payload->>'tenantId' !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
          raise exception 'app_enqueue_job: tenantId is not a uuid' using errcode = 'invalid_parameter_value';
        end if;
        v_tenant := (p_payload->>'tenantId')::uuid;
        if v_tenant is distinct from public.app_current_tenant() then
          raise exception 'app_enqueue_job: a job of a tenant is queued only inside that tenant''s scope'
            using errcode = 'insufficient_privilege';
        end if;
      end if;
      v_exp := (p_payload->>'exp')::double precision;
      if v_exp <= v_now or v_exp > v_now + ${ttlSeconds} + 60 then
        raise exception 'app_enqueue_job: the payload expiry is out of range'
          using errcode = 'invalid_parameter_value';
      end if;
      if p_max_attempts is null or p_max_attempts not between 1 and 25
          or (p_run_at is not null and extract(epoch from p_run_at) >= v_exp)
          or (p_job_key is not null and (length(p_job_key) not between 1 and 200)) then
        raise exception 'app_enqueue_job: max_attempts, run_at or job_key out of range'
          using errcode = 'invalid_parameter_value';
      end if;
      perform graphile_worker.add_job(p_task, p_payload,
        run_at => p_run_at, max_attempts => p_max_attempts,
        job_key => case when p_job_key is null then null
                        else coalesce(v_tenant::text, 'platform') || '/' || p_job_key end);
    end $fn$`;
}

/**
 * graphile-worker's schema (jobs live in the same database, so a job is queued in the same transaction
 * as the change that causes it), installed by the owner after our migrations, then the privileges,
 * idempotently on every start (a fresh database and an older one end up the same):
 * - the worker role: exactly what graphile-worker needs in its schema (read its migrations; DML on its
 *   tables under a policy of its own; its functions) and nothing in `public`;
 * - the runtime role: nothing in the schema (not even USAGE); it queues through `app_enqueue_job`;
 * - the definer role (which owns `app_enqueue_job`): what `add_job` touches, nothing else there;
 * - PUBLIC: nothing (PostgreSQL grants EXECUTE on new functions to PUBLIC by default).
 */
export async function installJobQueue(migrationUrl: string, roles: RoleNames): Promise<void> {
  await runMigrations({ connectionString: migrationUrl, logger: new Logger(() => () => {}) });
  const client = new pg.Client({ connectionString: migrationUrl });
  await client.connect();
  const w = ident(roles.worker);
  const r = ident(roles.runtime);
  const d = ident(roles.definer);
  try {
    await client.query('begin');
    // Several instances may start at once: GRANT and CREATE OR REPLACE race ("tuple concurrently updated").
    await client.query(`select pg_advisory_xact_lock(hashtext('saasready.install_job_queue'))`);
    const statements = [
      `revoke all on schema graphile_worker from public, ${r}`,
      `revoke all on all tables in schema graphile_worker from public, ${r}, ${w}, ${d}`,
      `revoke all on all sequences in schema graphile_worker from public, ${r}, ${w}, ${d}`,
      `revoke all on all functions in schema graphile_worker from public, ${r}, ${w}, ${d}`,
      `grant usage on schema graphile_worker to ${w}, ${d}`,
      `grant select, insert, update, delete on all tables in schema graphile_worker to ${w}`,
      `revoke insert, update, delete on graphile_worker.migrations from ${w}`,
      `grant usage, select on all sequences in schema graphile_worker to ${w}, ${d}`,
      `grant execute on all functions in schema graphile_worker to ${w}`,
      `grant execute on function graphile_worker.add_job(text, json, text, timestamptz, integer, text,
         integer, text[], text), graphile_worker.add_jobs(graphile_worker.job_spec[], boolean) to ${d}`,
      `grant select, insert, update on graphile_worker._private_jobs, graphile_worker._private_tasks,
         graphile_worker._private_job_queues to ${d}`,
    ];
    for (const s of statements) await client.query(s);
    // graphile-worker enables RLS on its tables; the worker role gets a policy of its own (the definer
    // role has BYPASSRLS). The runtime role's policy of earlier versions goes.
    const tables = await client.query<{ relname: string }>(
      `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'graphile_worker' and c.relkind = 'r' and c.relrowsecurity`,
    );
    for (const { relname } of tables.rows) {
      const t = `graphile_worker.${ident(relname)}`;
      await client.query(`drop policy if exists saasready_runtime on ${t}`);
      await client.query(`drop policy if exists saasready_worker on ${t}`);
      await client.query(
        `create policy saasready_worker on ${t} for all to ${w} using (true) with check (true)`,
      );
    }
    await client.query(enqueueFunctionSql(JOB_PAYLOAD_TTL_MS / 1000));
    await client.query(`alter function ${ENQUEUE_SIGNATURE} owner to ${d}`);
    await client.query(`revoke all on function ${ENQUEUE_SIGNATURE} from public`);
    await client.query(`grant execute on function ${ENQUEUE_SIGNATURE} to ${r}`);
    await client.query('commit');
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  } finally {
    await client.end();
  }
}
