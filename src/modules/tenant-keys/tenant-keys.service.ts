import type { PlatformDb } from '../../platform/db/platform-db.js';
import { recordAudit } from '../../platform/audit/record.js';
import {
  platformSessionToken,
  recordPlatformAudit,
  type PlatformActor,
} from '../../platform/audit/platform-record.js';
import { isTenantId, type TenantCtx } from '../../platform/tenancy/context.js';
import { withPlatformScope } from '../../platform/tenancy/platform-scope.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { KeyVault } from '../../platform/tenant-keys/key-vault.js';
import type { KeyRotation } from '../../platform/tenant-keys/rotation.js';
import { loadActor } from '../memberships/actor.js';
import { enqueueReencryption, enqueueRewrap } from './tenant-keys.jobs.js';
import { organizationNotFound, TenantKeysError } from './tenant-keys.errors.js';

/** An organization's data key versions (never any key material). */
export interface OrganizationKeys {
  readonly versions: { version: number; state: 'active' | 'retired' | 'destroyed' }[];
  /** Some retired version still awaits its values' re-encryption (the job runs in the background). */
  readonly reencryptionPending: boolean;
  /**
   * Sealed values the re-encryption could not open under the key version they name (altered or
   * corrupted): skipped, not retried; the most recently seen 50 are listed.
   */
  readonly unreadableValues: {
    count: number;
    values: {
      table: string;
      column: string;
      rowId: string;
      keyVersion: number | null;
      firstSeenAt: string;
      lastSeenAt: string;
    }[];
  };
}

/** Where the KEK rotation stands: live data keys, and how many are wrapped by the current KEK. */
export interface KekRotationStatus {
  readonly provider: string;
  readonly currentKekId: string;
  readonly total: number;
  readonly done: number;
}

export interface TenantKeysService {
  /** The organization's key versions (any member with `org:read`). */
  keys(ctx: TenantCtx): Promise<OrganizationKeys>;
  /**
   * Owner (`org:delete`): a new data key version, active at once; the re-encryption job is queued and
   * `organization.data_key_rotated` audited in the same transaction.
   */
  rotate(ctx: TenantCtx): Promise<OrganizationKeys>;
  /** The same, by a platform administrator (audited in the organization's chain, `via: platform`). */
  rotateAsPlatform(by: PlatformActor, orgId: string): Promise<OrganizationKeys>;
  kekStatus(): Promise<KekRotationStatus>;
  /** Queues the KEK re-wrap job; audited in the platform chain (`platform.kek_rotation_started`). */
  startKekRotation(by: PlatformActor): Promise<KekRotationStatus>;
}

export function createTenantKeysService(deps: {
  withTenant: WithTenant;
  platformDb: PlatformDb;
  vault: KeyVault;
  rotation: KeyRotation;
}): TenantKeysService {
  const { withTenant, vault, rotation } = deps;

  async function view(orgId: string): Promise<OrganizationKeys> {
    const versions = (await vault.versions(orgId)).map((v) => ({ version: v.version, state: v.state }));
    const unreadable = await rotation.unreadableValues(orgId);
    return {
      versions,
      reencryptionPending: versions.some((v) => v.state === 'retired'),
      unreadableValues: {
        count: unreadable.count,
        values: unreadable.values.map((v) => ({
          ...v,
          firstSeenAt: v.firstSeenAt.toISOString(),
          lastSeenAt: v.lastSeenAt.toISOString(),
        })),
      },
    };
  }

  async function rotateIn(db: TenantDb, ctx: TenantCtx, via: 'owner' | 'platform'): Promise<void> {
    const before = (await vault.versions(ctx.tenantId)).find((v) => v.state === 'active')?.version ?? null;
    const { version } = await rotation.rotateOrganizationKey(ctx.tenantId);
    await recordAudit(db, ctx, {
      action: 'organization.data_key_rotated',
      target: { type: 'organization', id: ctx.tenantId },
      changes: { before: { active_version: before }, after: { active_version: version } },
      metadata: { via },
    });
    await enqueueReencryption(db, ctx.tenantId);
  }

  return {
    async keys(ctx) {
      return view(ctx.tenantId);
    },

    async rotate(ctx) {
      await withTenant(ctx.tenantId, async (db) => {
        if (ctx.actor.kind !== 'user') {
          throw new TenantKeysError(
            'TENANT_KEYS_FORBIDDEN',
            'only an owner, signed in, rotates the data key',
          );
        }
        await loadActor(db, ctx, 'org:delete');
        await rotateIn(db, ctx, 'owner');
      });
      return view(ctx.tenantId);
    },

    async rotateAsPlatform(by, orgId) {
      if (!isTenantId(orgId)) throw organizationNotFound();
      const ctx: TenantCtx = { tenantId: orgId, actor: by.actor, requestId: by.requestId };
      await withTenant(orgId, async (db) => {
        const org = await db
          .selectFrom('organizations')
          .select('id')
          .where('id', '=', orgId)
          .executeTakeFirst();
        if (!org) throw organizationNotFound();
        await rotateIn(db, ctx, 'platform');
      });
      return view(orgId);
    },

    async kekStatus() {
      return rotation.kekProgress();
    },

    async startKekRotation(by) {
      const status = await rotation.kekProgress();
      await withPlatformScope(deps.platformDb, platformSessionToken(by), async (scope) => {
        await recordPlatformAudit(scope, by, {
          action: 'platform.kek_rotation_started',
          target: { type: 'kek', id: status.currentKekId },
          changes: {
            before: null,
            after: { provider: status.provider, total: status.total, done: status.done },
          },
        });
        await enqueueRewrap(scope);
      });
      return status;
    },
  };
}
