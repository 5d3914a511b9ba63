import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import {
  buildResponseXml,
  assertionXml,
  signAssertion,
  wrapResponse,
  type ResponseOptions,
} from './saml.test-idp.js';
import { refusalOf, samlFixture, type SamlFixture } from './saml.test-support.js';
import type { SamlConnection } from './saml.types.js';

describe('SAML sign-in: SP-initiated, the accepted path and the basic refusals', () => {
  let f: SamlFixture;
  beforeAll(async () => {
    f = await samlFixture();
  });
  afterAll(async () => {
    await f.close();
  });

  /**
   * A sign-in started on a new connection (with `conn`), answered by the test IdP's response to its
   * request, changed by `over`: 'accepted' or the refusal's reason.
   */
  async function answered(over: Partial<ResponseOptions>, conn: Partial<SamlConnection> = {}) {
    const c = f.connection(conn);
    const { requestId, flowId } = await f.start(c);
    const xml = buildResponseXml(f.opts(c, { inResponseTo: requestId, ...over }));
    return refusalOf(f.post(c, xml, flowId));
  }

  it('accepts a signed response to its own request: email, groups, session end, return path', async () => {
    const c = f.connection();
    const { requestId, flowId, redirectUrl } = await f.start(c, '/orgs/settings?tab=1');
    expect(redirectUrl.startsWith('https://idp.example.test/sso?')).toBe(true);
    expect(new URL(redirectUrl).searchParams.get('RelayState')).toBe(flowId);
    const sessionEnd = new Date(Date.now() + 3_600_000);
    const xml = buildResponseXml(
      f.opts(c, {
        inResponseTo: requestId,
        attributes: { groups: ['eng', 'ops'] },
        sessionNotOnOrAfter: sessionEnd,
        nameId: 'Ada@Acme.Example',
      }),
    );
    const r = await f.post(c, xml, flowId);
    expect(r.redirectTo).toBe('/orgs/settings?tab=1');
    expect(r.profile).toMatchObject({
      organizationId: f.orgA,
      connectionId: c.id,
      email: 'ada@acme.example',
      groups: ['eng', 'ops'],
      issuer: 'https://idp.example.test/saml',
    });
    expect(r.profile.sessionNotOnOrAfter?.getTime()).toBe(Math.floor(sessionEnd.getTime()));
    expect(f.completed.at(-1)!.meta).toMatchObject({ ip: '203.0.113.9' });
    expect(f.flows.has(flowId)).toBe(false);
    // The request is consumed: the same response posted again is refused (its request is gone).
    expect(await refusalOf(f.post(c, xml, flowId))).toBe('in_response_to');
  });

  it('accepts a response signed as a whole when the connection asks for that (assertion unsigned)', async () => {
    const c = f.connection({ wantResponseSigned: true, wantAssertionsSigned: false });
    const { requestId, flowId } = await f.start(c);
    const xml = buildResponseXml(
      f.opts(c, { inResponseTo: requestId, signAssertion: false, signResponse: true }),
    );
    expect((await f.post(c, xml, flowId)).profile.email).toBe('ada@acme.example');
  });

  it('refuses a response whose response and assertion are both unsigned', async () => {
    const conn = { wantAssertionsSigned: false, wantResponseSigned: false };
    expect(await answered({ signAssertion: false }, conn)).toBe('signature');
  });

  it('refuses a signed assertion in an unsigned response when the connection wants the response signed', async () => {
    expect(await answered({}, { wantResponseSigned: true })).toBe('signature');
  });

  it('refuses a signed response whose assertion is unsigned when the connection wants assertions signed', async () => {
    const conn = { wantResponseSigned: false, wantAssertionsSigned: true };
    expect(await answered({ signAssertion: false, signResponse: true }, conn)).toBe('signature');
  });

  it('refuses a response signed by another key, even with that key’s certificate embedded in KeyInfo', async () => {
    const c = f.connection();
    const { requestId, flowId } = await f.start(c);
    const xml = buildResponseXml(
      f.opts(c, { inResponseTo: requestId, keys: f.otherKeys, signResponse: true }),
    );
    expect(xml).toContain('<X509Certificate>');
    expect(await refusalOf(f.post(c, xml, flowId))).toBe('signature');
  });

  it('refuses an expired assertion (NotOnOrAfter past, beyond the clock skew)', async () => {
    const notBefore = new Date(Date.now() - 10 * 60_000);
    const notOnOrAfter = new Date(Date.now() - 2 * 60_000);
    expect(await answered({ notBefore, notOnOrAfter })).toBe('time');
  });

  it('refuses an assertion not yet valid (NotBefore ahead, beyond the clock skew)', async () => {
    const notBefore = new Date(Date.now() + 5 * 60_000);
    const notOnOrAfter = new Date(Date.now() + 10 * 60_000);
    expect(await answered({ notBefore, notOnOrAfter })).toBe('time');
  });

  it('accepts times off by less than the clock skew (NotBefore 30 s ahead)', async () => {
    expect(await answered({ notBefore: new Date(Date.now() + 30_000) })).toBe('accepted');
  });

  it('refuses another audience (an assertion meant for another service provider)', async () => {
    expect(await answered({ audience: 'https://other-sp.example.test' })).toBe('audience');
  });

  it('refuses a bearer confirmation for another Recipient', async () => {
    expect(await answered({ recipient: 'https://other-sp.example.test/acs' })).toBe('recipient');
  });

  it('refuses a response whose Destination is another consumer URL', async () => {
    const destination = 'https://other-sp.example.test/acs';
    expect(await answered({ destination, signResponse: true })).toBe('destination');
  });

  it('refuses an InResponseTo naming no request of ours', async () => {
    const c = f.connection();
    const { flowId } = await f.start(c);
    const xml = buildResponseXml(f.opts(c, { inResponseTo: '_not-a-request-we-sent' }));
    expect(await refusalOf(f.post(c, xml, flowId))).toBe('in_response_to');
  });

  it('refuses an InResponseTo naming a request of another connection', async () => {
    const c = f.connection();
    const other = f.connection();
    const { requestId, flowId } = await f.start(other);
    const xml = buildResponseXml(f.opts(c, { inResponseTo: requestId }));
    expect(await refusalOf(f.post(c, xml, flowId))).toBe('in_response_to');
  });

  it('refuses a RelayState that is not the flow of the request answered', async () => {
    const c = f.connection();
    const { requestId } = await f.start(c);
    const xml = buildResponseXml(f.opts(c, { inResponseTo: requestId }));
    expect(await refusalOf(f.post(c, xml, 'another-flow'))).toBe('relay_state');
  });

  it('refuses a second use of an assertion id, even in answer to a fresh request (replay table)', async () => {
    const c = f.connection();
    const first = await f.start(c);
    const assertionId = `_a-replayed-${first.requestId}`;
    await f.post(
      c,
      buildResponseXml(f.opts(c, { inResponseTo: first.requestId, assertionId })),
      first.flowId,
    );
    const second = await f.start(c);
    const again = buildResponseXml(f.opts(c, { inResponseTo: second.requestId, assertionId }));
    expect(await refusalOf(f.post(c, again, second.flowId))).toBe('replay');
    const rows = await f.tenancy.withTenant(f.orgA, (db) =>
      sql<{ expires_at: Date }>`select expires_at from saml_assertion_replays
        where organization_id = ${f.orgA} and assertion_id = ${assertionId}`.execute(db),
    );
    // Kept until the assertion's NotOnOrAfter (5 minutes) plus the clock skew, not forever.
    expect(rows.rows[0]!.expires_at.getTime()).toBeGreaterThan(Date.now() + 5 * 60_000);
    expect(rows.rows[0]!.expires_at.getTime()).toBeLessThan(Date.now() + 7 * 60_000);
  });

  it('refuses an assertion whose Issuer is not the connection’s IdP', async () => {
    const c = f.connection();
    const { requestId, flowId } = await f.start(c);
    const xml = buildResponseXml(
      f.opts(c, { inResponseTo: requestId, issuer: 'https://evil-idp.example.test' }),
    );
    expect(await refusalOf(f.post(c, xml, flowId))).toBe('issuer');
  });

  it('refuses a response whose status is not Success, even with a signed assertion inside', async () => {
    const c = f.connection();
    const { requestId, flowId } = await f.start(c);
    const xml = buildResponseXml(
      f.opts(c, { inResponseTo: requestId, status: 'urn:oasis:names:tc:SAML:2.0:status:Requester' }),
    );
    expect(await refusalOf(f.post(c, xml, flowId))).toBe('status');
  });

  it('refuses a NameID that is not an email address when no email attribute is configured', async () => {
    const c = f.connection();
    const { requestId, flowId } = await f.start(c);
    const xml = buildResponseXml(
      f.opts(c, {
        inResponseTo: requestId,
        nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
        nameId: 'u-123',
      }),
    );
    expect(await refusalOf(f.post(c, xml, flowId))).toBe('no_email');
  });

  it('takes the email from the configured attribute', async () => {
    const c = f.connection({ emailAttribute: 'mail' });
    const { requestId, flowId } = await f.start(c);
    const xml = buildResponseXml(
      f.opts(c, {
        inResponseTo: requestId,
        nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
        nameId: 'u-123',
        attributes: { mail: 'grace@acme.example' },
      }),
    );
    expect((await f.post(c, xml, flowId)).profile.email).toBe('grace@acme.example');
  });

  it('answers an unknown and an inactive connection alike (404, same body)', async () => {
    const c = f.connection({ active: false });
    const xml = wrapResponse(signAssertion(assertionXml(f.opts(c)), f.keys), f.opts(c));
    const a = await f.service
      .consume(c.id, { SAMLResponse: xml }, { ip: '::1', userAgent: null })
      .catch((e: Error) => e);
    const b = await f.service
      .consume('0190c2d4-0000-7000-8000-000000000000', { SAMLResponse: xml }, { ip: '::1', userAgent: null })
      .catch((e: Error) => e);
    const c2 = await f.service.metadata(c.id).catch((e: Error) => e);
    for (const e of [a, b, c2])
      expect(e).toMatchObject({
        code: 'SSO_CONNECTION_NOT_FOUND',
        status: 404,
        message: 'SSO connection not found',
      });
  });

  it('publishes per-connection SP metadata: entity id, consumer URL, NameID format', async () => {
    const c = f.connection();
    const xml = await f.service.metadata(c.id);
    const { entityId, acsUrl } = f.service.urls(c.id);
    expect(xml).toContain(`entityID="${entityId}"`);
    expect(xml).toContain(`Location="${acsUrl}"`);
    expect(xml).toContain('urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST');
    expect(xml).toContain('urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress');
  });
});
