/**
 * The baseline server of bench/http-read.ts, run in a process of its own: Fastify + pg reading a
 * project by organization and id as the superuser (no authentication, no tenancy, no RLS, no logging),
 * with the app's pool size and the app's response schema and JSON shape. Two routes differ only in how
 * the statement reaches PostgreSQL:
 *   GET /bare/projects/:org/:id           an unnamed statement (parsed and planned on every query)
 *   GET /bare-prepared/projects/:org/:id  a named prepared statement (parsed once per connection)
 * Environment: BARE_DATABASE_URL (superuser, the benchmark's database), BARE_POOL, BARE_PORT.
 */
import Fastify from 'fastify';
import pg from 'pg';

const url = process.env.BARE_DATABASE_URL;
if (!url) throw new Error('BARE_DATABASE_URL is required');
const poolSize = Number(process.env.BARE_POOL ?? 10);
const port = Number(process.env.BARE_PORT ?? 0);

// The app reads the row with `select *` (Kysely's selectAll) and the same two filters.
const SQL = 'select * from projects where organization_id = $1 and id = $2';

interface ProjectRow {
  id: string;
  name: string;
  description: string | null;
  created_at: Date;
  updated_at: Date;
}

/** The app's `Project` response schema (src/modules/projects/projects.routes.ts), as plain JSON Schema. */
const Project = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    name: { type: 'string' },
    description: { anyOf: [{ type: 'string' }, { type: 'null' }] },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'name', 'description', 'createdAt', 'updatedAt'],
} as const;

// Idle connections are kept as long as the app's pool keeps them, so no round pays for reconnecting.
const pool = new pg.Pool({ connectionString: url, max: poolSize, idleTimeoutMillis: 30_000 });
const app = Fastify({ logger: false });

type Params = { Params: { org: string; id: string } };
const schema = { response: { 200: Project } };
const toProject = (r: ProjectRow) => ({
  id: r.id,
  name: r.name,
  description: r.description,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});
const notFound = { error: { code: 'PROJECT_NOT_FOUND', message: 'project not found' } };

app.get<Params>('/bare/projects/:org/:id', { schema }, async (req, reply) => {
  const res = await pool.query<ProjectRow>(SQL, [req.params.org, req.params.id]);
  const row = res.rows[0];
  return row ? toProject(row) : reply.status(404).send(notFound);
});

app.get<Params>('/bare-prepared/projects/:org/:id', { schema }, async (req, reply) => {
  const res = await pool.query<ProjectRow>({
    name: 'bare-project-by-id',
    text: SQL,
    values: [req.params.org, req.params.id],
  });
  const row = res.rows[0];
  return row ? toProject(row) : reply.status(404).send(notFound);
});

app.get('/bare/ready', async () => ({ ok: true }));

const stop = () => {
  void app
    .close()
    .then(() => pool.end())
    .finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
await app.listen({ host: '127.0.0.1', port });
