import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertionXml, buildResponseXml, signAssertion, wrapResponse } from './saml.test-idp.js';
import { refusalOf, samlFixture, type SamlFixture } from './saml.test-support.js';

describe('SAML sign-in: IdP-initiated responses (no InResponseTo)', () => {
  let f: SamlFixture;
  beforeAll(async () => {
    f = await samlFixture();
  });
  afterAll(async () => {
    await f.close();
  });

  it('are refused while the connection does not allow them (the default)', async () => {
    const c = f.connection();
    const xml = buildResponseXml(f.opts(c));
    expect(await refusalOf(f.post(c, xml))).toBe('idp_initiated');
  });

  it('are accepted when allowed; the return path from RelayState only if same-origin', async () => {
    const c = f.connection({ allowIdpInitiated: true });
    const r = await f.post(c, buildResponseXml(f.opts(c)), '/projects?x=1');
    expect(r.redirectTo).toBe('/projects?x=1');
    expect(r.profile.email).toBe('ada@acme.example');
    for (const relay of [
      'https://evil.example/',
      '//evil.example/x',
      '/\\evil.example',
      'javascript:alert(1)',
    ]) {
      expect((await f.post(c, buildResponseXml(f.opts(c)), relay)).redirectTo).toBe('/');
    }
  });

  it('stay single-use when allowed: the same response posted twice is refused the second time', async () => {
    const c = f.connection({ allowIdpInitiated: true });
    const xml = buildResponseXml(f.opts(c));
    expect(await refusalOf(f.post(c, xml))).toBe('accepted');
    expect(await refusalOf(f.post(c, xml))).toBe('replay');
  });

  it('keep the time window when allowed: expired, or confirmed for another recipient, is refused', async () => {
    const c = f.connection({ allowIdpInitiated: true });
    const past = { notBefore: new Date(Date.now() - 600_000), notOnOrAfter: new Date(Date.now() - 120_000) };
    expect(await refusalOf(f.post(c, buildResponseXml(f.opts(c, past))))).toBe('time');
    const elsewhere = buildResponseXml(f.opts(c, { recipient: 'https://other-sp.example.test/acs' }));
    expect(await refusalOf(f.post(c, elsewhere))).toBe('recipient');
  });

  it('cannot be made of an SP-initiated assertion by dropping the response’s InResponseTo', async () => {
    // The signed confirmation answers a request; the unsigned envelope claims none.
    const c = f.connection({ allowIdpInitiated: true });
    const { requestId } = await f.start(c);
    const o = f.opts(c, { inResponseTo: requestId });
    const xml = wrapResponse(signAssertion(assertionXml(o), f.keys), { ...o, inResponseTo: null });
    expect(await refusalOf(f.post(c, xml))).toBe('in_response_to');
  });
});

describe('SAML sign-in across organizations', () => {
  let f: SamlFixture;
  beforeAll(async () => {
    f = await samlFixture();
  });
  afterAll(async () => {
    await f.close();
  });

  it('a response signed by organization A’s IdP, addressed to B’s connection, is refused by B’s certificate', async () => {
    const a = f.connection({ organizationId: f.orgA, idpCertificates: [f.keys.cert] });
    const b = f.connection({ organizationId: f.orgB, idpCertificates: [f.otherKeys.cert] });
    expect(a.id).not.toBe(b.id);
    const { requestId, flowId } = await f.start(b);
    // Everything is right for B (audience, recipient, request) except the key: it is A's IdP's.
    const xml = buildResponseXml(f.opts(b, { inResponseTo: requestId, keys: f.keys, signResponse: true }));
    const before = f.completed.length;
    expect(await refusalOf(f.post(b, xml, flowId))).toBe('signature');
    expect(f.completed.length).toBe(before);
  });

  it('A’s genuine response posted to B’s consumer URL is refused (signature, audience, recipient all differ)', async () => {
    const a = f.connection({ organizationId: f.orgA, idpCertificates: [f.keys.cert] });
    const b = f.connection({ organizationId: f.orgB, idpCertificates: [f.otherKeys.cert] });
    const { requestId, flowId } = await f.start(a);
    const xml = buildResponseXml(f.opts(a, { inResponseTo: requestId }));
    expect(await refusalOf(f.post(b, xml, flowId))).not.toBe('accepted');
    // ... and A's own consumer URL still takes it (A's request was not consumed by the attempt on B).
    expect(await refusalOf(f.post(a, xml, flowId))).toBe('accepted');
  });

  it('A’s connection vouching for an address of B’s domain hands the core a profile of A only', async () => {
    // Whether the address may sign in is the core's decision (verified domains of the connection's own
    // organization); SAML never names another organization than the connection's.
    const a = f.connection({ organizationId: f.orgA });
    const { requestId, flowId } = await f.start(a);
    const xml = buildResponseXml(f.opts(a, { inResponseTo: requestId, nameId: 'someone@b-corp.example' }));
    const r = await f.post(a, xml, flowId);
    expect(r.profile.organizationId).toBe(f.orgA);
    expect(f.completed.at(-1)!.profile.organizationId).toBe(f.orgA);
  });

  it('pending requests and replay entries of one organization are invisible to another', async () => {
    const a = f.connection({ organizationId: f.orgA });
    const { requestId } = await f.start(a);
    // B's connection pointing at A's request id: not found in B's rows.
    const b = f.connection({ organizationId: f.orgB });
    const xml = buildResponseXml(f.opts(b, { inResponseTo: requestId }));
    expect(await refusalOf(f.post(b, xml))).toBe('in_response_to');
  });
});
