import { createAuditService } from '../../modules/audit/audit.service.js';
import { createAuditExportLimit, createAuditVerifyLimit } from '../../modules/audit/audit-verify-limit.js';
import { createPlatformAuditService } from '../../modules/audit/platform-audit.service.js';
import { createAuditSigner, createAuditVerifier, publicKeyOf } from '../../platform/audit/signing.js';
import type { Caches } from './caches.js';
import type { ServiceDeps } from './deps.js';

/** The audit logs: each organization's signed chains and the platform's own. */
export function createAuditLogs(deps: ServiceDeps, { userKeys }: Caches) {
  const { tenancy, platformDb, opts } = deps;
  const { withTenant } = tenancy;
  const auditSigner = createAuditSigner(opts.secrets.auditKey);
  const audit = createAuditService({
    withTenant,
    signer: auditSigner,
    verifier: createAuditVerifier([
      auditSigner.publicKey,
      ...(opts.auditRetiredKeys ?? []).map((k) => ({ keyId: k.kid, jwk: k.jwk })),
    ]),
    retiredKeys: (opts.auditRetiredKeys ?? []).map((k) => publicKeyOf(k.kid, k.jwk)),
    userKeys,
    verifyLimit: createAuditVerifyLimit(),
    exportLimit: createAuditExportLimit(),
  });
  return {
    audit,
    platformAudit: createPlatformAuditService({ db: platformDb, userKeys }),
  };
}
