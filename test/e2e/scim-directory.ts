import type pg from 'pg';
import { expect } from 'vitest';
import { inOrg, rememberSecret, type E2eApp, type User } from './helpers.js';

export const SCIM = 'application/scim+json';
export const SCIM_USER = 'urn:ietf:params:scim:schemas:core:2.0:User';

/** A request to an organization's `/scim/v2` API with its token. */
export type ScimRequest = (
  method: 'GET' | 'POST' | 'PATCH',
  url: string,
  body?: unknown,
) => Promise<Awaited<ReturnType<E2eApp['app']['inject']>>>;

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
  await su.query(
    `insert into organization_domains (organization_id, domain, verification_token, status, verified_at)
     values ($1, 'e2e.example.com', 'test', 'verified', now())`,
    [orgId],
  );
  await su.query(`update organizations set plan = 'enterprise' where id = $1`, [orgId]);
  const minted = await owner.browser.post('/v1/scim/tokens', {}, inOrg(orgId));
  expect(minted.statusCode, minted.body).toBe(201);
  const secret = rememberSecret(minted.json<{ secret: string }>().secret);
  return (method, url, body) =>
    c.app.inject({
      method,
      url: `/scim/v2${url}`,
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
      headers: {
        authorization: `Bearer ${secret}`,
        ...(body === undefined ? {} : { 'content-type': SCIM }),
      },
    });
}
