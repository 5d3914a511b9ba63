import type pg from 'pg';
import type { CompiledQuery, DatabaseConnection, QueryResult } from 'kysely';
import { pipelinedQuery, type PreludeStatement } from './pipelined-query.js';
import { TenancyError } from './errors.js';
import type { TenantDb } from './tenant-database.js';

/** `read`: every query is its own implicit transaction with the tenant set, one round trip each.
 *  `write`: one transaction; BEGIN and the tenant setting travel with the first query. */
export type TenantMode = 'read' | 'write';

/** How a placement sets the tenant for a transaction (pooled PostgreSQL, Citus, ...). */
export interface TenantSetter {
  /** Statements that start a transaction for `tenantId` in `mode`, sent ahead of the first query. */
  prelude(tenantId: string, mode: TenantMode): readonly PreludeStatement[];
}

const BEGIN: PreludeStatement = { name: 'sr_begin', text: 'begin', values: [] };

/** Leading comments, then the statement's first keyword. */
const FIRST_KEYWORD = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*([a-z]+)/i;
/** Statements whose effect can outlive the transaction on the session (a setting, a prepared statement,
 *  a held cursor, a temporary object, a subscription, a loaded library) or that run code which can. */
const SESSION_KEYWORDS = new Set([
  'set',
  'reset',
  'do',
  'prepare',
  'execute',
  'deallocate',
  'call',
  'listen',
  'unlisten',
  'load',
  'declare',
  'discard',
  'create',
  'alter',
]);
/** Functions that change a setting, or that run SQL given as text (which could); a Unicode-escaped
 *  identifier (U&"...") could spell either. */
const SESSION_FUNCTIONS = /set_config|query_to_xml|ts_stat|ts_rewrite|dblink|u&["']/i;

/**
 * True when `sql` could leave state on the session that outlives its transaction (e.g. a session-level
 * `set_config('app.tenant_id', …, false)`). Such a scope's connection is destroyed, not pooled. A pure
 * text check: no round trip.
 */
export function mayChangeSession(sql: string): boolean {
  if (SESSION_FUNCTIONS.test(sql)) return true;
  const keyword = FIRST_KEYWORD.exec(sql)?.[1]?.toLowerCase();
  return keyword !== undefined && SESSION_KEYWORDS.has(keyword);
}

/**
 * The one connection a `withTenant` scope uses. Never seen by modules: they get a Kysely instance
 * whose driver routes every query here while the scope is open.
 */
export class TenantConnection implements DatabaseConnection {
  private begun = false;
  private closed = false;
  private sessionTouched = false;

  constructor(
    readonly client: pg.PoolClient,
    readonly tenantId: string,
    readonly mode: TenantMode,
    private readonly setter: TenantSetter,
    /** The Kysely handle bound to this scope (what nested calls for the same tenant receive). */
    readonly db: TenantDb,
  ) {}

  /** True once a statement that could change session state ran: the connection must not be pooled. */
  get dirty(): boolean {
    return this.sessionTouched;
  }

  /** True once a transaction was opened on the server (so it must be committed or rolled back). */
  get inTransaction(): boolean {
    return this.begun;
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    if (this.closed) {
      throw new TenancyError('TENANT_SCOPE_CLOSED', 'query issued after its withTenant scope ended');
    }
    const params = compiled.parameters as unknown[];
    if (!this.sessionTouched && mayChangeSession(compiled.sql)) this.sessionTouched = true;
    let res: pg.QueryResult;
    if (this.mode === 'read') {
      res = await pipelinedQuery(
        this.client,
        this.setter.prelude(this.tenantId, 'read'),
        compiled.sql,
        params,
      );
    } else if (!this.begun) {
      this.begun = true;
      res = await pipelinedQuery(
        this.client,
        [BEGIN, ...this.setter.prelude(this.tenantId, 'write')],
        compiled.sql,
        params,
      );
    } else {
      res = await pipelinedQuery(this.client, [], compiled.sql, params);
    }
    return toQueryResult<R>(res);
  }

  // Streaming is not offered inside tenant scopes: results are paginated instead.
  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new TenancyError('PLACEMENT_UNSUPPORTED', 'streaming queries are not supported in tenant scopes');
  }

  /** Ends the transaction (if one was opened). */
  async finish(commit: boolean): Promise<void> {
    if (!this.begun) return;
    const res = await this.client.query(commit ? 'commit' : 'rollback');
    this.begun = false;
    // COMMIT of a transaction in which a statement failed (and the caller swallowed the error) answers
    // ROLLBACK without an error: report it, or the caller would believe discarded writes were saved.
    if (commit && res.command !== 'COMMIT') {
      throw new TenancyError(
        'TRANSACTION_ROLLED_BACK',
        'the transaction was rolled back because a statement inside it failed',
      );
    }
  }

  close(): void {
    this.closed = true;
  }
}

function toQueryResult<R>(res: pg.QueryResult): QueryResult<R> {
  const command = res.command;
  const affects = command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE';
  return {
    rows: (res.rows ?? []) as R[],
    numAffectedRows: affects ? BigInt(res.rowCount ?? 0) : undefined,
  };
}
