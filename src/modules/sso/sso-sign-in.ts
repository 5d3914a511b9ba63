import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { uuidv7 } from '../../platform/ids.js';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { TenantDb } from '../../platform/tenancy/tenant-database.js';
import type { TenantSealer } from '../../platform/tenant-keys/contract.js';
import type { SsoConnectionRow, SsoPrivilegedOps } from '../../platform/tenancy/privileged-sso.js';
import { recordAudit } from '../../platform/audit/record.js';
import { isTenantId, userActingIn } from '../../platform/tenancy/context.js';
import type { Permission } from '../../platform/authz/permissions.js';
import type { SessionService } from '../auth/sessions.types.js';
import { claimProvenAddress } from '../auth/address-claim.js';
import { normalizeEmail, parseEmail } from '../auth/email-address.js';
import type {
  SsoConnectionForSignIn,
  SsoFlowStart,
  SsoProfile,
  SsoProtocols,
  SsoRoleMapping,
  SsoSignIn,
  SsoSignInResult,
} from './sso.contract.js';
import * as repo from './sso.repository.js';
import { SsoError } from './sso.errors.js';
import type { SeatCheck } from '../plans/seats.js';

/** How long a started sign-in may take at the IdP. */
export const FLOW_TTL_MS = 10 * 60_000;

export interface SsoSignInDeps {
  readonly db: PlatformDb;
  readonly withTenant: WithTenant;
  readonly sessions: SessionService;
  readonly sealer: TenantSealer;
  readonly privileged: SsoPrivilegedOps;
  readonly protocols: SsoProtocols;
  readonly rolePermissions: (
    db: TenantDb,
    org: string,
    role: string,
  ) => Promise<readonly Permission[] | null>;
  /** After a membership was created or changed (the membership cache of every instance). */
  readonly membershipChanged: (orgId: string, userId: string) => void;
  /** The plan's seat limit (src/modules/plans/seats.ts): JIT takes a seat as an invitation does. */
  readonly seats?: SeatCheck;
  readonly log?: Logger;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/**
 * The key a flow is stored under: the hash of its state AND of the random value of the browser that
 * started it (the `sr_sso` cookie). A state presented by another browser (login CSRF: an attacker starts
 * a sign-in, then has the victim's browser finish it) finds no flow.
 */
const flowKey = (flowId: string, browserToken: string) => sha256(`${flowId}.${browserToken}`);
const validToken = (t: unknown): t is string => typeof t === 'string' && t.length >= 20 && t.length <= 100;

/**
 * A same-origin path to land on after the sign-in ('/' for anything else). Printable ASCII only: browsers
 * drop tabs and newlines from a URL, so `/<TAB>/evil.example` would become `//evil.example` (another
 * host) once the browser follows a relative redirect.
 */
export function safeReturnTo(raw: string | undefined | null): string {
  if (!raw || !raw.startsWith('/') || raw.startsWith('//') || raw.length > 1000) return '/';
  if (!/^\/[\x21-\x7e]*$/.test(raw) || raw.includes('\\')) return '/';
  return raw;
}

/** The domain of an address (lower case), or null. */
export function emailDomain(email: string): string | null {
  const at = email.lastIndexOf('@');
  return at > 0 ? email.slice(at + 1).toLowerCase() : null;
}

/**
 * The role the IdP's groups give: the mapped role with the most permissions among the matching mappings,
 * else the connection's default role. A mapping never grants `owner` (refused when mappings are saved and
 * ignored here): owners are named inside the product, never by an IdP group.
 */
export async function mappedRole(
  db: TenantDb,
  org: string,
  deps: Pick<SsoSignInDeps, 'rolePermissions'>,
  mappings: readonly SsoRoleMapping[],
  groups: readonly string[],
  defaultRole: string,
): Promise<string> {
  const have = new Set(groups);
  let best: { role: string; weight: number } | null = null;
  for (const m of mappings) {
    if (!have.has(m.value) || m.role === 'owner') continue;
    const perms = await deps.rolePermissions(db, org, m.role);
    if (!perms) continue;
    if (!best || perms.length > best.weight) best = { role: m.role, weight: perms.length };
  }
  return best?.role ?? defaultRole;
}

export function toConnectionForSignIn(
  row: SsoConnectionRow,
  open: () => Promise<string | null>,
): SsoConnectionForSignIn {
  return {
    id: row.id,
    organizationId: row.organization_id,
    kind: row.kind,
    name: row.name,
    status: row.status,
    defaultRole: row.default_role,
    roleMappings: row.role_mappings,
    oidc: {
      issuer: row.oidc_issuer,
      clientId: row.oidc_client_id,
      scopes: row.oidc_scopes,
      groupsClaim: row.oidc_groups_claim,
      trustEmail: row.oidc_trust_email,
    },
    saml: {
      idpMetadataXml: row.saml_idp_metadata_xml,
      idpMetadataUrl: row.saml_idp_metadata_url,
      idpEntityId: row.saml_idp_entity_id,
      idpSsoUrl: row.saml_idp_sso_url,
      idpCertificates: row.saml_idp_certificates,
      wantAssertionsSigned: row.saml_want_assertions_signed,
      wantResponseSigned: row.saml_want_response_signed,
      allowIdpInitiated: row.saml_allow_idp_initiated,
      groupsAttribute: row.saml_groups_attribute,
      emailAttribute: row.saml_email_attribute,
    },
    openClientSecret: open,
  };
}

/**
 * The core of an SSO sign-in: starting one (a single-use flow row, then the protocol's redirect),
 * and completing one (JIT provisioning and the session) once a protocol verified the IdP's answer.
 */
export function createSsoSignIn(deps: SsoSignInDeps) {
  const { db, withTenant, sessions, sealer, privileged, log } = deps;

  async function connectionForSignIn(connectionId: string): Promise<SsoConnectionForSignIn | null> {
    if (!isTenantId(connectionId)) return null;
    const row = await privileged.connectionForSignIn(connectionId);
    if (!row || row.status !== 'active') return null;
    const org = row.organization_id;
    return toConnectionForSignIn(row, async () => {
      if (!row.oidc_client_secret) return null;
      const sealed = row.oidc_client_secret;
      return withTenant(org, async (tdb) =>
        (await sealer.openForTenant(tdb, org, repo.clientSecretBinding(row.id), sealed)).toString('utf8'),
      );
    });
  }

  /** Takes a flow once; only with the browser value of the browser that started it. */
  async function consumeFlow(flowId: string, browserToken: string | null) {
    if (!validToken(flowId) || !validToken(browserToken)) return null;
    const row = await db
      .deleteFrom('sso_flows')
      .where('state_hash', '=', flowKey(flowId, browserToken))
      .returningAll()
      .executeTakeFirst();
    if (!row || row.expires_at.getTime() <= Date.now()) return null;
    return {
      flowId,
      connectionId: row.connection_id,
      nonce: row.nonce,
      codeVerifier: row.code_verifier ?? '',
      returnTo: row.return_to,
    };
  }

  /**
   * Starts an SP-initiated sign-in with an active connection: the flow row, then the IdP's URL, and the
   * random value the caller sets in the starting browser's cookie (the flow is found only with it).
   */
  async function start(
    connectionId: string,
    returnTo: string,
  ): Promise<{ redirectUrl: string; browserToken: string; kind: SsoConnectionForSignIn['kind'] }> {
    const connection = await connectionForSignIn(connectionId);
    const protocol = connection && deps.protocols.get(connection.kind);
    if (!connection || !protocol) {
      throw new SsoError('SSO_NOT_CONFIGURED', 'no single sign-on is configured for this address');
    }
    const flow: SsoFlowStart = {
      flowId: randomBytes(32).toString('base64url'),
      nonce: randomBytes(24).toString('base64url'),
      codeVerifier: randomBytes(48).toString('base64url'),
      returnTo: safeReturnTo(returnTo),
    };
    const browserToken = randomBytes(32).toString('base64url');
    await db
      .deleteFrom('sso_flows')
      .where('expires_at', '<', new Date(Date.now() - FLOW_TTL_MS))
      .execute();
    await db
      .insertInto('sso_flows')
      .values({
        state_hash: flowKey(flow.flowId, browserToken),
        connection_id: connection.id,
        nonce: flow.nonce,
        code_verifier: flow.codeVerifier,
        return_to: flow.returnTo,
        expires_at: new Date(Date.now() + FLOW_TTL_MS),
      })
      .execute();
    const { redirectUrl } = await protocol.startSignIn(connection, flow);
    return { redirectUrl, browserToken, kind: connection.kind };
  }

  /** Where to send an address: its verified domain's organization's active connection. */
  async function discover(email: string): Promise<{ connectionId: string } | null> {
    const domain = emailDomain(normalizeEmail(email));
    if (!domain) return null;
    const found = await privileged.discover({ domain });
    return found?.connectionId ? { connectionId: found.connectionId } : null;
  }

  async function complete(
    profile: SsoProfile,
    meta: { ip: string; userAgent?: string | null },
  ): Promise<SsoSignInResult> {
    const org = profile.organizationId;
    let email: string;
    try {
      email = parseEmail(profile.email).normalized;
    } catch {
      throw new SsoError('SSO_IDP_RESPONSE_INVALID', 'the identity provider sent no valid email address');
    }
    if (!profile.emailVerified) {
      throw new SsoError(
        'SSO_EMAIL_NOT_VERIFIED',
        'the identity provider does not state this address is verified',
      );
    }
    const domain = emailDomain(email)!;
    const result = await withTenant(org, async (tdb) => {
      const conn = await repo.findConnection(tdb, org, profile.connectionId);
      if (!conn || conn.status !== 'active')
        throw new SsoError('SSO_NOT_CONFIGURED', 'this connection is not active');
      // An IdP of this organization signs in only addresses of a domain the organization verified.
      if (!(await repo.isVerifiedDomain(tdb, org, domain))) {
        throw new SsoError(
          'SSO_EMAIL_DOMAIN_NOT_ALLOWED',
          'this address is not in a domain the organization verified',
        );
      }
      let provisioned = false;
      let claimed = false;
      let userId: string;
      const identity = await repo.findIdentity(tdb, org, conn.id, profile.subject);
      if (identity) {
        userId = identity.user_id;
        // The link stands only while the account's address is in a domain this organization verified:
        // its IdP speaks for those addresses, not for an account whose address moved elsewhere (or whose
        // domain the organization gave up). A stale link is removed and the sign-in refused.
        if (!(await repo.addressInVerifiedDomain(tdb, org, userId))) {
          await repo.deleteIdentity(tdb, org, conn.id, profile.subject);
          return { stale: true as const };
        }
        await repo.touchIdentity(tdb, org, conn.id, profile.subject);
      } else {
        const existing = await tdb
          .selectFrom('users')
          .select(['id', 'erased_at'])
          .where('email_normalized', '=', email)
          .executeTakeFirst();
        if (existing?.erased_at) throw new SsoError('SSO_USER_UNAVAILABLE', 'this account is not available');
        if (existing) {
          userId = existing.id;
          // The IdP of a verified domain proved the address: a first proof claims the account for the
          // IdP's user (claimProvenAddress: the password, TOTP factor, social identities and sessions of
          // whoever registered the address before them go).
          claimed = await claimProvenAddress(tdb, userId, { clearPassword: true });
        } else {
          userId = uuidv7();
          await tdb
            .insertInto('users')
            .values({
              id: userId,
              email: profile.email.trim(),
              email_normalized: email,
              password_hash: null,
              email_verified_at: new Date(),
            })
            .execute();
          if (profile.name) {
            await tdb
              .updateTable('users')
              .set({ name: profile.name.slice(0, 200) })
              .where('id', '=', userId)
              .execute();
          }
          provisioned = true;
        }
        await repo.insertIdentity(tdb, org, conn.id, profile.subject, userId);
      }
      const ctx = userActingIn(org, userId);
      if (provisioned) {
        await recordAudit(tdb, ctx, {
          action: 'user.provisioned',
          target: { type: 'user', id: userId },
          metadata: { connection_id: conn.id, email },
          personal: { subject: { kind: 'user', userId }, keys: ['email'] },
        });
      }
      const role = await mappedRole(tdb, org, deps, conn.role_mappings, profile.groups, conn.default_role);
      const membership = await repo.findMembership(tdb, org, userId);
      let membershipChanged = false;
      if (!membership || membership.status !== 'active') {
        // A new member, as by an invitation: under the organization lock, only while the organization is
        // active (not suspended or pending deletion), and only with a free seat of its plan.
        const o = await tdb
          .selectFrom('organizations')
          .select('lifecycle_state')
          .where('id', '=', org)
          .forNoKeyUpdate()
          .executeTakeFirst();
        if (o?.lifecycle_state !== 'active') {
          throw new SsoError('SSO_ORGANIZATION_UNAVAILABLE', 'this organization accepts no new members');
        }
        await deps.seats?.beforeInvite(tdb, org);
        await repo.upsertMembership(tdb, org, userId, role);
        membershipChanged = true;
        await recordAudit(tdb, ctx, {
          action: 'member.joined',
          target: { type: 'member', id: userId },
          metadata: { role, sso_connection_id: conn.id, new_account: provisioned },
        });
      } else if (membership.role !== role && membership.role !== 'owner') {
        // The IdP's groups are the source of the role: a later sign-in applies a changed mapping. Owners
        // keep their role whatever the IdP says.
        await repo.upsertMembership(tdb, org, userId, role);
        membershipChanged = true;
        await recordAudit(tdb, ctx, {
          action: 'member.role_changed',
          target: { type: 'member', id: userId },
          changes: { before: { role: membership.role }, after: { role } },
          metadata: { sso_connection_id: conn.id },
        });
      }
      await recordAudit(tdb, ctx, {
        action: 'sso.signed_in',
        target: { type: 'sso_connection', id: conn.id },
        metadata: { user_id: userId, provisioned, ...(claimed ? { address_claimed: true } : {}) },
      });
      await tdb
        .updateTable('users')
        .set({ last_organization_id: org, updated_at: new Date() })
        .where('id', '=', userId)
        .execute();
      return { userId, provisioned, membershipChanged, claimed };
    });
    if ('stale' in result) {
      log?.info({ sso_connection_id: profile.connectionId }, 'sso sign-in refused: stale identity removed');
      throw new SsoError(
        'SSO_EMAIL_DOMAIN_NOT_ALLOWED',
        "this account's address is not in a domain the organization verified",
      );
    }
    if (result.claimed) sessions.userChanged(result.userId);
    if (result.membershipChanged) deps.membershipChanged(org, result.userId);
    const { token, session } = await sessions.create(result.userId, meta, {
      currentOrganizationId: org,
      ssoConnectionId: profile.connectionId,
      ...(profile.sessionNotOnOrAfter ? { notAfter: profile.sessionNotOnOrAfter } : {}),
    });
    log?.info(
      { user: result.userId, session_id: session.id, sso_connection_id: profile.connectionId },
      'sso sign-in',
    );
    return {
      token,
      sessionId: session.id,
      userId: result.userId,
      organizationId: org,
      provisioned: result.provisioned,
      absoluteExpiresAt: session.absoluteExpiresAt,
    };
  }

  const signIn: SsoSignIn = { complete, connectionForSignIn, consumeFlow };
  return { ...signIn, start, discover, signIn };
}

export type SsoSignInService = ReturnType<typeof createSsoSignIn>;
