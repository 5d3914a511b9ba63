/**
 * SAML single sign-on end to end over HTTP: the real composition, a SAML connection created from IdP
 * metadata (samlify's), discovery → AuthnRequest → a response signed by the test IdP's throwaway key →
 * the assertion consumer → a session that works on a tenant route.
 */
import { randomBytes } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as samlify from 'samlify';
import { Browser, ORIGIN, createOrg, inOrg, startApp, stopApp, type E2eApp } from './helpers.js';
import {
  IDP_ENTITY_ID,
  b64,
  buildResponseXml,
  makeIdpKeys,
  type TestIdpKeys,
} from '../../src/modules/sso/saml/saml.test-idp.js';
import { fakeDns, verifiedAccount, verifyDomain } from './sso-helpers.js';

const dns = fakeDns();

const signUpAs = async (c: E2eApp, email: string) => (await verifiedAccount(c, email)).browser;

function idpMetadata(keys: TestIdpKeys): string {
  return samlify
    .IdentityProvider({
      entityID: IDP_ENTITY_ID,
      signingCert: keys.cert,
      nameIDFormat: ['urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'],
      singleSignOnService: [
        {
          Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
          Location: 'https://idp.example.test/sso',
        },
      ],
    })
    .getMetadata();
}

describe('SAML sign-in end to end', () => {
  let c: E2eApp;
  let keys: TestIdpKeys;
  let orgA: { id: string; slug: string };
  let orgB: { id: string; slug: string };
  let domainA: string;
  let domainB: string;
  let connA: string;
  let connB: string;

  async function createConnection(owner: Browser, orgId: string, k: TestIdpKeys) {
    const res = await owner.post(
      '/v1/sso/connections',
      {
        kind: 'saml',
        name: 'Acme SAML',
        defaultRole: 'member',
        saml: { idpMetadataXml: idpMetadata(k), groupsAttribute: 'groups' },
      },
      inOrg(orgId),
    );
    expect(res.statusCode, res.body).toBe(201);
    const conn = res.json<{ id: string; saml: { spEntityId: string; acsUrl: string } }>();
    // What the administrator is shown to enter at the IdP is what the consumer URL checks.
    expect(conn.saml).toMatchObject({ spEntityId: audience(conn.id), acsUrl: acsUrl(conn.id) });
    return conn.id;
  }

  beforeAll(async () => {
    samlify.setSchemaValidator({ validate: () => Promise.resolve('skipped') });
    c = await startApp({ sso: { resolveTxt: dns.resolveTxt } });
    keys = await makeIdpKeys();
    const otherKeys = await makeIdpKeys('b-idp.example.test');
    domainA = `acme-${randomBytes(4).toString('hex')}.test`;
    domainB = `bcorp-${randomBytes(4).toString('hex')}.test`;
    const ownerA = await signUpAs(c, `owner@${domainA}`);
    const ownerB = await signUpAs(c, `owner@${domainB}`);
    orgA = await createOrg(ownerA, 'samla');
    orgB = await createOrg(ownerB, 'samlb');
    await verifyDomain(ownerA, dns, orgA.id, domainA);
    await verifyDomain(ownerB, dns, orgB.id, domainB);
    connA = await createConnection(ownerA, orgA.id, keys);
    connB = await createConnection(ownerB, orgB.id, otherKeys);
  }, 60_000);
  afterAll(async () => {
    await stopApp(c);
  });

  const acsUrl = (id: string) => `${ORIGIN}/v1/auth/sso/saml/${id}/acs`;
  const audience = (id: string) => `${ORIGIN}/v1/auth/sso/saml/${id}`;

  /** Discovery for `email`: the AuthnRequest id and the RelayState the IdP must send back. */
  async function start(b: Browser, email: string) {
    const d = await b.post('/v1/auth/sso/discover', { email, returnTo: '/welcome' });
    expect(d.statusCode, d.body).toBe(200);
    const url = new URL(d.json<{ redirectUrl: string }>().redirectUrl);
    expect(`${url.origin}${url.pathname}`).toBe('https://idp.example.test/sso');
    const xml = inflateRawSync(Buffer.from(url.searchParams.get('SAMLRequest')!, 'base64')).toString('utf8');
    return { requestId: /\sID="([^"]+)"/.exec(xml)![1]!, relayState: url.searchParams.get('RelayState')! };
  }
  const post = (b: Browser, connectionId: string, xml: string, relayState?: string) =>
    b.post(
      `/v1/auth/sso/saml/${connectionId}/acs`,
      new URLSearchParams({
        SAMLResponse: b64(xml),
        ...(relayState ? { RelayState: relayState } : {}),
      }).toString(),
      { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://idp.example.test' },
    );

  it('SP-initiated: a new user is provisioned, the session works on a tenant route', async () => {
    const email = `ada-${randomBytes(3).toString('hex')}@${domainA}`;
    const b = new Browser(c);
    const { requestId, relayState } = await start(b, email);
    const xml = buildResponseXml({
      keys,
      acsUrl: acsUrl(connA),
      audience: audience(connA),
      inResponseTo: requestId,
      nameId: email,
    });
    const res = await post(b, connA, xml, relayState);
    expect(res.statusCode, res.body).toBe(303);
    expect(res.headers.location).toBe('/welcome');
    expect(b.cookie).not.toBeNull();
    const me = await b.get('/v1/auth/me');
    expect(me.json()).toMatchObject({ user: { email }, currentOrganizationId: orgA.id });
    const projects = await b.get('/v1/projects', inOrg(orgA.id));
    expect(projects.statusCode, projects.body).toBe(200);
    // The same response again: refused, no new session.
    const again = await post(new Browser(c), connA, xml, relayState);
    expect(again.statusCode).toBe(401);
    expect([again.headers['set-cookie'] ?? []].flat().join('\n')).not.toMatch(/sr_session=[^;]/);
  });

  it('login CSRF: a response to a flow another browser started signs nobody in', async () => {
    const email = `csrf-${randomBytes(3).toString('hex')}@${domainA}`;
    const attacker = new Browser(c);
    const { requestId, relayState } = await start(attacker, email);
    const flowLine = String(
      (await new Browser(c).post('/v1/auth/sso/discover', { email })).headers['set-cookie'],
    );
    // SAML comes back with a cross-site POST: the flow cookie must be SameSite=None; Secure to arrive.
    expect(flowLine).toMatch(/SameSite=None/i);
    expect(flowLine).toMatch(/Secure/i);
    expect(flowLine).toMatch(/HttpOnly/i);
    const xml = buildResponseXml({
      keys,
      acsUrl: acsUrl(connA),
      audience: audience(connA),
      inResponseTo: requestId,
      nameId: email,
    });
    // The attacker's signed response, auto-posted from the victim's browser (no flow cookie).
    const victim = new Browser(c);
    const res = await post(victim, connA, xml, relayState);
    expect(res.statusCode).toBe(401);
    expect(victim.cookie).toBeNull();
  });

  it('A’s IdP vouching for an address of B’s verified domain signs nobody into B', async () => {
    const email = `mallory-${randomBytes(3).toString('hex')}@${domainB}`;
    const b = new Browser(c);
    const { requestId, relayState } = await start(new Browser(c), `x@${domainA}`);
    const xml = buildResponseXml({
      keys,
      acsUrl: acsUrl(connA),
      audience: audience(connA),
      inResponseTo: requestId,
      nameId: email,
    });
    const res = await post(b, connA, xml, relayState);
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(b.cookie).toBeNull();
    const rows = await c.tenancy.withTenant(orgB.id, (db) =>
      db
        .selectFrom('memberships')
        .innerJoin('users', 'users.id', 'memberships.user_id')
        .select('users.email')
        .where('memberships.organization_id', '=', orgB.id)
        .execute(),
    );
    expect(rows.map((r) => r.email)).not.toContain(email);
  });

  it('a response signed by A’s IdP, posted to B’s consumer URL, is refused', async () => {
    const b = new Browser(c);
    const { requestId, relayState } = await start(new Browser(c), `x@${domainB}`);
    const xml = buildResponseXml({
      keys,
      acsUrl: acsUrl(connB),
      audience: audience(connB),
      inResponseTo: requestId,
      nameId: `eve@${domainB}`,
    });
    const res = await post(b, connB, xml, relayState);
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: { code: 'SAML_RESPONSE_REFUSED' } });
    expect(b.cookie).toBeNull();
  });

  it('an email attribute set at creation names the address; PATCHed to null, the NameID does again', async () => {
    const domainC = `ccorp-${randomBytes(4).toString('hex')}.test`;
    const ownerC = await signUpAs(c, `owner@${domainC}`);
    const orgC = await createOrg(ownerC, 'samlc');
    await verifyDomain(ownerC, dns, orgC.id, domainC);
    const created = await ownerC.post(
      '/v1/sso/connections',
      { kind: 'saml', name: 'C SAML', saml: { idpMetadataXml: idpMetadata(keys), emailAttribute: 'mail' } },
      inOrg(orgC.id),
    );
    expect(created.statusCode, created.body).toBe(201);
    const connC = created.json<{ id: string; saml: { emailAttribute: string | null } }>();
    expect(connC.saml.emailAttribute).toBe('mail');
    const got = await ownerC.get(`/v1/sso/connections/${connC.id}`, inOrg(orgC.id));
    expect(got.json()).toMatchObject({ saml: { emailAttribute: 'mail' } });

    const answer = async (nameId: string, nameIdFormat: string, mail: string | string[]) => {
      const b = new Browser(c);
      const { requestId, relayState } = await start(b, `someone@${domainC}`);
      const xml = buildResponseXml({
        keys,
        acsUrl: acsUrl(connC.id),
        audience: audience(connC.id),
        inResponseTo: requestId,
        nameId,
        nameIdFormat,
        attributes: { mail },
      });
      return { b, res: await post(b, connC.id, xml, relayState) };
    };
    const signIn = async (nameId: string, nameIdFormat: string, mail: string) => {
      const { b, res } = await answer(nameId, nameIdFormat, mail);
      expect(res.statusCode, res.body).toBe(303);
      return (await b.get('/v1/auth/me')).json<{ user: { email: string } }>().user.email;
    };
    const persistent = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';
    const emailFormat = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
    const byAttribute = `grace-${randomBytes(3).toString('hex')}@${domainC}`;
    expect(await signIn('opaque-7f3a', persistent, byAttribute)).toBe(byAttribute);
    // The attribute is the address, so the verified-domain rule applies to it, whatever the NameID says: an
    // attribute a user could edit to another domain's address (here a verified NameID next to it) signs
    // nobody in, and neither does an attribute with two values.
    const foreign = await answer(`grace@${domainC}`, emailFormat, `grace@${domainA}`);
    expect(foreign.res.statusCode, foreign.res.body).toBe(403);
    expect(foreign.res.json()).toMatchObject({ error: { code: 'SSO_EMAIL_DOMAIN_NOT_ALLOWED' } });
    expect(foreign.b.cookie).toBeNull();
    const two = await answer('opaque-2', persistent, [`a@${domainC}`, `b@${domainC}`]);
    expect(two.res.statusCode, two.res.body).toBe(401);
    expect(two.b.cookie).toBeNull();

    const patched = await ownerC.patch(
      `/v1/sso/connections/${connC.id}`,
      { saml: { emailAttribute: null } },
      inOrg(orgC.id),
    );
    expect(patched.statusCode, patched.body).toBe(200);
    expect(patched.json()).toMatchObject({ saml: { emailAttribute: null } });
    const byNameId = `linus-${randomBytes(3).toString('hex')}@${domainC}`;
    expect(await signIn(byNameId, emailFormat, byAttribute)).toBe(byNameId);
    // Too long an attribute name is refused by the schema.
    const tooLong = await ownerC.patch(
      `/v1/sso/connections/${connC.id}`,
      { saml: { emailAttribute: 'x'.repeat(257) } },
      inOrg(orgC.id),
    );
    expect(tooLong.statusCode).toBe(400);
  });
});
