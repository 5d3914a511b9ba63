import type pg from 'pg';
import { expect } from 'vitest';
import { inOrg, rememberSecret, type E2eApp, type User } from './helpers.js';
import { connect, testDb } from '../support/tenancy.js';

export const SCIM = 'application/scim+json';
export const SCIM_USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const SCIM_PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const SCIM_ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** A SCIM User of `email`, active, the address primary. */
export const scimUserBody = (email: string) => ({
  schemas: [SCIM_USER],
  userName: email,
  emails: [{ value: email, primary: true }],
  active: true,
});

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A request to an organization's `/scim/v2` API with its token. */
export type ScimRequest = (
  method: Method,
  url: string,
  body?: unknown,
  headers?: Record<string, string>,
) => Promise<Awaited<ReturnType<E2eApp['app']['inject']>>>;

/** Requests to the test app's `/scim/v2` with `token` as bearer, bodies as application/scim+json. */
export function scimRequest(c: E2eApp, token: string): ScimRequest {
  return (method, url, body, headers = {}) =>
    c.app.inject({
      method,
      url: `/scim/v2${url}`,
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': SCIM }),
        ...headers,
      },
    });
}

/** A SCIM client of the test app: the token (remembered as a secret) as bearer, extra headers optional. */
export function scimClient(c: E2eApp, token: string) {
  rememberSecret(token);
  const call = scimRequest(c, token);
  return {
    get: (url: string, h?: Record<string, string>) => call('GET', url, undefined, h),
    post: (url: string, body: unknown) => call('POST', url, body),
    put: (url: string, body: unknown, h?: Record<string, string>) => call('PUT', url, body, h),
    patch: (url: string, body: unknown, h?: Record<string, string>) => call('PATCH', url, body, h),
    delete: (url: string, h?: Record<string, string>) => call('DELETE', url, undefined, h),
  };
}
export type ScimClient = ReturnType<typeof scimClient>;

/** A client of `orgId`'s SCIM API with a new token minted by `owner`. */
export async function newScimClient(c: E2eApp, owner: User, orgId: string): Promise<ScimClient> {
  return scimClient(c, (await mintScimToken(owner, orgId)).secret);
}

/** A SCIM token of `orgId` minted through the API by `owner` (201), its secret remembered. */
export async function mintScimToken(owner: User, orgId: string): Promise<{ id: string; secret: string }> {
  const res = await owner.browser.post('/v1/scim/tokens', {}, inOrg(orgId));
  expect(res.statusCode, res.body).toBe(201);
  const body = res.json<{ id: string; secret: string }>();
  return { id: body.id, secret: rememberSecret(body.secret) };
}

/** Runs statements as the superuser of the suite's database (fixtures: a verified domain, a plan). */
export async function asAdmin(text: string, values: unknown[]): Promise<Record<string, unknown>[]> {
  const su = await connect(testDb().adminUrl);
  try {
    return (await su.query<Record<string, unknown>>(text, values)).rows;
  } finally {
    await su.end();
  }
}

/** The suite's addresses' domain, verified for `orgId` by `su` (a directory links only such existing
 *  accounts). */
export async function verifySuiteDomain(su: pg.ClientBase, orgId: string): Promise<void> {
  await su.query(
    `insert into organization_domains (organization_id, domain, verification_token, status, verified_at)
     values ($1, 'e2e.example.com', 'test', 'verified', now())`,
    [orgId],
  );
}

/**
 * Makes `orgId` a SCIM directory of `owner`'s: the suite's address domain verified and the enterprise plan
 * (written by `su`, a superuser client of the control database), then a SCIM token minted through the
 * API. Returns a client of its SCIM API.
 */
export async function scimDirectory(
  c: E2eApp,
  owner: User,
  orgId: string,
  su: pg.ClientBase,
): Promise<ScimRequest> {
  // The directory links existing accounts of the organization's verified domain (the suite's addresses).
  await verifySuiteDomain(su, orgId);
  await su.query(`update organizations set plan = 'enterprise' where id = $1`, [orgId]);
  return scimRequest(c, (await mintScimToken(owner, orgId)).secret);
}
