import type { RegionPlacement } from '../organizations/organizations.repository.js';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { PlatformDb } from '../../platform/db/platform-db.js';
import { decodeCursor, pageLimit, toPage, type Page } from '../../platform/pagination.js';
import type { WithTenant } from '../../platform/tenancy/with-tenant.js';
import type { Session, SessionMeta, SessionService } from '../auth/sessions.service.js';
import { clientAddress, createThrottle, type Throttle, type ThrottleRule } from '../auth/throttle.js';
import { startSessionInStartingOrganization } from '../auth/user-organizations.js';
import { findUserById } from '../auth/users.repository.js';
import { createAccountResolver, type AccountOutcome } from './social-accounts.js';
import { SocialError } from './social.errors.js';
import { ssoRequired, type SsoRequiredFor } from '../sso/sso.errors.js';
import type { SocialProvider } from './social.providers.js';
import {
  consumeFlow,
  countIdentities,
  countPasskeys,
  deleteIdentity,
  insertFlow,
  listIdentities,
  purgeExpiredFlows,
} from './social.repository.js';

/** Per client address per 15 minutes: sign-ins started, and callbacks that failed. */
export const SOCIAL_THROTTLE_RULES = {
  start: { limit: 60, windowMs: 15 * 60_000 },
  ip: { limit: 20, windowMs: 15 * 60_000 },
} as const satisfies Record<string, ThrottleRule>;

/** How long a started sign-in may take at the provider. */
export const FLOW_TTL_MS = 10 * 60_000;

export interface SocialSignInDeps {
  /** Where personal organizations are created (DEFAULT_REGION's tenant database; unset: the control
   *  database). */
  readonly personalPlacement?: RegionPlacement;
  readonly db: PlatformDb;
  readonly withTenant: WithTenant;
  readonly sessions: SessionService;
  readonly providers: ReadonlyMap<string, SocialProvider>;
  readonly publicUrl: string;
  readonly throttle?: Throttle;
  /** require-SSO (docs/sso.md): a member of an organization requiring SSO for the address is refused. */
  readonly ssoRequiredFor?: SsoRequiredFor;
  readonly log?: Logger;
}

export interface LinkedIdentity {
  id: string;
  provider: string;
  providerLabel: string;
  email: string | null;
  createdAt: string;
  lastUsedAt: string;
}

export type SocialCallbackResult = {
  token: string;
  session: Session;
  twoFactorRequired: boolean;
  returnTo: string;
  outcome: AccountOutcome;
};

/** Who asks (user-level: social sign-in is deployment-wide, not an organization's). */
export interface UserCtx {
  readonly userId: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A return path inside this site: `/…`, not `//host` or `/\host`, no control characters, at most 1,000
 * characters; anything else returns to `/`.
 */
export function safeReturnTo(raw: string | undefined): string {
  if (!raw || raw.length > 1000 || !raw.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\')) {
    return '/';
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(raw)) return '/';
  return raw;
}

/**
 * Social sign-in: start (flow state, PKCE, nonce), callback (checks, account rules, a session as login
 * makes it), and the user's linked identities.
 */
export function createSocialSignInService(deps: SocialSignInDeps) {
  const { db, sessions, providers, log } = deps;
  const throttle = deps.throttle ?? createThrottle('auth.social', SOCIAL_THROTTLE_RULES);
  const accounts = createAccountResolver({
    db,
    withTenant: deps.withTenant,
    publicUrl: deps.publicUrl.replace(/\/+$/, ''),
    userChanged: (id) => sessions.userChanged(id),
    log,
    ...(deps.personalPlacement ? { personalPlacement: deps.personalPlacement } : {}),
  });
  const providerOf = (id: string) => {
    const p = providers.get(id);
    if (!p) throw new SocialError('SOCIAL_PROVIDER_NOT_FOUND', 'no such sign-in provider');
    return p;
  };
  const labelOf = (id: string) => providers.get(id)?.label ?? id;

  return {
    /** The configured providers, for the sign-in page. */
    listProviders(): { id: string; label: string }[] {
      return [...providers.values()].map((p) => ({ id: p.id, label: p.label }));
    },

    /**
     * Starts a sign-in: records the flow (state hashed, bound to the browser token the caller sets as a
     * cookie) and answers where to send the browser.
     */
    async start(input: {
      provider: string;
      returnTo?: string;
      ip: string;
    }): Promise<{ url: string; browserToken: string }> {
      const provider = providerOf(input.provider);
      throttle.acquire([{ kind: 'start', value: clientAddress(input.ip).value }]);
      const state = randomBytes(32).toString('base64url');
      const browserToken = randomBytes(32).toString('base64url');
      const checks = {
        state,
        codeVerifier: randomBytes(32).toString('base64url'),
        nonce: randomBytes(32).toString('base64url'),
      };
      const url = await provider.authorizationUrl(checks);
      await purgeExpiredFlows(db);
      await insertFlow(db, {
        state_hash: sha256(state),
        provider: provider.id,
        browser_hash: sha256(browserToken),
        code_verifier: checks.codeVerifier,
        nonce: checks.nonce,
        return_to: safeReturnTo(input.returnTo),
        expires_at: new Date(Date.now() + FLOW_TTL_MS),
      });
      return { url: url.href, browserToken };
    },

    /**
     * The provider's redirect back. The flow named by `state` is consumed (single use) and must be this
     * provider's, unexpired, and started by this browser (`browserToken`, from the cookie); then the code
     * is redeemed and the account rules apply. Failures count against the client address.
     */
    async callback(input: {
      provider: string;
      callbackUrl: URL;
      browserToken: string | null;
      meta: SessionMeta & { ip: string };
      presentedToken: string | null;
    }): Promise<SocialCallbackResult> {
      const provider = providerOf(input.provider);
      const address = clientAddress(input.meta.ip);
      throttle.acquire([address]);
      const state = input.callbackUrl.searchParams.get('state');
      const invalid = () =>
        new SocialError('SOCIAL_STATE_INVALID', 'this sign-in expired or was already used: start again');
      if (!state || state.length > 200) throw invalid();
      const flow = await consumeFlow(db, sha256(state));
      if (
        !flow ||
        flow.provider !== provider.id ||
        flow.expires_at.getTime() <= Date.now() ||
        !input.browserToken ||
        !timingSafeEqual(flow.browser_hash, sha256(input.browserToken))
      ) {
        log?.info({ social_provider: provider.id, ip: input.meta.ip }, 'social sign-in refused: state');
        throw invalid();
      }
      let profile;
      try {
        profile = await provider.complete(input.callbackUrl, {
          state,
          codeVerifier: flow.code_verifier,
          nonce: flow.nonce,
        });
      } catch (err) {
        log?.info(
          { social_provider: provider.id, ip: input.meta.ip, reason: (err as Error).message },
          'social sign-in refused by the provider check',
        );
        throw err;
      }
      const { user, outcome } = await accounts.resolve(provider.id, profile);
      throttle.release([address]);
      // A new account has no membership yet, so it is never refused; owners are exempt (break-glass).
      const sso = await deps.ssoRequiredFor?.(user.id, user.email_normalized);
      if (sso) {
        log?.info({ user: user.id, social_provider: provider.id }, 'social sign-in refused: SSO required');
        throw ssoRequired(sso.slug);
      }
      if (input.presentedToken) {
        const previous = await sessions.resolve(input.presentedToken);
        if (previous) await sessions.revoke(previous.session.id);
      }
      const { token, session } = await startSessionInStartingOrganization(
        db,
        sessions,
        user,
        input.meta,
        log,
      );
      log?.info(
        { user: user.id, session_id: session.id, social_provider: provider.id, outcome },
        'social sign-in succeeded',
      );
      return {
        token,
        session,
        twoFactorRequired: user.totp_enabled_at !== null,
        returnTo: flow.return_to,
        outcome,
      };
    },

    /** The user's linked provider accounts, oldest first. */
    async listIdentities(
      ctx: UserCtx,
      q: { limit?: number; cursor?: string },
    ): Promise<Page<LinkedIdentity>> {
      const limit = pageLimit(q.limit);
      const after = decodeCursor(q.cursor, (k) => UUID.test(k));
      const rows = await listIdentities(db, ctx.userId, limit + 1, after);
      return toPage(
        rows,
        limit,
        (r) => r.id,
        (r) => ({
          id: r.id,
          provider: r.provider,
          providerLabel: labelOf(r.provider),
          email: r.email,
          createdAt: r.created_at.toISOString(),
          lastUsedAt: r.last_used_at.toISOString(),
        }),
      );
    },

    /**
     * Unlinks one of the user's identities; refused (409 SOCIAL_LAST_SIGN_IN_METHOD) when it is the last
     * way to sign in (no password, no other identity, no passkey). Another user's identity is 404.
     */
    async unlink(ctx: UserCtx, identityId: string): Promise<void> {
      const notFound = () => new SocialError('SOCIAL_IDENTITY_NOT_FOUND', 'linked account not found');
      if (!UUID.test(identityId)) throw notFound();
      const done = await db.transaction().execute(async (trx) => {
        // Locks the user: two parallel unlinks cannot both see "another one is left".
        const user = await findUserById(trx, ctx.userId, { forUpdate: true });
        if (!user) throw notFound();
        const exists = await trx
          .selectFrom('social_identities')
          .select('id')
          .where('id', '=', identityId)
          .where('user_id', '=', ctx.userId)
          .executeTakeFirst();
        if (!exists) throw notFound();
        if (
          user.password_hash === null &&
          (await countIdentities(trx, ctx.userId)) <= 1 &&
          (await countPasskeys(trx, ctx.userId)) === 0
        ) {
          throw new SocialError(
            'SOCIAL_LAST_SIGN_IN_METHOD',
            'this is your only way to sign in: set a password, add a passkey or link another account first',
          );
        }
        return deleteIdentity(trx, ctx.userId, identityId);
      });
      if (!done) throw notFound();
      log?.info({ user: ctx.userId, identity: identityId }, 'social identity unlinked');
    },
  };
}

export type SocialSignInService = ReturnType<typeof createSocialSignInService>;
