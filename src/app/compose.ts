import type { Logger } from 'pino';
import type pg from 'pg';
import { createHttpServer, type App } from '../platform/http/server.js';
import { denyAllAuthenticator, type Authenticator } from '../platform/http/auth.js';
import { registerHealthRoutes } from '../platform/http/health.routes.js';
import { migrationsCurrent } from '../platform/db/migrate.js';
import { createTenancy, type Tenancy } from '../platform/tenancy/tenancy.js';
import { createCache } from '../platform/cache/create-cache.js';
import type { Cache } from '../platform/cache/cache.js';
import { createProjectsService, type ProjectsService } from '../modules/projects/projects.service.js';
import { registerProjectsRoutes } from '../modules/projects/projects.routes.js';
import {
  createOrganizationsService,
  type OrganizationsService,
} from '../modules/organizations/organizations.service.js';

export interface ComposeOptions {
  readonly databaseUrl: string;
  readonly poolSize: number;
  readonly log: Logger;
  readonly bodyLimitBytes: number;
  readonly trustProxy: false | string[];
  readonly redisUrl?: string;
  readonly version: string;
  /** Authentication and tenant resolution; until the identity module lands, nothing is accepted. */
  readonly authenticator?: Authenticator;
}

/** Everything the process runs, wired once. Services get only the dependencies they use. */
export interface Composition {
  readonly app: App;
  readonly tenancy: Tenancy;
  readonly cache: Cache;
  readonly services: { readonly projects: ProjectsService; readonly organizations: OrganizationsService };
  /** Closes pools and connections (after the HTTP server has stopped). */
  close(): Promise<void>;
}

/** The composition root: builds the tenancy core, the services and the HTTP server. */
export async function compose(opts: ComposeOptions): Promise<Composition> {
  const tenancy = createTenancy({ url: opts.databaseUrl, poolSize: opts.poolSize, log: opts.log });
  const cache = createCache({ redisUrl: opts.redisUrl });
  const services = {
    projects: createProjectsService({ withTenant: tenancy.withTenant }),
    organizations: createOrganizationsService({ withTenant: tenancy.withTenant }),
  };

  const app = await createHttpServer({
    log: opts.log,
    bodyLimitBytes: opts.bodyLimitBytes,
    trustProxy: opts.trustProxy,
    authenticator: opts.authenticator ?? denyAllAuthenticator,
    version: opts.version,
  });
  const pool: pg.Pool = tenancy.control.pool;
  registerHealthRoutes(app, {
    ready: async () => {
      await pool.query('select 1');
      return { database: true, migrations: await migrationsCurrent(pool) };
    },
  });
  registerProjectsRoutes(app, { projects: services.projects });
  await app.ready();

  return {
    app,
    tenancy,
    cache,
    services,
    async close() {
      await cache.close();
      await tenancy.close();
    },
  };
}
