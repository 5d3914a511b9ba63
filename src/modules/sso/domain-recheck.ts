import type pg from 'pg';
import type { Logger } from 'pino';
import { systemCtx } from '../../platform/tenancy/context.js';
import type { DomainsService } from './domains.service.js';

export const DOMAIN_RECHECK_TASK = 'sso_domain_recheck';
/** Daily at 03:17 UTC: each verified domain's TXT record is checked again (docs/sso.md). */
export const DOMAIN_RECHECK_CRONTAB = `17 3 * * * ${DOMAIN_RECHECK_TASK}\n`;

/**
 * The scheduled re-verification: the organizations holding a verified domain (the worker role's scan,
 * `worker_api.app_priv_sso_domain_organizations`), then each one's domains checked in its own scope.
 */
export async function recheckVerifiedDomains(deps: {
  workerPool: pg.Pool;
  domains: DomainsService;
  log?: Logger;
}): Promise<{ organizations: number; lost: number }> {
  let after: string | null = null;
  let organizations = 0;
  let lost = 0;
  for (;;) {
    const res: pg.QueryResult<{ id: string }> = await deps.workerPool.query(
      'select id from worker_api.app_priv_sso_domain_organizations($1, 100) as id',
      [after],
    );
    for (const { id } of res.rows) {
      try {
        const r = await deps.domains.recheck(systemCtx(id, DOMAIN_RECHECK_TASK));
        organizations += 1;
        lost += r.lost.length;
      } catch (err) {
        deps.log?.error({ err, tenant_id: id }, 'verified domain re-check failed');
      }
    }
    if (res.rows.length < 100) break;
    after = res.rows[res.rows.length - 1]!.id;
  }
  deps.log?.info({ organizations, lost }, 'verified domains re-checked');
  return { organizations, lost };
}
