import type pg from 'pg';
import type { CompiledQuery, QueryResult } from 'kysely';
import { TenancyError } from './errors.js';
import { runHooks, TenantConnection, type ScopeConnection, type TenantMode } from './tenant-connection.js';
import type { TenantDatabase, TenantDb } from './tenant-database.js';
import type { StatementHomes } from './statement-home.js';
import { applyOutcome, DECIDE_SQL, newGid, outcomesOf } from './prepared-commits.js';

/** What a `database` placement routes to besides its tenant database (placement.ts). */
export interface DirectorySide {
  /** The control database: its directory and global tables, for every organization. */
  readonly control: TenantDatabase;
  /** Where each statement runs (statement-home.ts). */
  readonly homes: StatementHomes;
}

/** Called when a decided prepared part could not be committed at once (the resolver will). */
export type OnUnresolved = (gid: string, err: unknown) => void;

/**
 * The scope of an organization placed in a tenant database (docs/isolation-models.md, "Database
 * placements: the directory stays in the control database"): two tenant connections, one per database,
 * each with the tenant set the same way (transaction-locally, RLS on both sides). Each statement runs
 * where the tables it names live (statement-home.ts); the control database's connection is taken on the
 * first statement that needs it. A write scope that wrote on both sides commits them together by
 * two-phase commit (prepared-commits.ts); one that used one side commits as any scope does.
 */
export class SplitTenantConnection implements ScopeConnection {
  readonly splitsDirectory = true;
  readonly tenantId: string;
  readonly mode: TenantMode;
  readonly db: TenantDb;
  private closed = false;
  private controlConn: TenantConnection | undefined;
  private opening: Promise<TenantConnection> | undefined;
  /** Set when the control connection failed mid-COMMIT: destroyed, never pooled. */
  private controlBroken: Error | undefined;
  /** Control-side statements deferred before its connection was taken. */
  private held: { sql: string; params: readonly unknown[]; onCommitted?: () => void }[] | undefined;

  constructor(
    private readonly tenant: TenantConnection,
    private readonly side: DirectorySide,
    private readonly databaseKey: string,
    private readonly onUnresolved?: OnUnresolved,
  ) {
    this.tenantId = tenant.tenantId;
    this.mode = tenant.mode;
    this.db = tenant.db;
  }

  get dirty(): boolean {
    return this.tenant.dirty;
  }

  get unfinished(): boolean {
    return (
      this.tenant.unfinished ||
      this.opening !== undefined ||
      this.held !== undefined ||
      (this.controlConn?.unfinished ?? false)
    );
  }

  executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    if (this.closed) {
      return Promise.reject(
        new TenancyError('TENANT_SCOPE_CLOSED', 'query issued after its withTenant scope ended'),
      );
    }
    let home;
    try {
      home = this.side.homes.of(compiled.sql);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (home === 'tenant') return this.tenant.executeQuery<R>(compiled);
    return this.controlSide().then((c) => c.executeQuery<R>(compiled));
  }

  // Streaming is not offered inside tenant scopes: results are paginated instead.
  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new TenancyError('PLACEMENT_UNSUPPORTED', 'streaming queries are not supported in tenant scopes');
  }

  deferUntilCommit(sql: string, params: readonly unknown[], onCommitted?: () => void): void {
    if (this.side.homes.of(sql) === 'tenant') {
      this.tenant.deferUntilCommit(sql, params, onCommitted);
      return;
    }
    if (this.closed) {
      throw new TenancyError('TENANT_SCOPE_CLOSED', 'statement deferred after its withTenant scope ended');
    }
    if (this.mode !== 'write') {
      throw new TenancyError(
        'TENANT_SCOPE_CONFLICT',
        'a statement deferred until COMMIT needs a write scope',
      );
    }
    if (this.controlConn) this.controlConn.deferUntilCommit(sql, params, onCommitted);
    else (this.held ??= []).push({ sql, params, onCommitted });
  }

  private controlSide(): Promise<TenantConnection> {
    return (this.opening ??= this.side.control.pool.connect().then((client: pg.PoolClient) => {
      const conn = new TenantConnection(
        client,
        this.tenantId,
        this.mode,
        this.side.control.setter,
        this.db,
        true,
      );
      for (const h of this.held ?? []) conn.deferUntilCommit(h.sql, h.params, h.onCommitted);
      this.held = undefined;
      this.controlConn = conn;
      return conn;
    }));
  }

  close(): void {
    this.closed = true;
    this.tenant.close();
  }

  async finish(commit: boolean): Promise<void> {
    // A control connection being taken (a statement's, or held deferred ones') is waited for.
    if (this.held !== undefined && commit) await this.controlSide();
    if (this.opening) await this.opening.catch(() => undefined);
    const control = this.controlConn;
    if (!commit) {
      const ends = await Promise.allSettled([this.tenant.finish(false), control?.finish(false)]);
      for (const e of ends) if (e.status === 'rejected') throw e.reason;
      return;
    }
    if (control === undefined || !control.unfinished) {
      await this.tenant.finish(true);
      return;
    }
    if (!this.tenant.unfinished) {
      await control.finish(true);
      return;
    }
    if (!control.wrote) {
      // The control side only read: its COMMIT changes nothing, so no two-phase commit is needed (its
      // snapshot and the tenant side's were never one anyway).
      await control.finish(true);
      await this.tenant.finish(true);
      return;
    }
    // Both sides hold a transaction: two-phase commit, the control database's COMMIT deciding.
    const gid = newGid(this.tenantId);
    let prepared: Awaited<ReturnType<TenantConnection['prepare']>>;
    try {
      prepared = await this.tenant.prepare(gid);
    } catch (err) {
      await control.finish(false).catch(() => undefined);
      throw preparedError(err);
    }
    if (!prepared.prepared) {
      // No transaction of the scope's own there (a read scope), yet a read that ends its own (Citus)
      // may have failed and left a failed one: the tenant side is ended too, or it is pooled that way.
      await control.finish(true);
      await this.tenant.finish(true);
      runHooks(prepared.hooks);
      return;
    }
    control.deferUntilCommit(DECIDE_SQL, [gid, this.databaseKey]);
    let controlHooks: readonly (() => void)[];
    try {
      controlHooks = await control.commitHoldingHooks();
    } catch (err) {
      if (answeredBySql(err)) {
        // The server answered with an error: its transaction (and the decision in it) rolled back.
        await applyOutcome(this.tenant.client, gid, 'abort').catch(() => undefined);
        throw err;
      }
      // The connection was lost around the COMMIT: the decision may or may not be there. Ask (an
      // undecided gid is ruled out there, so the answer is final); if even that fails, the resolver decides.
      this.controlBroken = err as Error;
      const outcome = await outcomesOf(this.side.control.pool, this.databaseKey, [gid])
        .then((m) => m.get(gid))
        .catch(() => undefined);
      if (outcome !== 'commit') {
        if (outcome === 'abort') await applyOutcome(this.tenant.client, gid, 'abort').catch(() => undefined);
        throw err;
      }
      controlHooks = [];
    }
    try {
      await applyOutcome(this.tenant.client, gid, 'commit');
    } catch (err) {
      // Decided: committed by the resolver if not here. The scope reports success (its writes are
      // durable on both sides); its tenant part's locks stay held until then.
      this.onUnresolved?.(gid, err);
    }
    runHooks(controlHooks);
    runHooks(prepared.hooks);
  }

  /** Gives both connections back (the tenant one is released by `withTenant`'s caller as before). */
  release(broken?: Error): void {
    this.controlConn?.release(broken ?? this.controlBroken);
    this.controlConn = undefined;
  }
}

/** True when PostgreSQL answered the statement with an error (a SQLSTATE outside the connection
 *  classes): the transaction is certainly rolled back, as opposed to a connection lost with no answer. */
function answeredBySql(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !/^(08|57P)/.test(code);
}

function preparedError(err: unknown): unknown {
  if ((err as { code?: string } | undefined)?.code === '55000') {
    return new TenancyError(
      'PREPARED_TRANSACTIONS_DISABLED',
      "a tenant database's server refuses prepared transactions: set max_prepared_transactions above 0 there (docs/isolation-models.md)",
    );
  }
  return err;
}
