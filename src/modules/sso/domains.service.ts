import { randomBytes } from 'node:crypto';
import { resolveTxt } from 'node:dns/promises';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import { recordAudit } from '../../platform/audit/record.js';
import { decodeCursor, pageLimit, toPage, type Page } from '../../platform/pagination.js';
import * as repo from './sso.repository.js';
import { SsoError, domainNotFound } from './sso.errors.js';

/** The TXT record name: `_saasready-verification.<domain>`. */
export const TXT_PREFIX = '_saasready-verification';
/** Consecutive failed re-verifications after which a verified domain is unverified (docs/sso.md). */
export const MAX_FAILED_CHECKS = 3;

/** Mail domains anyone can have an address at: never verifiable by one organization. */
export const PUBLIC_MAIL_DOMAINS: ReadonlySet<string> = new Set([
  'gmail.com',
  'googlemail.com',
  'outlook.com',
  'hotmail.com',
  'hotmail.co.uk',
  'live.com',
  'msn.com',
  'yahoo.com',
  'yahoo.co.uk',
  'yahoo.fr',
  'ymail.com',
  'icloud.com',
  'me.com',
  'mac.com',
  'aol.com',
  'proton.me',
  'protonmail.com',
  'pm.me',
  'gmx.com',
  'gmx.de',
  'gmx.net',
  'web.de',
  'mail.com',
  'yandex.com',
  'yandex.ru',
  'mail.ru',
  'zoho.com',
  'fastmail.com',
  'tutanota.com',
  'qq.com',
  '163.com',
  'orange.fr',
  'free.fr',
  'laposte.net',
  'hey.com',
]);

const DOMAIN_RE = /^(?=.{3,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

/** TXT lookup (node:dns/promises by default; a fake in tests). */
export type TxtResolver = (name: string) => Promise<string[][]>;

export interface DomainView {
  domain: string;
  status: 'pending' | 'verified';
  /** The TXT record to publish: name and value. */
  txtRecord: { name: string; value: string };
  verifiedAt: string | null;
  lastCheckedAt: string | null;
  failedChecks: number;
  createdAt: string;
}

export interface DomainsDeps {
  readonly withTenant: WithTenant;
  readonly resolveTxt?: TxtResolver;
}

export function normalizeDomain(raw: string): string {
  const d = raw.trim().toLowerCase().replace(/\.$/, '');
  if (!DOMAIN_RE.test(d))
    throw new SsoError('SSO_DOMAIN_INVALID', 'domain must be a DNS name like example.com');
  return d;
}

export function createDomainsService(deps: DomainsDeps) {
  const { withTenant } = deps;
  const resolve: TxtResolver = deps.resolveTxt ?? ((name) => resolveTxt(name));

  const view = (r: repo.DomainRow): DomainView => ({
    domain: r.domain,
    status: r.status,
    txtRecord: { name: `${TXT_PREFIX}.${r.domain}`, value: r.verification_token },
    verifiedAt: r.verified_at?.toISOString() ?? null,
    lastCheckedAt: r.last_checked_at?.toISOString() ?? null,
    failedChecks: r.failed_checks,
    createdAt: r.created_at.toISOString(),
  });

  /** Whether the TXT record holds the token (a DNS failure is "not found", never an error). */
  async function published(domain: string, token: string): Promise<boolean> {
    try {
      const records = await resolve(`${TXT_PREFIX}.${domain}`);
      return records.some((chunks) => chunks.join('') === token);
    } catch {
      return false;
    }
  }

  return {
    view,

    async list(ctx: TenantCtx, q: { limit?: number; cursor?: string }): Promise<Page<DomainView>> {
      const limit = pageLimit(q.limit);
      const after = decodeCursor(q.cursor, (k) => DOMAIN_RE.test(k)) ?? null;
      return withTenant(
        ctx.tenantId,
        async (db) =>
          toPage(await repo.listDomains(db, ctx.tenantId, after, limit + 1), limit, (r) => r.domain, view),
        { mode: 'read' },
      );
    },

    async add(ctx: TenantCtx, raw: string): Promise<{ domain: DomainView; created: boolean }> {
      const domain = normalizeDomain(raw);
      if (PUBLIC_MAIL_DOMAINS.has(domain)) {
        throw new SsoError('SSO_DOMAIN_PUBLIC', `${domain} is a public mail domain and cannot be verified`);
      }
      return withTenant(ctx.tenantId, async (db) => {
        // Adding the same domain again answers the existing one (a retried request creates nothing).
        const existing = await repo.findDomain(db, ctx.tenantId, domain);
        if (existing) return { domain: view(existing), created: false };
        const token = `saasready-verification=${randomBytes(24).toString('base64url')}`;
        const row = await repo.insertDomain(db, ctx.tenantId, domain, token);
        await recordAudit(db, ctx, { action: 'sso_domain.added', target: { type: 'domain', id: domain } });
        return { domain: view(row), created: true };
      });
    },

    /** Checks the TXT record now; verified, the domain is claimed for this organization alone. */
    async verify(ctx: TenantCtx, raw: string): Promise<DomainView> {
      const domain = normalizeDomain(raw);
      const row = await withTenant(ctx.tenantId, (db) => repo.findDomain(db, ctx.tenantId, domain), {
        mode: 'read',
      });
      if (!row) throw domainNotFound();
      const ok = await published(domain, row.verification_token);
      return withTenant(ctx.tenantId, async (db) => {
        const cur = await repo.findDomain(db, ctx.tenantId, domain, true);
        if (!cur) throw domainNotFound();
        if (!ok) {
          await db
            .updateTable('organization_domains')
            .set({ last_checked_at: new Date() })
            .where('organization_id', '=', ctx.tenantId)
            .where('domain', '=', domain)
            .execute();
          throw new SsoError(
            'SSO_DOMAIN_NOT_VERIFIED',
            `the TXT record ${TXT_PREFIX}.${domain} does not hold the verification value yet`,
          );
        }
        if (!(await repo.markVerified(db, ctx.tenantId, domain))) {
          throw new SsoError('SSO_DOMAIN_TAKEN', `${domain} is already verified by another organization`);
        }
        if (cur.status !== 'verified') {
          await recordAudit(db, ctx, {
            action: 'sso_domain.verified',
            target: { type: 'domain', id: domain },
          });
        }
        return view((await repo.findDomain(db, ctx.tenantId, domain))!);
      });
    },

    async remove(ctx: TenantCtx, raw: string): Promise<void> {
      const domain = normalizeDomain(raw);
      await withTenant(ctx.tenantId, async (db) => {
        if (!(await repo.deleteDomain(db, ctx.tenantId, domain))) throw domainNotFound();
        await recordAudit(db, ctx, { action: 'sso_domain.removed', target: { type: 'domain', id: domain } });
      });
    },

    /**
     * The periodic re-verification of one organization's verified domains (the scheduled job): a domain
     * whose record is gone MAX_FAILED_CHECKS times in a row is unverified (`sso_domain.lost`).
     */
    async recheck(ctx: TenantCtx): Promise<{ checked: number; lost: string[] }> {
      const rows = await withTenant(
        ctx.tenantId,
        (db) =>
          db
            .selectFrom('organization_domains')
            .selectAll()
            .where('organization_id', '=', ctx.tenantId)
            .where('status', '=', 'verified')
            .execute(),
        { mode: 'read' },
      );
      const lost: string[] = [];
      for (const r of rows) {
        const ok = await published(r.domain, r.verification_token);
        await withTenant(ctx.tenantId, async (db) => {
          if (ok) {
            await repo.markVerified(db, ctx.tenantId, r.domain);
            return;
          }
          const unverify = r.failed_checks + 1 >= MAX_FAILED_CHECKS;
          await repo.markCheckFailed(db, ctx.tenantId, r.domain, unverify);
          if (unverify) {
            lost.push(r.domain);
            await recordAudit(db, ctx, {
              action: 'sso_domain.lost',
              target: { type: 'domain', id: r.domain },
              metadata: { failed_checks: MAX_FAILED_CHECKS },
            });
          }
        });
      }
      return { checked: rows.length, lost };
    },
  };
}

export type DomainsService = ReturnType<typeof createDomainsService>;
