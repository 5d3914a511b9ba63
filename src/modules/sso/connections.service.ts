import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { TenantCtx } from '../../platform/tenancy/context.js';
import { isTenantId } from '../../platform/tenancy/context.js';
import type { TenantSealer } from '../../platform/tenant-keys/contract.js';
import type { Permission } from '../../platform/authz/permissions.js';
import { recordAudit } from '../../platform/audit/record.js';
import { uuidv7 } from '../../platform/ids.js';
import { decodeCursor, pageLimit, toPage, type Page } from '../../platform/pagination.js';
import { requestHash, withIdempotency } from '../../platform/idempotency.js';
import * as repo from './sso.repository.js';
import { SsoError, connectionNotFound } from './sso.errors.js';
import type { SsoRoleMapping } from './sso.contract.js';
import type { OidcDiscoveryReport } from './oidc.protocol.js';
import { parseSamlMetadata } from './saml-metadata.js';
import {
  connectionView,
  type ConnectionInput,
  type SsoConnectionView,
  type TestReport,
} from './connection-model.js';
import { assertOwner, refuseApiKey, trustFieldsOf } from './connection-authority.js';

export interface ConnectionsDeps {
  readonly withTenant: WithTenant;
  readonly sealer: TenantSealer;
  readonly rolePermissions: (
    db: TenantDb,
    org: string,
    role: string,
  ) => Promise<readonly Permission[] | null>;
  /** OIDC discovery (checked at create and update, and by "test"). */
  readonly discoverOidc: (issuer: string, clientId: string) => Promise<OidcDiscoveryReport>;
  /** Fetches a SAML metadata URL (https only, bounded): the XML. */
  readonly fetchMetadata: (url: string) => Promise<string>;
  /** The API's public origin, for the SP entity id and ACS URL of SAML connections. */
  readonly publicUrl: string;
  /** Revokes the sessions a connection signed in (deleted or deactivated). */
  readonly revokeSessions: (connectionId: string) => Promise<number>;
  /** After a connection was updated or deleted (drops what this instance cached of it). */
  readonly connectionChanged?: (connectionId: string) => void;
}

const MAX_CONNECTIONS = 20;

export function createConnectionsService(deps: ConnectionsDeps) {
  const { withTenant, sealer } = deps;

  const view = (r: repo.ConnectionRow): SsoConnectionView => connectionView(r, deps.publicUrl);

  async function checkRoles(db: TenantDb, org: string, defaultRole: string, mappings: SsoRoleMapping[]) {
    for (const role of [defaultRole, ...mappings.map((m) => m.role)]) {
      if (role === 'owner') {
        throw new SsoError(
          'SSO_CONNECTION_INVALID',
          'an IdP never grants the owner role (default or mapped)',
        );
      }
      if (!(await deps.rolePermissions(db, org, role))) {
        throw new SsoError('SSO_CONNECTION_INVALID', `unknown role "${role}"`);
      }
    }
  }

  async function samlFields(input: NonNullable<ConnectionInput['saml']>) {
    let xml = input.idpMetadataXml;
    if (!xml && input.idpMetadataUrl) {
      if (!/^https:\/\//i.test(input.idpMetadataUrl)) {
        throw new SsoError('SSO_CONNECTION_INVALID', 'saml.idpMetadataUrl must be an https:// URL');
      }
      xml = await deps.fetchMetadata(input.idpMetadataUrl);
    }
    if (!xml) return null;
    const md = parseSamlMetadata(xml);
    return {
      saml_idp_metadata_xml: xml,
      saml_idp_metadata_url: input.idpMetadataUrl ?? null,
      saml_idp_entity_id: md.entityId,
      saml_idp_sso_url: md.ssoUrl,
      saml_idp_certificates: md.certificates,
    };
  }

  async function load(db: TenantDb, ctx: TenantCtx, id: string, forUpdate = false) {
    if (!isTenantId(id)) throw connectionNotFound();
    const row = await repo.findConnection(db, ctx.tenantId, id, forUpdate);
    if (!row) throw connectionNotFound();
    return row;
  }

  async function insert(ctx: TenantCtx, db: TenantDb, input: ConnectionInput): Promise<SsoConnectionView> {
    const org = ctx.tenantId;
    await assertOwner(db, ctx);
    const count = await db
      .selectFrom('sso_connections')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('organization_id', '=', org)
      .executeTakeFirstOrThrow();
    if (Number(count.n) >= MAX_CONNECTIONS) {
      throw new SsoError(
        'SSO_CONNECTION_INVALID',
        `an organization has at most ${MAX_CONNECTIONS} connections`,
      );
    }
    const kind = input.kind!;
    const defaultRole = input.defaultRole ?? 'member';
    const mappings = input.roleMappings ?? [];
    await checkRoles(db, org, defaultRole, mappings);
    const id = uuidv7();
    let oidcSecret: string | null = null;
    if (kind === 'oidc' && input.oidc?.clientSecret) {
      oidcSecret = await sealer.sealForTenant(db, org, repo.clientSecretBinding(id), input.oidc.clientSecret);
    }
    const saml = kind === 'saml' && input.saml ? await samlFields(input.saml) : null;
    if (kind === 'saml' && !saml) {
      throw new SsoError(
        'SSO_CONNECTION_INVALID',
        'a SAML connection needs saml.idpMetadataXml or saml.idpMetadataUrl',
      );
    }
    const row = await repo.insertConnection(db, {
      organization_id: org,
      id,
      kind,
      name: input.name!,
      status: input.status ?? 'active',
      default_role: defaultRole,
      role_mappings: JSON.stringify(mappings) as unknown as SsoRoleMapping[],
      oidc_issuer: kind === 'oidc' ? input.oidc!.issuer! : null,
      oidc_client_id: kind === 'oidc' ? input.oidc!.clientId! : null,
      oidc_client_secret: oidcSecret,
      ...(input.oidc?.scopes ? { oidc_scopes: input.oidc.scopes } : {}),
      oidc_groups_claim: input.oidc?.groupsClaim ?? null,
      oidc_trust_email: input.oidc?.trustEmail ?? false,
      ...(saml ?? {}),
      saml_want_assertions_signed: input.saml?.wantAssertionsSigned ?? true,
      saml_want_response_signed: input.saml?.wantResponseSigned ?? false,
      saml_allow_idp_initiated: input.saml?.allowIdpInitiated ?? false,
      saml_groups_attribute: input.saml?.groupsAttribute ?? null,
      saml_email_attribute: input.saml?.emailAttribute ?? null,
    });
    await recordAudit(db, ctx, {
      action: 'sso_connection.created',
      target: { type: 'sso_connection', id },
      metadata: { kind, name: row.name, issuer: row.oidc_issuer, idp_entity_id: row.saml_idp_entity_id },
    });
    return view(row);
  }

  return {
    view,

    async list(ctx: TenantCtx, q: { limit?: number; cursor?: string }): Promise<Page<SsoConnectionView>> {
      const limit = pageLimit(q.limit);
      const after = decodeCursor(q.cursor, isTenantId) ?? null;
      return withTenant(
        ctx.tenantId,
        async (db) =>
          toPage(await repo.listConnections(db, ctx.tenantId, after, limit + 1), limit, (r) => r.id, view),
        { mode: 'read' },
      );
    },

    async get(ctx: TenantCtx, id: string): Promise<SsoConnectionView> {
      return withTenant(ctx.tenantId, async (db) => view(await load(db, ctx, id)), { mode: 'read' });
    },

    async create(
      ctx: TenantCtx,
      input: ConnectionInput,
      opts: { idempotencyKey?: string } = {},
    ): Promise<{ connection: SsoConnectionView; replayed: boolean }> {
      // An owner's power (connection-authority.ts): before discovery fetches anything, again in the write.
      await withTenant(ctx.tenantId, (db) => assertOwner(db, ctx), { mode: 'read' });
      if (input.kind === 'oidc') {
        if (!input.oidc?.issuer || !input.oidc.clientId) {
          throw new SsoError(
            'SSO_CONNECTION_INVALID',
            'an OIDC connection needs oidc.issuer and oidc.clientId',
          );
        }
        await deps.discoverOidc(input.oidc.issuer, input.oidc.clientId);
      }
      return withTenant(ctx.tenantId, async (db) => {
        if (!opts.idempotencyKey) return { connection: await insert(ctx, db, input), replayed: false };
        const { clientSecret: _secret, ...oidcRest } = input.oidc ?? {};
        const { result, replayed } = await withIdempotency(
          db,
          ctx.tenantId,
          {
            scope: 'sso.connections.create',
            key: opts.idempotencyKey,
            hash: requestHash({ ...input, oidc: oidcRest }),
          },
          () => insert(ctx, db, input),
        );
        return { connection: result, replayed };
      });
    },

    async update(ctx: TenantCtx, id: string, input: ConnectionInput): Promise<SsoConnectionView> {
      refuseApiKey(ctx);
      const { row, deactivated } = await withTenant(ctx.tenantId, async (db) => {
        const org = ctx.tenantId;
        const cur = await load(db, ctx, id, true);
        if (trustFieldsOf(cur, input).length > 0) await assertOwner(db, ctx);
        const defaultRole = input.defaultRole ?? cur.default_role;
        const mappings = input.roleMappings ?? cur.role_mappings;
        await checkRoles(db, org, defaultRole, mappings);
        const set: Parameters<typeof repo.updateConnection>[3] = {};
        if (input.name !== undefined) set.name = input.name;
        if (input.status !== undefined) set.status = input.status;
        if (input.defaultRole !== undefined) set.default_role = input.defaultRole;
        if (input.roleMappings !== undefined)
          set.role_mappings = JSON.stringify(input.roleMappings) as unknown as SsoRoleMapping[];
        if (cur.kind === 'oidc' && input.oidc) {
          const issuer = input.oidc.issuer ?? cur.oidc_issuer!;
          const clientId = input.oidc.clientId ?? cur.oidc_client_id!;
          if (input.oidc.issuer !== undefined || input.oidc.clientId !== undefined)
            await deps.discoverOidc(issuer, clientId);
          set.oidc_issuer = issuer;
          set.oidc_client_id = clientId;
          if (input.oidc.clientSecret !== undefined) {
            set.oidc_client_secret = input.oidc.clientSecret
              ? await sealer.sealForTenant(db, org, repo.clientSecretBinding(id), input.oidc.clientSecret)
              : null;
          }
          if (input.oidc.scopes !== undefined) set.oidc_scopes = input.oidc.scopes;
          if (input.oidc.groupsClaim !== undefined) set.oidc_groups_claim = input.oidc.groupsClaim;
          if (input.oidc.trustEmail !== undefined) set.oidc_trust_email = input.oidc.trustEmail;
        }
        if (cur.kind === 'saml' && input.saml) {
          Object.assign(set, (await samlFields(input.saml)) ?? {});
          if (input.saml.wantAssertionsSigned !== undefined)
            set.saml_want_assertions_signed = input.saml.wantAssertionsSigned;
          if (input.saml.wantResponseSigned !== undefined)
            set.saml_want_response_signed = input.saml.wantResponseSigned;
          if (input.saml.allowIdpInitiated !== undefined)
            set.saml_allow_idp_initiated = input.saml.allowIdpInitiated;
          if (input.saml.groupsAttribute !== undefined)
            set.saml_groups_attribute = input.saml.groupsAttribute;
          if (input.saml.emailAttribute !== undefined) set.saml_email_attribute = input.saml.emailAttribute;
        }
        const updated = (await repo.updateConnection(db, org, id, set))!;
        const changed = Object.keys(set).filter(
          (k) => k !== 'oidc_client_secret' && k !== 'saml_idp_metadata_xml',
        );
        await recordAudit(db, ctx, {
          action: 'sso_connection.updated',
          target: { type: 'sso_connection', id },
          metadata: {
            fields: [...changed, ...(set.oidc_client_secret !== undefined ? ['oidc_client_secret'] : [])],
          },
        });
        return { row: updated, deactivated: cur.status === 'active' && updated.status === 'inactive' };
      });
      deps.connectionChanged?.(id);
      if (deactivated) await deps.revokeSessions(id);
      return view(row);
    },

    async remove(ctx: TenantCtx, id: string): Promise<void> {
      await withTenant(ctx.tenantId, async (db) => {
        const cur = await load(db, ctx, id, true);
        await repo.deleteConnection(db, ctx.tenantId, id);
        await recordAudit(db, ctx, {
          action: 'sso_connection.deleted',
          target: { type: 'sso_connection', id },
          metadata: { kind: cur.kind, name: cur.name },
        });
      });
      deps.connectionChanged?.(id);
      await deps.revokeSessions(id);
    },

    /** Runs discovery (OIDC) or parses the metadata (SAML) of a stored connection, and says what it found. */
    async test(ctx: TenantCtx, id: string): Promise<TestReport> {
      const row = await withTenant(ctx.tenantId, (db) => load(db, ctx, id), { mode: 'read' });
      try {
        if (row.kind === 'oidc') {
          return {
            ok: true,
            kind: 'oidc',
            oidc: await deps.discoverOidc(row.oidc_issuer!, row.oidc_client_id!),
          };
        }
        const xml = row.saml_idp_metadata_url
          ? await deps.fetchMetadata(row.saml_idp_metadata_url)
          : (row.saml_idp_metadata_xml ?? '');
        const { certificates, ...md } = parseSamlMetadata(xml);
        return { ok: true, kind: 'saml', saml: { ...md, certificateCount: certificates.length } };
      } catch (err) {
        return { ok: false, kind: row.kind, error: err instanceof Error ? err.message : 'failed' };
      }
    },
  };
}

export type ConnectionsService = ReturnType<typeof createConnectionsService>;
