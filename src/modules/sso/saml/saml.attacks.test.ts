import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertionXml, signAssertion, signResponse, wrapResponse } from './saml.test-idp.js';
import { refusalOf, samlFixture, type SamlFixture } from './saml.test-support.js';
import type { SamlConnection } from './saml.types.js';

/**
 * Crafted responses. The attacker holds a response the IdP really signed for THEIR OWN account
 * (mallory@acme.example) and rearranges it so that a careless verifier reads another account
 * (ceo@acme.example) while still finding a valid signature somewhere. Every test here proves the victim
 * is never signed in: the response is refused, and nothing reaches the sign-in completion.
 */
const VICTIM = 'ceo@acme.example';
const ATTACKER = 'mallory@acme.example';

const SIGNATURE = /<Signature xmlns="http:\/\/www\.w3\.org\/2000\/09\/xmldsig#">[\s\S]*?<\/Signature>/;
const digestOf = (xml: string) => /<DigestValue>([^<]+)<\/DigestValue>/.exec(xml)![1]!;
const idOf = (xml: string) => /<saml:Assertion [^>]*ID="([^"]+)"/.exec(xml)![1]!;

describe('SAML sign-in refuses signature wrapping and comment tricks', () => {
  let f: SamlFixture;
  let c: SamlConnection;
  beforeAll(async () => {
    f = await samlFixture();
    c = f.connection();
  });
  afterAll(async () => {
    await f.close();
  });

  /** A fresh request and the IdP's genuine signed assertion for the attacker, answering it. */
  async function genuine() {
    const { requestId, flowId } = await f.start(c);
    const o = f.opts(c, { inResponseTo: requestId, nameId: ATTACKER });
    const signed = signAssertion(assertionXml(o), f.keys);
    /** The same assertion, unsigned, naming the victim (what the attacker wants read). */
    const evil = assertionXml({ ...o, nameId: VICTIM, assertionId: `_evil${requestId}` });
    return { o, flowId, signed, evil };
  }

  /** Posts and checks nobody was signed in by it. */
  async function refusal(xml: string, flowId: string): Promise<string> {
    const before = f.completed.length;
    const r = await refusalOf(f.post(c, xml, flowId));
    expect(f.completed.slice(before).map((x) => x.profile.email)).not.toContain(VICTIM);
    return r;
  }

  it('control: the genuine response is accepted, as the attacker', async () => {
    const g = await genuine();
    const r = await f.post(c, wrapResponse(g.signed, g.o), g.flowId);
    expect(r.profile.email).toBe(ATTACKER);
  });

  it('XSW: an unsigned assertion placed BEFORE the signed one is refused (one assertion per response)', async () => {
    const g = await genuine();
    expect(await refusal(wrapResponse(g.evil + g.signed, g.o), g.flowId)).toBe('signature');
  });

  it('XSW: an unsigned assertion placed AFTER the signed one is refused', async () => {
    const g = await genuine();
    expect(await refusal(wrapResponse(g.signed + g.evil, g.o), g.flowId)).toBe('signature');
  });

  it('XSW: the signed assertion moved into samlp:Extensions, an unsigned one in its place, is refused', async () => {
    const g = await genuine();
    const xml = wrapResponse(`<samlp:Extensions>${g.signed}</samlp:Extensions>${g.evil}`, g.o);
    expect(await refusal(xml, g.flowId)).toBe('signature');
  });

  it('XSW: the evil assertion carries the genuine signature, the signed one hidden in its ds:Object, refused', async () => {
    const g = await genuine();
    const signature = SIGNATURE.exec(g.signed)![0];
    const wrapped = signature.replace('</Signature>', `<Object>${g.signed}</Object></Signature>`);
    const evil = g.evil.replace('</saml:Issuer>', `</saml:Issuer>${wrapped}`);
    expect(await refusal(wrapResponse(evil, g.o), g.flowId)).toBe('signature');
  });

  it('XSW: the evil assertion takes the signed one’s ID (duplicate IDs), the signed one in Extensions, refused', async () => {
    const g = await genuine();
    const signature = SIGNATURE.exec(g.signed)![0];
    const evil = g.evil
      .replace(/ID="[^"]+"/, `ID="${idOf(g.signed)}"`)
      .replace('</saml:Issuer>', `</saml:Issuer>${signature}`);
    const xml = wrapResponse(`<samlp:Extensions>${g.signed}</samlp:Extensions>${evil}`, g.o);
    expect(await refusal(xml, g.flowId)).toBe('signature');
  });

  it('XSW on a signed response: a new unsigned Response around the signed one (in ds:Object) is refused', async () => {
    const rc = f.connection({ wantResponseSigned: true, wantAssertionsSigned: false });
    const { requestId, flowId } = await f.start(rc);
    const o = f.opts(rc, { inResponseTo: requestId, nameId: ATTACKER });
    const signedResponse = signResponse(wrapResponse(assertionXml(o), o), f.keys);
    const signature = SIGNATURE.exec(signedResponse)![0];
    const inner = signedResponse.replace(/^<\?xml[^>]*>/, '');
    const outerSig = signature.replace('</Signature>', `<Object>${inner}</Object></Signature>`);
    const outer = wrapResponse(assertionXml({ ...o, nameId: VICTIM }), o).replace(
      '</saml:Issuer>',
      `</saml:Issuer>${outerSig}`,
    );
    const before = f.completed.length;
    expect(await refusalOf(f.post(rc, outer, flowId))).toBe('signature');
    expect(f.completed.length).toBe(before);
  });

  /** The genuine signed assertion with its NameID changed to the victim, and the digest such a change needs. */
  async function tampered() {
    const g = await genuine();
    const modified = g.signed.replace(`>${ATTACKER}<`, `>${VICTIM}<`);
    // The digest of the modified assertion (signature removed), as a verifier would compute it: signing
    // the modified content with any key yields it.
    const evilDigest = digestOf(signAssertion(modified.replace(SIGNATURE, ''), f.otherKeys));
    expect(evilDigest).not.toBe(digestOf(g.signed));
    return { ...g, modified, evilDigest, origDigest: digestOf(g.signed) };
  }

  it('a modified assertion under the genuine signature is refused (the digest no longer matches)', async () => {
    const t = await tampered();
    expect(await refusal(wrapResponse(t.modified, t.o), t.flowId)).toBe('signature');
  });

  it('CVE-2024-45409 shape (ruby-saml): a forged DigestValue placed earlier in the document is not the one read', async () => {
    // A verifier finding "the" DigestValue by a document-wide XPath would read this one, which matches the
    // modified assertion; the signed SignedInfo still holds the genuine digest.
    const t = await tampered();
    const decoy = `<samlp:Extensions><Reference xmlns="http://www.w3.org/2000/09/xmldsig#"><DigestValue>${t.evilDigest}</DigestValue></Reference></samlp:Extensions>`;
    expect(await refusal(wrapResponse(decoy + t.modified, t.o), t.flowId)).toBe('signature');
    const t2 = await tampered();
    const inSubject = t2.modified.replace(
      '<saml:Subject>',
      `<saml:Subject><DigestValue xmlns="http://www.w3.org/2000/09/xmldsig#">${t2.evilDigest}</DigestValue>`,
    );
    expect(await refusal(wrapResponse(inSubject, t2.o), t2.flowId)).toBe('signature');
  });

  it('CVE-2025-29775 shape (xml-crypto): a comment in DigestValue holding the forged digest is refused', async () => {
    // Canonicalization drops the comment, so SignedInfo still verifies; a verifier reading the
    // DigestValue's first child would compare against the forged digest in the comment.
    const t = await tampered();
    const xml = t.modified.replace(
      `<DigestValue>${t.origDigest}</DigestValue>`,
      `<DigestValue><!--${t.evilDigest}-->${t.origDigest}</DigestValue>`,
    );
    expect(await refusal(wrapResponse(xml, t.o), t.flowId)).toBe('signature');
  });

  it('CVE-2025-29774 shape (xml-crypto): a second SignedInfo with the forged digest is refused', async () => {
    for (const forgedFirst of [true, false]) {
      const t = await tampered();
      const signedInfo = /<SignedInfo>[\s\S]*?<\/SignedInfo>/.exec(t.modified)![0];
      const forged = signedInfo.replace(t.origDigest, t.evilDigest);
      const both = forgedFirst ? forged + signedInfo : signedInfo + forged;
      const xml = t.modified.replace(signedInfo, both);
      expect(await refusal(wrapResponse(xml, t.o), t.flowId)).toBe('signature');
    }
  });

  it('CVE-2017-11428 family: a comment inside the signed NameID does not truncate it', async () => {
    // The IdP signed mallory's own address ceo@acme.example.evil.test; canonicalization ignores comments,
    // so the signature still holds after one is inserted. A parser taking the first text node would read
    // ceo@acme.example. Here the whole address is read: the one the IdP vouched for.
    const { requestId, flowId } = await f.start(c);
    const o = f.opts(c, { inResponseTo: requestId, nameId: `${VICTIM}.evil.test` });
    const signed = signAssertion(assertionXml(o), f.keys).replace(
      `>${VICTIM}.evil.test<`,
      `>${VICTIM}<!---->.evil.test<`,
    );
    expect(signed).toContain('<!---->');
    const r = await f.post(c, wrapResponse(signed, o), flowId);
    expect(r.profile.email).toBe(`${VICTIM}.evil.test`);
    expect(r.profile.subject).toBe(`${VICTIM}.evil.test`);
  });

  it('a comment inside an email attribute value does not truncate it either', async () => {
    const ac = f.connection({ emailAttribute: 'mail' });
    const { requestId, flowId } = await f.start(ac);
    const o = f.opts(ac, { inResponseTo: requestId, attributes: { mail: `${VICTIM}.evil.test` } });
    const signed = signAssertion(assertionXml(o), f.keys).replace(
      `>${VICTIM}.evil.test<`,
      `>${VICTIM}<!---->.evil.test<`,
    );
    const r = await f.post(ac, wrapResponse(signed, o), flowId);
    expect(r.profile.email).toBe(`${VICTIM}.evil.test`);
  });

  describe('XML bombs and external entities', () => {
    const laughs =
      '<!DOCTYPE samlp:Response [<!ENTITY lol "lol">' +
      Array.from(
        { length: 9 },
        (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`,
      ).join('') +
      ']>';
    const external = '<!DOCTYPE samlp:Response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>';

    /** A genuine signed response with a DOCTYPE put in front and an entity reference in the NameID. */
    async function withDoctype(doctype: string, entity: string) {
      const g = await genuine();
      const xml = wrapResponse(g.signed, g.o)
        .replace(/^(<\?xml[^>]*\?>)?/, (decl) => `${decl}${doctype}`)
        .replace(`>${ATTACKER}<`, `>${entity}${ATTACKER}<`);
      expect(xml).toContain('<!DOCTYPE');
      return { xml, flowId: g.flowId };
    }

    for (const [name, doctype, entity] of [
      ['billion laughs', laughs, '&lol9;'],
      ['an external entity', external, '&xxe;'],
      ['a DOCTYPE without entities', '<!DOCTYPE samlp:Response>', ''],
    ] as const) {
      it(`${name}: refused as malformed, at once, nothing expanded`, async () => {
        const { xml, flowId } = await withDoctype(doctype, entity);
        const started = Date.now();
        expect(await refusal(xml, flowId)).toBe('malformed');
        expect(Date.now() - started).toBeLessThan(1000);
        // The answer over HTTP: 401 SAML_RESPONSE_REFUSED, as for every refused response.
        await expect(f.post(c, xml, flowId)).rejects.toMatchObject({
          code: 'SAML_RESPONSE_REFUSED',
          status: 401,
          refusal: 'malformed',
        });
      });
    }
  });
});
