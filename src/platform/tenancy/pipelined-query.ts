import pg from 'pg';

/**
 * A statement sent ahead of the real query in the same network write (for example BEGIN, or
 * `set_config('app.tenant_id', $1, true)`). Its result rows are discarded.
 */
export interface PreludeStatement {
  /** Name of the server-side prepared statement, prepared once per connection and then only bound;
   *  `''` (the unnamed statement) is parsed every time. */
  readonly name: string;
  readonly text: string;
  readonly values: readonly unknown[];
}

/** The shape of a pg connection as far as this module uses it (pg does not export its type). */
interface WireConnection {
  parse(msg: { text: string; name: string; types?: unknown[] }): void;
  bind(msg: { portal: string; statement: string; values: readonly unknown[] }): void;
  execute(msg: { portal: string; rows?: number }): void;
  close(msg: { type: 'S' | 'P'; name: string }): void;
  parsedStatements: Record<string, string>;
  stream: { cork?: () => void; uncork?: () => void };
}

/** Statements already prepared on a given connection, tracked outside pg's own bookkeeping. */
const prepared = new WeakMap<object, Set<string>>();
/** Main statements whose Parse was in a pipeline that failed: they may or may not exist on the server. */
const uncertain = new WeakMap<object, Set<string>>();

/** The parts of pg's (untyped) internal Query protocol this subclass relies on. */
interface QueryInternals {
  submit(connection: WireConnection): Error | null;
  prepare(connection: WireConnection): void;
  handleCommandComplete(msg: unknown, connection: WireConnection): void;
  handleDataRow(msg: unknown): void;
  handleRowDescription(msg: unknown): void;
  handleError(err: Error, connection: WireConnection): void;
  handleReadyForQuery(connection: WireConnection): void;
  callback?: (err: Error | null, res?: pg.QueryResult) => void;
}

const QueryBase = pg.Query as unknown as new (config: pg.QueryConfig) => QueryInternals;

/**
 * A pg submittable that sends prelude statements and the query in ONE round trip: Parse/Bind/Execute
 * of each prelude, then Parse/Bind/Describe/Execute of the query, then a single Sync. Without an
 * explicit BEGIN the server runs all of them in one implicit transaction, so a transaction-local
 * `set_config` is gone when the Sync completes. Prelude results are swallowed; the caller sees the
 * query's result only. An error anywhere aborts the whole pipeline and rejects the promise.
 */
export class PipelinedQuery extends QueryBase {
  private pendingPrelude: number;
  private readonly prelude: readonly PreludeStatement[];
  private connectionRef: WireConnection | undefined;
  private mainParsedHere = false;
  /** Named prelude statements whose Parse this pipeline sent. */
  private readonly preludeParsedHere = new Set<string>();
  private readonly mainName: string | undefined;
  readonly result: Promise<pg.QueryResult>;

  constructor(prelude: readonly PreludeStatement[], text: string, values: readonly unknown[], name?: string) {
    let resolve!: (r: pg.QueryResult) => void;
    let reject!: (e: Error) => void;
    const result = new Promise<pg.QueryResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    super({ text, values: values as unknown[], queryMode: 'extended', name } as pg.QueryConfig);
    this.prelude = prelude;
    this.mainName = name;
    this.pendingPrelude = prelude.length;
    this.result = result;
    this.callback = (err, res) => (err ? reject(err) : resolve(res as pg.QueryResult));
  }

  /** Called by pg when this query's turn comes: writes every message, corked into one send. */
  override submit(connection: WireConnection): Error | null {
    this.connectionRef = connection;
    let known = prepared.get(connection);
    if (!known) {
      known = new Set();
      prepared.set(connection, known);
    }
    connection.stream.cork?.();
    try {
      const doubt = uncertain.get(connection);
      for (const stmt of this.prelude) {
        if (stmt.name !== '' && doubt?.has(stmt.name)) {
          // Closing a statement that does not exist is not an error, so this makes the state certain.
          connection.close({ type: 'S', name: stmt.name });
          doubt.delete(stmt.name);
          known.delete(stmt.name);
        }
        if (stmt.name === '' || !known.has(stmt.name)) {
          connection.parse({ text: stmt.text, name: stmt.name });
          if (stmt.name !== '') this.preludeParsedHere.add(stmt.name);
        }
        connection.bind({ portal: '', statement: stmt.name, values: stmt.values });
        connection.execute({ portal: '' });
      }
      const name = this.mainName;
      if (name) {
        if (doubt?.has(name)) {
          // Closing a statement that does not exist is not an error, so this makes the state certain.
          connection.close({ type: 'S', name });
          doubt.delete(name);
          delete connection.parsedStatements[name];
        }
        this.mainParsedHere = connection.parsedStatements[name] === undefined;
      }
      this.prepare(connection);
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  override handleRowDescription(msg: unknown): void {
    if (this.pendingPrelude === 0) super.handleRowDescription(msg);
  }

  override handleDataRow(msg: unknown): void {
    if (this.pendingPrelude === 0) super.handleDataRow(msg);
  }

  override handleCommandComplete(msg: unknown, connection: WireConnection): void {
    if (this.pendingPrelude > 0) {
      // A prelude statement finished, so its Parse (if any) succeeded: remember it as prepared.
      const stmt = this.prelude[this.prelude.length - this.pendingPrelude];
      if (stmt && stmt.name !== '') prepared.get(connection)?.add(stmt.name);
      this.pendingPrelude -= 1;
      return;
    }
    super.handleCommandComplete(msg, connection);
  }

  override handleError(err: Error, connection: WireConnection): void {
    // If the main statement's Parse was in this failed pipeline, it may not exist: close and re-parse
    // it on the next use.
    const conn = this.connectionRef ?? connection;
    let doubt = uncertain.get(conn);
    if (!doubt) {
      doubt = new Set();
      uncertain.set(conn, doubt);
    }
    if (this.mainName && this.mainParsedHere) {
      doubt.add(this.mainName);
      delete conn.parsedStatements[this.mainName];
    }
    // A prelude statement this pipeline parsed but did not complete may or may not exist now: close it and
    // parse it again next time. Statements prepared earlier still exist and stay known.
    const known = prepared.get(conn);
    for (const stmt of this.prelude.slice(this.prelude.length - this.pendingPrelude)) {
      if (this.preludeParsedHere.has(stmt.name)) {
        known?.delete(stmt.name);
        doubt.add(stmt.name);
      }
    }
    super.handleError(err, connection);
  }
}

const MAX_NAMED = 2000;
const names = new Map<string, string>();

/**
 * A stable prepared-statement name for a query text, so each connection parses and plans a query
 * once and then only binds it (parse + plan is most of the server's work for a point read). Texts
 * beyond the first MAX_NAMED distinct ones stay unnamed, which bounds server-side memory per connection.
 */
export function statementName(text: string): string | undefined {
  let name = names.get(text);
  if (name === undefined && names.size < MAX_NAMED) {
    name = `sr_q${names.size}`;
    names.set(text, name);
  }
  return name;
}

/**
 * Runs `text` with `values` on `client` after the prelude statements, all in one round trip.
 * Returns the query's own result.
 */
export function pipelinedQuery(
  client: pg.ClientBase,
  prelude: readonly PreludeStatement[],
  text: string,
  values: readonly unknown[],
): Promise<pg.QueryResult> {
  const query = new PipelinedQuery(prelude, text, values, statementName(text));
  void client.query(query as unknown as pg.QueryConfig);
  return query.result;
}
