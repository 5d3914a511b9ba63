import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as samlify from 'samlify';
import { IDP_ENTITY_ID } from './saml.test-idp.js';
import { samlFixture, type SamlFixture } from './saml.test-support.js';

/**
 * Interoperability with another implementation: samlify acts as the IdP. It reads our SP metadata,
 * parses our AuthnRequest from the redirect URL, and answers with a response it signs itself; we accept
 * it. (samlify checks XML against the SAML schemas only through a validator it is given: here a
 * permissive one, since what is under test is our side.)
 */
describe('SAML sign-in with samlify as the identity provider', () => {
  let f: SamlFixture;
  beforeAll(async () => {
    f = await samlFixture();
    samlify.setSchemaValidator({ validate: () => Promise.resolve('skipped') });
  });
  afterAll(async () => {
    await f.close();
  });

  it('our AuthnRequest is read by samlify, and its signed answer signs the user in', async () => {
    const c = f.connection();
    const sp = samlify.ServiceProvider({ metadata: await f.service.metadata(c.id) });
    const idp = samlify.IdentityProvider({
      entityID: IDP_ENTITY_ID,
      privateKey: f.keys.privateKey,
      signingCert: f.keys.cert,
      isAssertionEncrypted: false,
      wantAuthnRequestsSigned: false,
      nameIDFormat: ['urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'],
      singleSignOnService: [
        {
          Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
          Location: 'https://idp.example.test/sso',
        },
      ],
    });
    const { flowId, requestId, redirectUrl } = await f.start(c, '/welcome');
    const query = Object.fromEntries(new URL(redirectUrl).searchParams);
    const parsed = await idp.parseLoginRequest(sp, 'redirect', { query, octetString: '' });
    expect(parsed.extract.request?.id).toBe(requestId);
    expect(parsed.extract.issuer).toBe(f.service.urls(c.id).entityId);

    const answer = (await idp.createLoginResponse(
      sp,
      parsed as unknown as Parameters<typeof idp.createLoginResponse>[1],
      'post',
      { email: 'Linus@Acme.Example' },
      undefined,
      false,
      flowId,
    )) as { context: string; relayState?: string };
    const r = await f.service.consume(
      c.id,
      { SAMLResponse: answer.context, RelayState: flowId },
      { ip: '198.51.100.7', userAgent: 'test' },
    );
    expect(r.profile.email).toBe('linus@acme.example');
    expect(r.redirectTo).toBe('/welcome');
  });
});
