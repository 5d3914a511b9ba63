import { sql, type Kysely } from 'kysely';
import { createTenantTable, type MigrationContext } from '../platform/tenancy/migration-helpers.js';

const ROLE = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Issue 11, invoices of the local billing provider. An invoice is written as a draft and finalized in the
 * same transaction by `app_invoice_finalize`, which gives it the next number of the deployment
 * (`INV-000001`, ...) from a single counter row it locks until the transaction ends: a finalization that
 * rolls back gives its number back, so the numbers have no gaps. Finalized invoices are immutable (a
 * trigger refuses every change but finalized → void, and the deletion of any invoice but a draft, for
 * every role and for cascades from the organization); the runtime role may insert drafts and read, never
 * update or delete. Lines are a jsonb array in the invoice row: they are written once with it, read with
 * it, and fall under the same immutability without a second table and trigger. What the PDF prints beside
 * the lines is stored on the row too (the customer's name, the issuer, the currency's minor-unit digits),
 * so that renaming the organization, moving the deployment or upgrading Node cannot change an issued
 * invoice.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const runtime = sql.id(ctx.roles.runtime);
  const definer = sql.id(ctx.roles.definer);
  if (!ROLE.test(ctx.roles.definer)) throw new Error(`invalid definer role name: ${ctx.roles.definer}`);

  const MAX_SAFE = '9007199254740991';
  await createTenantTable(db, ctx, {
    name: 'invoices',
    columns: `id uuid not null,
      number text check (number ~ '^INV-[0-9]{6,}$'),
      status text not null default 'draft' check (status in ('draft', 'finalized', 'void')),
      currency text not null check (currency ~ '^[A-Z]{3}$'),
      period_start date not null,
      period_end date not null check (period_end > period_start),
      subtotal bigint not null check (subtotal between 0 and ${MAX_SAFE}),
      total bigint not null check (total between 0 and ${MAX_SAFE}),
      lines jsonb not null check (jsonb_typeof(lines) = 'array' and octet_length(lines::text) <= 1048576),
      minor_units smallint check (minor_units between 0 and 4),
      customer_name text check (char_length(customer_name) between 1 and 500),
      issuer text check (char_length(issuer) between 1 and 500),
      created_at timestamptz not null default now(),
      finalized_at timestamptz,
      voided_at timestamptz,
      check ((status = 'draft') = (number is null)),
      check ((status = 'draft') = (finalized_at is null)),
      check ((status = 'void') = (voided_at is not null)),
      check (status = 'draft' or (minor_units is not null and customer_name is not null and issuer is not null))`,
    primaryKey: ['id'],
  });
  // createTenantTable granted the runtime role every table privilege: narrow it to reading and inserting
  // drafts (no number, status or dates it could forge); finalization is the definer function's.
  await sql`revoke all on invoices from ${runtime}`.execute(db);
  await sql`grant select on invoices to ${runtime}`.execute(db);
  await sql`grant insert (organization_id, id, currency, period_start, period_end, subtotal, total, lines,
    minor_units, customer_name, issuer) on invoices to ${runtime}`.execute(db);
  // One deployment-wide sequence of numbers; and one invoice per organization and period (closing a
  // period twice finds the first), unless it was voided.
  await sql`create unique index invoices_number_key on invoices (number)`.execute(db);
  await sql`create unique index invoices_period_key on invoices (organization_id, period_start, period_end)
    where status <> 'void'`.execute(db);

  // Immutability, for every role (the owner too): a draft becomes finalized only through the definer
  // function; a finalized invoice may only become void (status and voided_at), nothing else changes; only
  // a draft may be deleted. The delete trigger fires for the organization's cascade too, so deleting an
  // organization that has invoices fails: an invoice must outlive its customer (see docs/billing.md).
  await sql`create function app_invoice_guard() returns trigger language plpgsql
    set search_path = pg_catalog, public as $$
    begin
      if tg_op = 'DELETE' then
        if old.status = 'draft' then
          return old;
        end if;
        raise exception 'invoice % is % and cannot be deleted: refused', old.id, old.status
          using errcode = 'insufficient_privilege';
      end if;
      if old.status = 'draft' then
        if new.status = 'draft' or (new.status = 'finalized' and current_user = ${sql.lit(ctx.roles.definer)}) then
          return new;
        end if;
      elsif old.status = 'finalized' and new.status = 'void'
          and (new.organization_id, new.id, new.number, new.currency, new.period_start, new.period_end,
               new.subtotal, new.total, new.lines, new.minor_units, new.customer_name, new.issuer,
               new.created_at, new.finalized_at)
          is not distinct from
              (old.organization_id, old.id, old.number, old.currency, old.period_start, old.period_end,
               old.subtotal, old.total, old.lines, old.minor_units, old.customer_name, old.issuer,
               old.created_at, old.finalized_at) then
        return new;
      end if;
      raise exception 'invoice % is % and immutable: refused', old.id, old.status
        using errcode = 'insufficient_privilege';
    end $$`.execute(db);
  await sql`revoke all on function app_invoice_guard() from public`.execute(db);
  await sql`create trigger invoices_immutable before update or delete on invoices
    for each row execute function app_invoice_guard()`.execute(db);

  // The counter: one row, out of the runtime role's reach (no grant at all).
  await sql`create table invoice_number_counter (
    singleton boolean primary key default true check (singleton),
    last_value bigint not null check (last_value >= 0)
  )`.execute(db);
  await sql`insert into invoice_number_counter (singleton, last_value) values (true, 0)`.execute(db);
  await sql`revoke all on invoice_number_counter from public`.execute(db);
  await sql`grant select, update on invoice_number_counter to ${definer}`.execute(db);
  await sql`grant select, update (status, number, finalized_at) on invoices to ${definer}`.execute(db);

  // Finalizes a draft of p_org: checks its lines (each an object with the keys the API returns, amounts
  // and quantities integers in 0 … 2^53 − 1, at most MAX_LINES of them) and that they sum to its subtotal
  // and total, takes the next number (locking the counter row until the caller's transaction ends:
  // concurrent finalizations wait, at most lock_timeout, and a rollback returns the number), marks it
  // finalized at the clock time taken after the counter's update (so number order is finalization order);
  // returns the number and the finalization time. Only inside the tenant scope of p_org.
  const MAX_LINES = 1000;
  await sql`create function app_invoice_finalize(p_org uuid, p_invoice uuid)
    returns table (number text, finalized_at timestamptz)
    language plpgsql security definer set search_path = pg_catalog, public set lock_timeout = '5s' as $$
    declare v_subtotal bigint; v_total bigint; v_lines jsonb; v_line jsonb; v_i int := 0; v_amount numeric;
      v_quantity numeric; v_sum numeric := 0; v_next bigint; v_number text; v_at timestamptz;
    begin
      if p_org is null or p_org is distinct from public.app_current_tenant() then
        raise exception 'invoice finalization outside the tenant scope of its organization'
          using errcode = 'insufficient_privilege';
      end if;
      select i.subtotal, i.total, i.lines into v_subtotal, v_total, v_lines from public.invoices i
        where i.organization_id = p_org and i.id = p_invoice and i.status = 'draft' for update;
      if not found then
        raise exception 'no draft invoice % in this organization', p_invoice using errcode = 'no_data_found';
      end if;
      if jsonb_array_length(v_lines) > ${sql.raw(String(MAX_LINES))} then
        raise exception 'invoice % has % lines, more than ${sql.raw(String(MAX_LINES))}', p_invoice,
          jsonb_array_length(v_lines) using errcode = 'check_violation';
      end if;
      for v_line in select l from jsonb_array_elements(v_lines) l loop
        v_i := v_i + 1;
        if jsonb_typeof(v_line) is distinct from 'object'
            or not (v_line ?& array['description', 'planKey', 'component', 'quantity', 'amount',
                                    'periodStart', 'periodEnd'])
            or jsonb_typeof(v_line -> 'description') is distinct from 'string'
            or jsonb_typeof(v_line -> 'planKey') is distinct from 'string'
            or jsonb_typeof(v_line -> 'component') is distinct from 'string'
            or jsonb_typeof(v_line -> 'periodStart') is distinct from 'string'
            or jsonb_typeof(v_line -> 'periodEnd') is distinct from 'string'
            or jsonb_typeof(v_line -> 'quantity') is distinct from 'number'
            or jsonb_typeof(v_line -> 'amount') is distinct from 'number' then
          raise exception 'invoice % line % is malformed: %', p_invoice, v_i, left(v_line::text, 200)
            using errcode = 'check_violation';
        end if;
        v_amount := (v_line ->> 'amount')::numeric;
        v_quantity := (v_line ->> 'quantity')::numeric;
        if v_amount <> trunc(v_amount) or v_amount < 0 or v_amount > ${sql.raw(MAX_SAFE)}
            or v_quantity <> trunc(v_quantity) or v_quantity < 0 or v_quantity > ${sql.raw(MAX_SAFE)} then
          raise exception 'invoice % line % has an amount or quantity that is not an integer in 0 .. 2^53 - 1',
            p_invoice, v_i using errcode = 'check_violation';
        end if;
        v_sum := v_sum + v_amount;
      end loop;
      if v_sum <> v_subtotal or v_total <> v_subtotal then
        raise exception 'invoice % lines sum to %, subtotal %, total %', p_invoice, v_sum, v_subtotal, v_total
          using errcode = 'check_violation';
      end if;
      begin
        update public.invoice_number_counter c set last_value = c.last_value + 1
          where c.singleton returning c.last_value into v_next;
      exception when lock_not_available then
        raise exception 'invoice numbering busy: another finalization held the counter for 5s; retry'
          using errcode = 'lock_not_available';
      end;
      -- After the counter's row lock: a later number never has an earlier finalization time.
      v_at := clock_timestamp();
      v_number := 'INV-' || lpad(v_next::text, greatest(6, length(v_next::text)), '0');
      update public.invoices i set status = 'finalized', number = v_number, finalized_at = v_at
        where i.organization_id = p_org and i.id = p_invoice;
      return query select v_number, v_at;
    end $$`.execute(db);
  await sql`alter function app_invoice_finalize(uuid, uuid) owner to ${definer}`.execute(db);
  await sql`revoke all on function app_invoice_finalize(uuid, uuid) from public`.execute(db);
  await sql`grant execute on function app_invoice_finalize(uuid, uuid) to ${runtime}`.execute(db);
}
