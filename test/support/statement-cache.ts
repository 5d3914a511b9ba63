import { setStatementCache } from '../../src/platform/tenancy/pipelined-query.js';

// A vitest setup file: what main.ts does with DB_STATEMENT_CACHE, for every test process. A run whose
// runtime URL goes through a transaction-pooling PgBouncer (TEST_VIA_PGBOUNCER, global-setup.ts) sets it
// to `off`; tests that build their own app or tenancy core then send every statement unnamed too.
if (process.env.DB_STATEMENT_CACHE === 'off') setStatementCache(false);
