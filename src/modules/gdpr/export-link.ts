import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { isTenantId } from '../../platform/tenancy/context.js';

/** What a download link grants: one export (of an organization or an account), to one user, until `exp`. */
export interface ExportLinkClaims {
  /** `org`: an organization export (`org` set); `account`: a user's own export. */
  readonly kind: 'org' | 'account';
  readonly exportId: string;
  readonly org: string | null;
  /** The user the link was minted for: only their authenticated request may follow it. */
  readonly user: string;
  /** Expiry, seconds since the epoch. */
  readonly exp: number;
}

/** Why a link was refused: malformed or not signed by us (`invalid`), or past its expiry (`expired`). */
export type ExportLinkCheck =
  | { readonly ok: true; readonly claims: ExportLinkClaims }
  | { readonly ok: false; readonly reason: 'invalid' | 'expired' };

/** The purpose bound into every signature: a link signed for anything else never verifies as this. */
const PURPOSE = 'saasready.export-download.v1';

/**
 * Signs and checks export download links: `base64url(JSON claims).base64url(HMAC-SHA256)`, the HMAC key
 * derived from the KEK by HKDF for this one purpose (so it signs nothing else and the KEK itself never
 * signs). Single purpose (the purpose string is in the MAC), bound to the export and to the requesting
 * user, expiring.
 */
export function createExportLinks(kek: Buffer, now: () => number = Date.now) {
  const key = Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), PURPOSE, 32));
  const mac = (body: string) => createHmac('sha256', key).update(`${PURPOSE}.${body}`).digest();
  return {
    sign(claims: Omit<ExportLinkClaims, 'exp'>, ttlSeconds: number): { token: string; expiresAt: Date } {
      const exp = Math.floor(now() / 1000) + ttlSeconds;
      const body = Buffer.from(
        JSON.stringify({ k: claims.kind, e: claims.exportId, o: claims.org, u: claims.user, x: exp }),
      ).toString('base64url');
      return { token: `${body}.${mac(body).toString('base64url')}`, expiresAt: new Date(exp * 1000) };
    },
    verify(token: string): ExportLinkCheck {
      const parts = token.split('.');
      if (parts.length !== 2) return { ok: false, reason: 'invalid' };
      const [body, sig] = parts as [string, string];
      const given = Buffer.from(sig, 'base64url');
      const expected = mac(body);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return { ok: false, reason: 'invalid' };
      }
      let parsed: { k?: unknown; e?: unknown; o?: unknown; u?: unknown; x?: unknown };
      try {
        parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as typeof parsed;
      } catch {
        return { ok: false, reason: 'invalid' };
      }
      const { k, e, o, u, x } = parsed;
      const shapeOk =
        (k === 'org' || k === 'account') &&
        isTenantId(e) &&
        isTenantId(u) &&
        (k === 'org' ? isTenantId(o) : o === null) &&
        typeof x === 'number' &&
        Number.isSafeInteger(x);
      if (!shapeOk) return { ok: false, reason: 'invalid' };
      if (x * 1000 <= now()) return { ok: false, reason: 'expired' };
      return { ok: true, claims: { kind: k, exportId: e, org: o as string | null, user: u, exp: x } };
    },
  };
}

export type ExportLinks = ReturnType<typeof createExportLinks>;

/** What both export services need to hand out download links. */
export interface ExportLinkDeps {
  links: ExportLinks;
  linkTtlSeconds: number;
  /** Base of the download link (PUBLIC_URL). */
  publicUrl: string;
}

/** A signed download link (`/v1/exports/download?token=`) for one user, with when it expires. */
export function downloadLink(
  deps: ExportLinkDeps,
  claims: Omit<ExportLinkClaims, 'exp'>,
): { url: string; expiresAt: string } {
  const { token, expiresAt } = deps.links.sign(claims, deps.linkTtlSeconds);
  const url = new URL(`${deps.publicUrl.replace(/\/$/, '')}/v1/exports/download`);
  url.searchParams.set('token', token);
  return { url: url.toString(), expiresAt: expiresAt.toISOString() };
}
