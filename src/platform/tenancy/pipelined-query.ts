import { createRequire } from 'node:module';
import pg from 'pg';

/**
 * A statement sent ahead of the real query in the same network write (for example BEGIN, or
 * `set_config('app.tenant_id', $1, true)`). Its result rows are discarded.
 */
export interface PreludeStatement {
  /** Name of the server-side prepared statement, prepared once per connection and then only bound;
   *  `''` (the unnamed statement) is parsed every time. Its values must already be strings. */
  readonly name: string;
  readonly text: string;
  readonly values: readonly unknown[];
}

/** The shape of a pg connection as far as this module uses it (pg does not export its type). */
interface WireConnection {
  parse(msg: { text: string; name: string; types?: unknown[] }): void;
  bind(msg: { portal: string; statement: string; values: readonly unknown[]; binary?: boolean }): void;
  describe(msg: { type: 'S' | 'P'; name: string }): void;
  execute(msg: { portal: string; rows?: number }): void;
  close(msg: { type: 'S' | 'P'; name: string }): void;
  sync(): void;
  parsedStatements: Record<string, string>;
  submittedNamedStatements: Record<string, string>;
  stream: { cork?: () => void; uncork?: () => void };
}

/** pg's conversion of a JavaScript value to a parameter (Date, array, JSON, Buffer, ...), the one its own
 *  queries use; not exported from the package root. */
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as {
  prepareValue: (value: unknown) => string | Buffer | null;
};

/**
 * What a named statement returns on one connection, as pg reads rows with it: the row description and the
 * type parsers built from it. Kept per connection and per statement, and dropped whenever the statement is
 * parsed again, so it always belongs to the statement that exists on the server. PostgreSQL never lets a
 * prepared statement's result shape change behind it (after an ALTER it answers "cached plan must not
 * change result type" instead), so later executions can skip Describe and the client skips re-reading the
 * description and building the parsers.
 */
interface Description {
  readonly fields: unknown[];
  readonly parsers: unknown[] | undefined;
  readonly emptyRow: Record<string, null> | null;
}

/** What this module knows about one connection's prepared statements, tracked outside pg's own
 *  bookkeeping; one lookup per query. */
interface ConnectionState {
  /** Prelude statements prepared on the connection. */
  readonly prepared: Set<string>;
  /** Statements whose Parse was in a pipeline that failed: they may or may not exist on the server. */
  readonly uncertain: Set<string>;
  /** Row descriptions of the main statements, by statement name. */
  readonly descriptions: Map<string, Description>;
  /** A pipeline that opened its own transaction (one with an epilogue: a Citus read's BEGIN … COMMIT) failed
   *  before its epilogue ended it. Sync does not end an explicit transaction block: the connection is in
   *  a failed one until a ROLLBACK, which the next pipeline sends first (`rollBackAborted`, at a scope's end). */
  abortedTransaction: boolean;
}
const states = new WeakMap<object, ConnectionState>();

/**
 * False (DB_STATEMENT_CACHE=off) when every statement goes out UNNAMED: Parse, Bind, Describe, Execute
 * each time, nothing prepared on the server. Why: behind a PgBouncer in transaction pooling mode (1.18 and
 * older, or 1.21+ without max_prepared_statements) consecutive transactions of one client run on
 * different server connections, so a statement prepared on one is missing on the next ("prepared
 * statement does not exist") or already there from another client ("already exists"). The unnamed
 * statement lives only until the next Parse, inside the one Sync the pipeline ends with: the prelude and
 * the query still travel in one write and one round trip. Process-wide, like the names themselves.
 */
let statementCache = true;

/** Turns the per-connection statement cache on (the default) or off (DB_STATEMENT_CACHE). */
export function setStatementCache(on: boolean): void {
  statementCache = on;
}

/** Whether the statement cache is on (DB_STATEMENT_CACHE). */
export function statementCacheEnabled(): boolean {
  return statementCache;
}

function stateOf(connection: object): ConnectionState {
  let state = states.get(connection);
  if (state === undefined) {
    state = { prepared: new Set(), uncertain: new Set(), descriptions: new Map(), abortedTransaction: false };
    states.set(connection, state);
  }
  return state;
}

/** pg's Result internals filled from a row description (see pg/lib/result.js `addFields`). */
interface ResultInternals {
  rows: unknown[];
  parseRow(fields: unknown[]): unknown;
  fields: unknown[];
  _parsers: unknown[] | undefined;
  _prebuiltEmptyResultObject: Record<string, null> | null;
}

/** The parts of pg's (untyped) internal Query protocol this subclass relies on. */
interface QueryInternals {
  text: string;
  values: unknown[] | undefined;
  types: unknown[] | undefined;
  binary: boolean | undefined;
  name: string | undefined;
  _result: ResultInternals;
  _accumulateRows: boolean;
  _canceledDueToError: Error | false;
  submit(connection: WireConnection): Error | null;
  handleCommandComplete(msg: unknown, connection: WireConnection): void;
  handleDataRow(msg: { fields: unknown[] }): void;
  handleRowDescription(msg: unknown): void;
  handleError(err: Error, connection: WireConnection): void;
  callback: ((err: Error | null, res?: pg.QueryResult) => void) | undefined;
}

const QueryBase = pg.Query as unknown as new (text: string, values: readonly unknown[]) => QueryInternals;

/** PostgreSQL's answer when a prepared statement's tables changed so that its result shape would change. */
export function isStalePlanError(err: unknown): boolean {
  return (
    err instanceof Error &&
    (err as Error & { code?: string }).code === '0A000' &&
    err.message.includes('cached plan must not change result type')
  );
}

/** PostgreSQL's answer when it failed the statement's transaction to resolve a conflict with concurrent
 *  work: a deadlock (40P01, e.g. with DDL locking the same tables in another order) or a serialization
 *  failure (40001). The transaction is rolled back whole; the same statement sent again succeeds. */
export function isConcurrencyFailure(err: unknown): boolean {
  const code = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  return code === '40P01' || code === '40001';
}

/**
 * A pg submittable that sends prelude statements and the query in ONE round trip: Parse/Bind/Execute
 * of each prelude, then (Parse)/Bind/(Describe)/Execute of the query, then of each epilogue statement,
 * then a single Sync. Without an explicit BEGIN the server runs all of them in one implicit
 * transaction, so a transaction-local `set_config` is gone when the Sync completes. With one (a Citus
 * read: `BEGIN READ ONLY`, `SET LOCAL`, the query, and COMMIT as the epilogue) the epilogue ends it.
 * Prelude and epilogue results are swallowed; the caller sees the query's result only. An error
 * anywhere aborts the whole pipeline and rejects the promise (and leaves an explicit transaction
 * failed: see `abortedTransaction`).
 */
export class PipelinedQuery<T = pg.QueryResult> extends QueryBase {
  private pendingPrelude: number;
  private readonly prelude: readonly PreludeStatement[];
  /** Statements after the query, before the Sync (COMMIT of a transaction the prelude began), or none. */
  private readonly epilogue: readonly PreludeStatement[] | undefined;
  private pendingEpilogue: number;
  private mainCompleted = false;
  private connectionRef: WireConnection | undefined;
  private state: ConnectionState | undefined;
  private mainParsedHere = false;
  /** True when this pipeline asked for the row description (so it is remembered on completion). */
  private describedHere = false;
  /** Named prelude statements whose Parse this pipeline sent. */
  private preludeParsedHere: Set<string> | undefined;
  private readonly mainName: string | undefined;
  private readonly shape: ((res: pg.QueryResult) => T) | undefined;
  private resolve!: (r: T | Promise<T>) => void;
  private reject!: (e: Error) => void;
  readonly result: Promise<T>;
  /** Set to send the pipeline once more (on this client) after a stale-plan failure, a deadlock or a
   *  serialization failure; its outcome becomes this query's. */
  retryOn: pg.ClientBase | undefined;
  /** The statement namespace the retry names its statement in: the query's own. Without it a schema
   *  placement's retry would bind the POOLED statement of the text under the schema's search path, which
   *  changes shape as well when both tables changed (a migration synchronized to the schema): the read the
   *  retry exists to save failed, and the pooled statement was re-planned for the schema. */
  retryNamespace: string | undefined;

  constructor(
    prelude: readonly PreludeStatement[],
    text: string,
    values: readonly unknown[],
    name?: string,
    shape?: (res: pg.QueryResult) => T,
    epilogue?: readonly PreludeStatement[],
  ) {
    // Text and values, not a config object: pg copies a config object property by property.
    super(text, values);
    this.result = new Promise<T>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    this.name = name;
    this.prelude = prelude;
    this.mainName = name;
    this.shape = shape;
    this.pendingPrelude = prelude.length;
    this.epilogue = epilogue;
    this.pendingEpilogue = epilogue?.length ?? 0;
    // pg's constructor made `callback` an own property: set it to the shared method (no closure per
    // query); pg always calls it as `query.callback(...)`, so `this` is the query.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    this.callback = this.settle;
  }

  /** pg calls this (as `callback`) once the query is done. */
  private settle(err: Error | null, res?: pg.QueryResult): void {
    if (!err) {
      this.resolve(this.shape ? this.shape(res!) : (res as T));
    } else if (this.retryOn && (isStalePlanError(err) || isConcurrencyFailure(err))) {
      const again = pipelinedQuery(this.retryOn, this.prelude, this.text, this.values ?? [], {
        shape: this.shape,
        namespace: this.retryNamespace,
        epilogue: this.epilogue,
      });
      this.resolve(again);
    } else {
      this.reject(err);
    }
  }

  /** Called by pg when this query's turn comes: writes every message, corked into one send. */
  override submit(connection: WireConnection): Error | null {
    this.connectionRef = connection;
    // Converted before anything is written: a value pg cannot convert fails the query alone, with
    // nothing half-sent on the connection.
    const raw = this.values ?? [];
    const values = new Array<string | Buffer | null>(raw.length);
    try {
      for (let i = 0; i < raw.length; i++) values[i] = prepareValue(raw[i]);
    } catch (err) {
      return err as Error;
    }
    const state = stateOf(connection);
    this.state = state;
    const known = state.prepared;
    const doubt = state.uncertain.size > 0 ? state.uncertain : undefined;
    connection.stream.cork?.();
    try {
      if (state.abortedTransaction) {
        // The previous pipeline left a failed transaction block: end it first. Counted as one more
        // prelude statement (its index, -1, names none: nothing to remember of it).
        state.abortedTransaction = false;
        connection.parse({ text: 'rollback', name: '' });
        connection.bind({ portal: '', statement: '', values: [] });
        connection.execute({ portal: '' });
        this.pendingPrelude += 1;
      }
      this.writeStatements(connection, this.prelude, known, doubt);
      this.writeMain(connection, state, values, doubt);
      if (this.epilogue !== undefined) this.writeStatements(connection, this.epilogue, known, doubt);
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  /** Prelude or epilogue statements: Parse (a named one once per connection), Bind, Execute. */
  private writeStatements(
    connection: WireConnection,
    statements: readonly PreludeStatement[],
    known: Set<string>,
    doubt: Set<string> | undefined,
  ): void {
    for (const stmt of statements) {
      // Without the statement cache the setters' names are not used: parsed unnamed, every time.
      const name = statementCache ? stmt.name : '';
      if (name !== '' && doubt?.has(name)) {
        // Closing a statement that does not exist is not an error, so this makes the state certain.
        connection.close({ type: 'S', name });
        doubt.delete(name);
        known.delete(name);
      }
      // Parsed once per pipeline: the same statement may come twice (two audit events deferred to one
      // COMMIT), and a second Parse of a name would fail with "prepared statement already exists".
      if (name === '' || !(known.has(name) || this.preludeParsedHere?.has(name))) {
        connection.parse({ text: stmt.text, name });
        if (name !== '') (this.preludeParsedHere ??= new Set()).add(name);
      }
      connection.bind({ portal: '', statement: name, values: stmt.values });
      connection.execute({ portal: '' });
    }
  }

  /** The query itself: Parse unless prepared on this connection, Describe unless its result is known. */
  private writeMain(
    connection: WireConnection,
    state: ConnectionState,
    values: (string | Buffer | null)[],
    doubt?: Set<string>,
  ) {
    const name = this.mainName;
    let known: Description | undefined;
    if (name) {
      const descs = state.descriptions;
      if (doubt?.has(name)) {
        // Closing a statement that does not exist is not an error, so this makes the state certain.
        connection.close({ type: 'S', name });
        doubt.delete(name);
        delete connection.parsedStatements[name];
      }
      this.mainParsedHere =
        connection.parsedStatements[name] === undefined &&
        connection.submittedNamedStatements[name] === undefined;
      if (this.mainParsedHere) descs.delete(name);
      else known = descs.get(name);
    }
    if (!name || this.mainParsedHere) {
      connection.parse({ text: this.text, name: name ?? '', types: this.types });
      if (name) connection.submittedNamedStatements[name] = this.text;
    }
    connection.bind({ portal: '', statement: name ?? '', values, binary: this.binary });
    if (known) {
      // What pg's handleRowDescription would do with the answer to Describe, from the remembered one.
      const res = this._result;
      res.fields = known.fields;
      res._parsers = known.parsers;
      res._prebuiltEmptyResultObject = known.emptyRow;
      this._accumulateRows = true;
    } else {
      this.describedHere = true;
      connection.describe({ type: 'P', name: '' });
    }
    connection.execute({ portal: '' });
  }

  override handleRowDescription(msg: unknown): void {
    if (this.pendingPrelude === 0) super.handleRowDescription(msg);
  }

  /** pg's handleDataRow without its per-row 'row' event (nobody listens to a pipelined query). */
  override handleDataRow(msg: { fields: unknown[] }): void {
    if (this.pendingPrelude !== 0 || this._canceledDueToError) return;
    try {
      this._result.rows.push(this._result.parseRow(msg.fields));
    } catch (err) {
      // As pg does: the error is reported once the server has answered the whole pipeline.
      this._canceledDueToError = err as Error;
    }
  }

  override handleCommandComplete(msg: unknown, connection: WireConnection): void {
    if (this.pendingPrelude > 0) {
      // A prelude statement finished, so its Parse (if this pipeline sent one) succeeded: remember it.
      const stmt = this.prelude[this.prelude.length - this.pendingPrelude];
      if (stmt && stmt.name !== '' && this.preludeParsedHere?.has(stmt.name)) {
        (this.state ?? stateOf(connection)).prepared.add(stmt.name);
      }
      this.pendingPrelude -= 1;
      return;
    }
    if (this.mainCompleted) {
      // An epilogue statement (it returns no rows): remember it as the prelude's are.
      const stmt = this.epilogue?.[this.epilogue.length - this.pendingEpilogue];
      if (stmt && stmt.name !== '' && this.preludeParsedHere?.has(stmt.name)) {
        (this.state ?? stateOf(connection)).prepared.add(stmt.name);
      }
      this.pendingEpilogue -= 1;
      return;
    }
    this.mainCompleted = true;
    if (this.describedHere && this.mainName) {
      // Statements without rows (an INSERT without RETURNING) answer Describe with NoData: no fields.
      const res = this._result;
      (this.state ?? stateOf(connection)).descriptions.set(this.mainName, {
        fields: res.fields,
        parsers: res._parsers,
        emptyRow: res._prebuiltEmptyResultObject,
      });
    }
    super.handleCommandComplete(msg, connection);
  }

  override handleError(err: Error, connection: WireConnection): void {
    const conn = this.connectionRef ?? connection;
    const state = this.state ?? stateOf(conn);
    const doubt = state.uncertain;
    const name = this.mainName;
    // If the main statement's Parse was in this failed pipeline, it may not exist; if its tables changed
    // its result shape, it can never run again. Either way: close and re-parse it on the next use.
    if (name && (this.mainParsedHere || isStalePlanError(err))) {
      doubt.add(name);
      delete conn.parsedStatements[name];
      state.descriptions.delete(name);
    }
    // A prelude statement this pipeline parsed but did not complete may or may not exist now: close it and
    // parse it again next time. Statements prepared earlier still exist and stay known.
    const unfinished = this.prelude.slice(Math.max(0, this.prelude.length - this.pendingPrelude));
    if (this.epilogue !== undefined) {
      unfinished.push(...this.epilogue.slice(this.epilogue.length - this.pendingEpilogue));
      // Sent, and not ended by its epilogue: the transaction the prelude began is failed (or still open).
      if (this.pendingEpilogue > 0 && this.state !== undefined) state.abortedTransaction = true;
    }
    for (const stmt of unfinished) {
      if (this.preludeParsedHere?.has(stmt.name)) {
        state.prepared.delete(stmt.name);
        doubt.add(stmt.name);
      }
    }
    super.handleError(err, connection);
  }
}

const MAX_NAMED = 2000;
const names = new Map<string, string>();
/** Statements of schema placements, by schema then text: a budget of their own, so schema placements never
 *  use up the pooled statements' names. Two Map reads of strings whose hash V8 already holds (a schema
 *  placement's namespace and a compiled text are built once), where one key joined per query was hashed
 *  afresh each time (about 0.3 µs per query). */
const namespacedNames = new Map<string, Map<string, string>>();
let namespacedCount = 0;

/**
 * A stable prepared-statement name for a query text, so each connection parses and plans a query
 * once and then only binds it (parse + plan is most of the server's work for a point read). Texts
 * beyond the first MAX_NAMED distinct ones stay unnamed, which bounds server-side memory per connection.
 * None at all without the statement cache (`setStatementCache`): then no row description is remembered
 * either (only named statements' are), so every execution is described afresh.
 */
export function statementName(text: string, namespace?: string): string | undefined {
  if (!statementCache) return undefined;
  if (namespace !== undefined) return namespacedName(text, namespace);
  let name = names.get(text);
  if (name === undefined && names.size < MAX_NAMED) {
    name = `sr_q${names.size}`;
    names.set(text, name);
  }
  return name;
}

/**
 * The name of `text` run under a schema placement's search path. Why not the pooled name: PostgreSQL
 * remembers the search path a statement was planned under and parses and plans it again whenever it runs
 * under another, so one name shared by pooled and schema tenants (or by two schemas) on a connection is
 * re-planned on most executions (a read then costs about twice the PostgreSQL CPU). Beyond MAX_NAMED such
 * names, statements of schema placements stay unnamed.
 */
function namespacedName(text: string, namespace: string): string | undefined {
  let byText = namespacedNames.get(namespace);
  if (byText === undefined) {
    byText = new Map();
    namespacedNames.set(namespace, byText);
  }
  let name = byText.get(text);
  if (name === undefined && namespacedCount < MAX_NAMED) {
    name = `sr_s${namespacedCount++}`;
    byText.set(text, name);
  }
  return name;
}

export interface PipelinedQueryOptions<T> {
  /** Turns pg's result into what the caller returns, in the same promise (no extra `.then`). */
  readonly shape?: (res: pg.QueryResult) => T;
  /** Send the pipeline once more when it failed because the statement's tables changed shape, or because
   *  PostgreSQL failed it to break a deadlock or a serialization conflict with concurrent work. Only for a
   *  pipeline that is a whole implicit transaction (no explicit BEGIN, none open): then nothing of it ran. */
  readonly retryStalePlan?: boolean;
  /** The statement's namespace (a schema placement's schema): see `statementName`. */
  readonly namespace?: string;
  /** Statements sent after the query in the same pipeline, before the Sync: the COMMIT of a transaction
   *  the prelude began (a Citus read, `TenantSetter.readEpilogue`). They must return no rows. If the
   *  pipeline fails before they ran, the connection is left in a failed transaction: the next pipeline on
   *  it starts with ROLLBACK, and a scope ends with `rollBackAborted`. */
  readonly epilogue?: readonly PreludeStatement[];
}

/**
 * Runs `text` with `values` on `client` after the prelude statements, all in one round trip.
 * Returns the query's own result.
 */
export function pipelinedQuery<T = pg.QueryResult>(
  client: pg.ClientBase,
  prelude: readonly PreludeStatement[],
  text: string,
  values: readonly unknown[],
  opts: PipelinedQueryOptions<T> = {},
): Promise<T> {
  const query = new PipelinedQuery<T>(
    prelude,
    text,
    values,
    statementName(text, opts.namespace),
    opts.shape,
    opts.epilogue,
  );
  if (opts.retryStalePlan) {
    query.retryOn = client;
    query.retryNamespace = opts.namespace;
  }
  void client.query(query as unknown as pg.QueryConfig);
  return query.result;
}

/** pg's wire connection of a client (what this module keys its per-connection state by). */
function wireOf(client: pg.ClientBase): object {
  return (client as unknown as { connection: object }).connection;
}

/**
 * True when a pipeline with an epilogue failed on `client` before its epilogue ended the transaction its
 * prelude began: the connection is in a failed transaction block and must not go back to a pool as it is.
 * Known synchronously once the query's promise has settled (pg reports the error before it resolves).
 */
export function inAbortedTransaction(client: pg.ClientBase): boolean {
  return states.get(wireOf(client))?.abortedTransaction === true;
}

/** Ends the failed transaction `inAbortedTransaction` reports (one round trip), if any. */
export async function rollBackAborted(client: pg.ClientBase): Promise<void> {
  const state = states.get(wireOf(client));
  if (state?.abortedTransaction !== true) return;
  state.abortedTransaction = false;
  await client.query('rollback');
}
