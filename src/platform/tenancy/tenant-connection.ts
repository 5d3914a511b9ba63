import type pg from 'pg';
import type { CompiledQuery, DatabaseConnection, QueryResult } from 'kysely';
import {
  inAbortedTransaction,
  pipelinedQuery,
  rollBackAborted,
  statementName,
  type PipelinedQueryOptions,
  type PreludeStatement,
} from './pipelined-query.js';
import { TenancyError } from './errors.js';
import { explicitFilterTables, explicitFilterViolation } from './explicit-filters.js';
import type { TenantDb } from './tenant-database.js';
import type { ReadQualifier } from './schema-qualifier.js';

/** `read`: every query is its own transaction with the tenant set, one round trip each (an implicit
 *  one, or on Citus BEGIN READ ONLY … COMMIT in the same pipeline).
 *  `write`: one transaction; BEGIN and the tenant setting travel with the first query. */
export type TenantMode = 'read' | 'write';

/** How a placement sets the tenant for a transaction (pooled PostgreSQL, Citus, ...). */
export interface TenantSetter {
  /** Statements that start a transaction for `tenantId` in `mode`, sent ahead of the first query. */
  prelude(tenantId: string, mode: TenantMode): readonly PreludeStatement[];
  /** True when a read scope must be ONE transaction (BEGIN with its first query, COMMIT at its end)
   *  instead of a one-round-trip implicit transaction per query: a moving organization's (moving-setter.ts). */
  readonly transactionalReads?: boolean;
  /** Set when the setter changes the search path (a schema placement): its statements get names of their
   *  own (`statementName`), so a connection never re-plans one statement for two search paths. */
  readonly statementNamespace?: string;
  /** Set when each read's prelude opens an explicit transaction (Citus: `SET LOCAL` reaches the workers
   *  only inside one, citus-setter.ts): the statements that end it, sent after the read's query in the
   *  same pipeline (COMMIT), so a read stays one round trip. A read that fails leaves a failed transaction
   *  block behind (Sync does not end it): the connection gets a ROLLBACK before its next use or release. */
  readonly readEpilogue?: readonly PreludeStatement[];
  /** A schema placement's reads that name its tables themselves (schema-qualifier.ts): the text to run
   *  instead of a read's, or undefined when the read keeps the search path. Read scopes only. */
  readonly readQualifier?: ReadQualifier;
  /** The prelude of such a read: the tenant (and read-only), without the search path. */
  qualifiedReadPrelude?(tenantId: string): readonly PreludeStatement[];
}

/** Tests only (explicit-filters.ts): every statement is checked for its `organization_id` filter. */
const CHECK_FILTERS = explicitFilterTables !== undefined;

const BEGIN: PreludeStatement = { name: 'sr_begin', text: 'begin', values: [] };
const NO_PRELUDE: readonly PreludeStatement[] = [];
const NO_HOOKS: readonly (() => void)[] = [];

/** Statements that touch only the transaction: the connection stays poolable after them (unless a
 *  function below appears). Everything else (SET, RESET, DO, PREPARE, EXECUTE, CALL, LISTEN, DECLARE,
 *  CREATE TEMP, LOAD, DISCARD, COPY, LOCK, anything new) marks the connection dirty. */
const TRANSACTION_KEYWORDS = new Set([
  'select',
  'insert',
  'update',
  'delete',
  'merge',
  'with',
  'values',
  'table',
]);
/** Functions that change a setting, run SQL given as text (which could), or take a SESSION advisory lock
 *  (which outlives the transaction; the `_xact` forms do not); the settings view, whose UPDATE is a SET;
 *  a Unicode-escaped identifier (U&"...") could spell any of them. */
const SESSION_FUNCTIONS =
  /set_config|query_to_xml|ts_stat|ts_rewrite|dblink|pg_settings|pg_(?:try_)?advisory_lock(?:_shared)?\b|u&["']/i;

/**
 * The first keyword of `sql` (lower-cased), skipping what PostgreSQL skips before it: whitespace, `--`
 * comments, NESTED `/* *\/` comments and empty statements (`;`). Undefined when there is none (or an
 * unterminated comment), or when the text does not start with a keyword.
 */
export function firstKeyword(sql: string): string | undefined {
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql.charCodeAt(i);
    // whitespace (space, \t, \n, \v, \f, \r) and empty statements
    if (c === 32 || (c >= 9 && c <= 13) || c === 59) {
      i++;
    } else if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      const end = sql.indexOf('\n', i + 2);
      if (end < 0) return undefined;
      i = end + 1;
    } else if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      let depth = 1;
      i += 2;
      while (depth > 0) {
        if (i >= n) return undefined;
        const d = sql.charCodeAt(i);
        if (d === 47 && sql.charCodeAt(i + 1) === 42) {
          depth++;
          i += 2;
        } else if (d === 42 && sql.charCodeAt(i + 1) === 47) {
          depth--;
          i += 2;
        } else {
          i++;
        }
      }
    } else {
      break;
    }
  }
  const m = /^[a-z_]+/i.exec(sql.slice(i, i + 16));
  return m ? m[0].toLowerCase() : undefined;
}

const READS_ONLY = new Map<string, boolean>();
/** False only for a plain SELECT that locks nothing and calls no function of ours (`app_…`, which may
 *  write); memoized per text like `mayChangeSession`. */
function mayWrite(sql: string): boolean {
  let verdict = READS_ONLY.get(sql);
  if (verdict === undefined) {
    verdict =
      firstKeyword(sql) !== 'select' ||
      /\bapp_|\bfor\s+(?:update|no\s+key|share|key)\b|nextval|setval|advisory/i.test(sql);
    if (sql.length <= VERDICT_TEXT_MAX) {
      if (READS_ONLY.size >= VERDICTS_MAX) READS_ONLY.delete(READS_ONLY.keys().next().value as string);
      READS_ONLY.set(sql, verdict);
    }
  }
  return verdict;
}

/** Remembered verdicts: at most this many texts (oldest forgotten first), each at most this long. */
const VERDICTS_MAX = 1024;
const VERDICT_TEXT_MAX = 4096;
const verdicts = new Map<string, boolean>();

/**
 * True when `sql` could leave state on the session that outlives its transaction (a setting, a session
 * advisory lock, a prepared statement, a held cursor, a temporary object, ...). An ALLOWLIST: only a
 * statement whose first keyword is select/insert/update/delete/merge/with/values/table, and that names
 * none of the functions above, keeps the connection poolable; such a scope's connection is destroyed
 * otherwise. A pure text check, memoized per text (Kysely reuses its strings): no round trip.
 */
export function mayChangeSession(sql: string): boolean {
  const known = verdicts.get(sql);
  if (known !== undefined) return known;
  const keyword = firstKeyword(sql);
  const verdict = keyword === undefined || !TRANSACTION_KEYWORDS.has(keyword) || SESSION_FUNCTIONS.test(sql);
  if (sql.length <= VERDICT_TEXT_MAX) {
    if (verdicts.size >= VERDICTS_MAX) verdicts.delete(verdicts.keys().next().value as string);
    verdicts.set(sql, verdict);
  }
  return verdict;
}

/** What a `withTenant` scope's code reaches through `scopeStorage`: one connection (TenantConnection), or
 *  a `database` placement's pair of them (split-connection.ts). */
export interface ScopeConnection {
  readonly tenantId: string;
  readonly mode: TenantMode;
  readonly db: TenantDb;
  /** True when directory and global tables are on another database than the placed ones. */
  readonly splitsDirectory?: boolean;
  readonly dirty: boolean;
  readonly unfinished: boolean;
  executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>>;
  deferUntilCommit(sql: string, params: readonly unknown[], onCommitted?: () => void): void;
  finish(commit: boolean): Promise<void>;
  close(): void;
}

/**
 * The one connection a `withTenant` scope uses. Never seen by modules: they get a Kysely instance
 * whose driver routes every query here while the scope is open.
 */
export class TenantConnection implements DatabaseConnection, ScopeConnection {
  private begun = false;
  private closed = false;
  private sessionTouched = false;
  /** Statements sent with COMMIT (`deferUntilCommit`), and what to call once it succeeded; made on the
   *  first (most scopes defer nothing: no allocation for them). */
  private deferred: PreludeStatement[] | undefined;
  private committedHooks: (() => void)[] | undefined;
  private readPrelude: readonly PreludeStatement[] | undefined;
  private qualifiedPrelude: readonly PreludeStatement[] | undefined;
  /** The first query of a write scope (it carries BEGIN and the tenant setting) while it is in flight. */
  private opening: Promise<void> | undefined;
  /** Set when that first query failed without the server answering it (no SQLSTATE: e.g. a parameter
   *  pg could not convert): BEGIN and the tenant setting may never have been sent, so nothing more may
   *  run in this scope and it can only roll back. */
  private unopened = false;
  /** Each read its own implicit transaction (a read scope, unless the setter wants one transaction). */
  private readonly pipelinedReads: boolean;
  /** Each read its own explicit transaction, ended by the setter's `readEpilogue` (a Citus read scope). */
  private readonly readsEndThemselves: boolean;
  /** The reads of such a scope not settled yet: the scope's end waits for them (`finish`). */
  private readsInFlight: Set<Promise<unknown>> | undefined;

  constructor(
    readonly client: pg.PoolClient,
    readonly tenantId: string,
    readonly mode: TenantMode,
    private readonly setter: TenantSetter,
    /** The Kysely handle bound to this scope (what nested calls for the same tenant receive). */
    readonly db: TenantDb,
    /** Whether `wrote` is kept (a split scope's control side only: no per-statement cost elsewhere). */
    private readonly trackWrites = false,
  ) {
    this.pipelinedReads = mode === 'read' && setter.transactionalReads !== true;
    this.readsEndThemselves = this.pipelinedReads && setter.readEpilogue !== undefined;
    if (setter.statementNamespace !== undefined || setter.readEpilogue !== undefined) {
      const options = setterOptions(setter);
      this.readOptions = options.read;
      this.writeOptions = options.write;
      this.qualifiedOptions = options.qualified;
    }
  }

  private readonly readOptions: ShapedOptions<unknown> = READ_OPTIONS;
  private readonly writeOptions: ShapedOptions<unknown> = WRITE_OPTIONS;
  private readonly qualifiedOptions: ShapedOptions<unknown> = READ_OPTIONS;

  /** True once a statement that could change session state ran: the connection must not be pooled. */
  get dirty(): boolean {
    return this.sessionTouched;
  }

  /** True while `finish` has something to do: a transaction opened (or being opened, or whose opening
   *  failed) on the server, or statements deferred until COMMIT. A read scope has only when its reads
   *  end their own transactions (Citus) and one failed, leaving a failed transaction block. */
  get unfinished(): boolean {
    return (
      this.begun ||
      this.opening !== undefined ||
      this.unopened ||
      this.deferred !== undefined ||
      (this.readsEndThemselves &&
        ((this.readsInFlight !== undefined && this.readsInFlight.size > 0) ||
          inAbortedTransaction(this.client)))
    );
  }

  /** True once a transaction was opened on the server (so it must be committed or rolled back). */
  get inTransaction(): boolean {
    return this.begun;
  }

  /** Not async: the pipelined query's promise is returned as it is, already shaped for Kysely. */
  executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    if (this.closed) {
      return Promise.reject(
        new TenancyError('TENANT_SCOPE_CLOSED', 'query issued after its withTenant scope ended'),
      );
    }
    if (this.unopened) return Promise.reject(unopenedError());
    if (CHECK_FILTERS) {
      const violation = explicitFilterViolation(compiled, this.tenantId);
      if (violation) return Promise.reject(violation);
    }
    const sql = compiled.sql;
    if (!this.sessionTouched && mayChangeSession(sql)) this.sessionTouched = true;
    if (this.trackWrites && !this.mayHaveWritten && mayWrite(sql)) this.mayHaveWritten = true;
    const params = compiled.parameters;
    if (this.pipelinedReads) {
      const qualified = this.setter.readQualifier?.qualify(compiled);
      if (qualified !== undefined) return this.qualifiedRead<R>(qualified, compiled);
      // The same prelude for every read of the scope (its tenant and mode are fixed): built once.
      this.readPrelude ??= this.setter.prelude(this.tenantId, 'read');
      const read = pipelinedQuery(
        this.client,
        this.readPrelude,
        sql,
        params,
        this.readOptions as ShapedOptions<R>,
      );
      if (this.readsEndThemselves) this.track(read);
      return read;
    }
    // A query issued while the first is in flight (Promise.all) waits for it: if the first was never
    // sent, this one must not go out after it without BEGIN and the tenant. Sequential code never waits
    // (the first query has settled, and this handler ran, before its caller resumes).
    if (this.opening) return this.opening.then(() => this.executeQuery<R>(compiled));
    if (!this.begun) {
      this.begun = true;
      const prelude = [BEGIN, ...this.setter.prelude(this.tenantId, this.mode)];
      const first = pipelinedQuery(this.client, prelude, sql, params, this.writeOptions as ShapedOptions<R>);
      this.opening = first.then(
        () => {
          this.opening = undefined;
        },
        (err: unknown) => {
          this.opening = undefined;
          if ((err as { code?: unknown } | undefined)?.code === undefined) this.unopened = true;
        },
      );
      return first;
    }
    return pipelinedQuery(this.client, NO_PRELUDE, sql, params, this.writeOptions as ShapedOptions<R>);
  }

  /**
   * A schema placement's read that names the schema's tables itself (schema-qualifier.ts): the tenant's
   * prelude without the search path. If the schema is gone meanwhile (the organization moved back to the
   * pooled schema and its schema was dropped while this process still routed it there), the read runs
   * again as before, under the search path, which then resolves to `public`: nothing of the first ran
   * (an implicit transaction that failed).
   */
  private qualifiedRead<R>(sql: string, compiled: CompiledQuery): Promise<QueryResult<R>> {
    // A text naming none of the schema's tables runs as a pooled organization's does, under the pooled
    // statement names; a qualified text is named in the schema's namespace (it names the schema).
    const options = (sql === compiled.sql ? READ_OPTIONS : this.qualifiedOptions) as ShapedOptions<R>;
    // Throws (TENANT_SCOPE_CONFLICT) on a handle of another organization, as `prelude` does.
    const prelude = (this.qualifiedPrelude ??=
      this.setter.qualifiedReadPrelude?.(this.tenantId) ?? NO_PRELUDE);
    return pipelinedQuery(this.client, prelude, sql, compiled.parameters, options).catch((err: unknown) => {
      const code = (err as { code?: unknown } | undefined)?.code;
      if (code !== '42P01' && code !== '3F000') throw err;
      this.setter.readQualifier?.refuse(compiled.sql);
      this.readPrelude ??= this.setter.prelude(this.tenantId, 'read');
      return pipelinedQuery(
        this.client,
        this.readPrelude,
        compiled.sql,
        compiled.parameters,
        this.readOptions as ShapedOptions<R>,
      );
    });
  }

  // Streaming is not offered inside tenant scopes: results are paginated instead.
  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new TenancyError('PLACEMENT_UNSUPPORTED', 'streaming queries are not supported in tenant scopes');
  }

  /**
   * Queues a statement whose result nobody needs (an audit event) to travel in the same network write
   * as COMMIT, so it costs no round trip of its own. It is part of the transaction: if it fails, nothing
   * of the transaction is committed and `finish` throws its error. Write scopes only. `onCommitted` runs
   * once the COMMIT succeeded.
   */
  deferUntilCommit(sql: string, params: readonly unknown[], onCommitted?: () => void): void {
    if (this.closed) {
      throw new TenancyError('TENANT_SCOPE_CLOSED', 'statement deferred after its withTenant scope ended');
    }
    if (this.mode !== 'write') {
      throw new TenancyError(
        'TENANT_SCOPE_CONFLICT',
        'a statement deferred until COMMIT needs a write scope',
      );
    }
    if (CHECK_FILTERS) {
      const violation = explicitFilterViolation({ sql, parameters: params }, this.tenantId);
      if (violation) throw violation;
    }
    if (!this.sessionTouched && mayChangeSession(sql)) this.sessionTouched = true;
    (this.deferred ??= []).push({
      name: statementName(sql, this.setter.statementNamespace) ?? '',
      text: sql,
      values: params,
    });
    if (onCommitted) (this.committedHooks ??= []).push(onCommitted);
  }

  /** Remembers a read that ends its own transaction until it settles (see `finish`). */
  private track(read: Promise<unknown>): void {
    const inFlight = (this.readsInFlight ??= new Set());
    inFlight.add(read);
    const settled = () => {
      inFlight.delete(read);
    };
    read.then(settled, settled);
  }

  /** True once a statement that may write (or lock) ran or was deferred: anything but a plain SELECT
   *  calling none of our functions (split-connection.ts commits a side that only read without two-phase).
   *  Always true on a connection that does not track it. */
  get wrote(): boolean {
    return !this.trackWrites || this.mayHaveWritten || this.deferred !== undefined;
  }
  private mayHaveWritten = false;

  /** COMMIT, with what waits for it returned instead of run (a two-phase commit runs them at its end). */
  commitHoldingHooks(): Promise<readonly (() => void)[]> {
    return this.end(true, 'commit', 'COMMIT');
  }

  /** Ends the transaction (if one was opened), sending the deferred statements with COMMIT. */
  async finish(commit: boolean): Promise<void> {
    const hooks = await this.end(commit, commit ? 'commit' : 'rollback', 'COMMIT');
    runHooks(hooks);
  }

  /**
   * Two-phase commit's first phase (a `database` placement's scope that wrote both databases,
   * split-connection.ts): sends the deferred statements with `PREPARE TRANSACTION gid` instead of COMMIT.
   * `prepared` false: there was no transaction to prepare (nothing ran, nothing deferred). The hooks are
   * returned, not run: they run once the prepared transaction is committed.
   */
  async prepare(gid: string): Promise<{ prepared: boolean; hooks: readonly (() => void)[] }> {
    if (!/^sr_tc_[0-9a-f]{32}_[0-9a-f]{32}$/.test(gid)) throw new Error('prepare: invalid transaction id');
    const wasBegun = this.begun || this.opening !== undefined || this.unopened;
    if (!wasBegun && this.deferred === undefined) return { prepared: false, hooks: NO_HOOKS };
    const hooks = await this.end(true, `prepare transaction '${gid}'`, 'PREPARE');
    return { prepared: true, hooks };
  }

  /** Gives the connection back to its pool: destroyed when `broken` or when the scope may have changed
   *  its session state (a session-level set_config, SET, DO, PREPARE, ...). */
  release(broken?: Error): void {
    this.client.release(
      broken ?? (this.sessionTouched ? new Error('tenant scope may have changed session state') : undefined),
    );
  }

  private async end(commit: boolean, ending: string, tag: string): Promise<readonly (() => void)[]> {
    if (this.readsEndThemselves) {
      // Reads still in flight first: a scope that threw at its first failed read (Promise.all) has others
      // queued on the connection, and one of them failing after the scope ended would leave a failed
      // transaction block on a pooled connection. Then a read that failed left its transaction failed:
      // end it, or the pool hands it to the next user.
      const inFlight = this.readsInFlight;
      while (inFlight !== undefined && inFlight.size > 0) await Promise.allSettled([...inFlight]);
      await rollBackAborted(this.client);
      return NO_HOOKS;
    }
    await this.opening;
    const deferred = (commit && !this.unopened ? this.deferred : undefined) ?? NO_PRELUDE;
    const hooks = (commit && !this.unopened ? this.committedHooks : undefined) ?? NO_HOOKS;
    this.deferred = undefined;
    this.committedHooks = undefined;
    if (this.unopened) {
      // Ends whatever the server may have begun (ROLLBACK with none open is only a warning).
      await this.client.query('rollback');
      this.begun = false;
      if (commit) throw unopenedError();
      return NO_HOOKS;
    }
    if (!this.begun && deferred.length === 0) return NO_HOOKS;
    const prelude = this.begun
      ? deferred
      : [BEGIN, ...this.setter.prelude(this.tenantId, 'write'), ...deferred];
    // Still "begun" if this throws: the caller's rollback then ends the failed transaction block.
    this.begun = true;
    // A prepared transaction's id is new each time: its PREPARE goes as a simple query of its own (one
    // round trip more, two-phase commits only), never as a named statement, after what was deferred.
    const simpleEnding = tag !== 'COMMIT';
    const res =
      prelude.length === 0
        ? await this.client.query(ending)
        : await pipelinedQuery(this.client, prelude, simpleEnding ? 'select 1' : ending, [])
            .then((r) => (simpleEnding ? this.client.query(ending) : r))
            .catch((err: unknown) => {
              // A statement of the transaction had failed and the caller swallowed the error.
              if ((err as { code?: string }).code === '25P02') {
                throw new TenancyError(
                  'TRANSACTION_ROLLED_BACK',
                  'the transaction was rolled back because a statement inside it failed',
                );
              }
              throw err;
            });
    this.begun = false;
    // COMMIT of a transaction in which a statement failed (and the caller swallowed the error) answers
    // ROLLBACK without an error: report it, or the caller would believe discarded writes were saved.
    if (commit && res.command !== tag) {
      throw new TenancyError(
        'TRANSACTION_ROLLED_BACK',
        'the transaction was rolled back because a statement inside it failed',
      );
    }
    return hooks;
  }

  close(): void {
    this.closed = true;
  }
}

/** Calls what waited for a COMMIT, once it succeeded. */
export function runHooks(hooks: readonly (() => void)[]): void {
  for (const hook of hooks) {
    try {
      hook();
    } catch {
      // The transaction IS committed: a listener's failure must not report it as failed.
    }
  }
}

const unopenedError = () =>
  new TenancyError(
    'TRANSACTION_ROLLED_BACK',
    'the transaction was rolled back: its first statement failed before reaching the database',
  );

type ShapedOptions<R> = PipelinedQueryOptions<QueryResult<R>>;
/** A read is its own implicit transaction: if it failed because its prepared statement's tables changed
 *  shape, or was chosen as the victim of a deadlock or serialization conflict (DDL of another session
 *  locking its tables in another order), nothing of it ran, so it is sent once more (re-prepared if
 *  need be). Not so inside a write transaction: what `fn` did before cannot be replayed here (a write's
 *  conflict is answered 503 with Retry-After, error-handler.ts). */
const READ_OPTIONS: ShapedOptions<unknown> = { shape: toQueryResult, retryStalePlan: true };
const WRITE_OPTIONS: ShapedOptions<unknown> = { shape: toQueryResult };
const bySetter = new WeakMap<
  TenantSetter,
  { read: ShapedOptions<unknown>; write: ShapedOptions<unknown>; qualified: ShapedOptions<unknown> }
>();

/** The query options of a setter with a statement namespace or a read epilogue, built once per setter
 *  (setters live as long as their placement's handle: no allocation per scope). A Citus read keeps the
 *  stale-plan retry: its failed transaction is rolled back first, so nothing of it ran either. */
function setterOptions(setter: TenantSetter): {
  read: ShapedOptions<unknown>;
  write: ShapedOptions<unknown>;
  qualified: ShapedOptions<unknown>;
} {
  let options = bySetter.get(setter);
  if (options === undefined) {
    const namespace = setter.statementNamespace;
    options = {
      read: { ...READ_OPTIONS, namespace, epilogue: setter.readEpilogue },
      write: { ...WRITE_OPTIONS, namespace },
      // A qualified text names its schema, but is named in the schema's namespace all the same: the
      // pooled statements' names are not spent on it.
      qualified: { ...READ_OPTIONS, namespace },
    };
    bySetter.set(setter, options);
  }
  return options;
}

/** pg's result as Kysely reads it. */
function toQueryResult<R>(res: pg.QueryResult): QueryResult<R> {
  const command = res.command;
  const affects = command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE';
  return {
    rows: (res.rows ?? []) as R[],
    numAffectedRows: affects ? BigInt(res.rowCount ?? 0) : undefined,
  };
}
