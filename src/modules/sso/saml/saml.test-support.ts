import { randomUUID } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { createTestOrg, createTestTenancy } from '../../../../test/support/tenancy.js';
import type { Tenancy } from '../../../platform/tenancy/tenancy.js';
import { createSamlService, type SamlService } from './saml.service.js';
import {
  IDP_ENTITY_ID,
  b64,
  buildResponseXml,
  makeIdpKeys,
  type ResponseOptions,
  type TestIdpKeys,
} from './saml.test-idp.js';
import type { SamlConnection, SamlProfile } from './saml.types.js';
import type { SsoFlowStart } from '../sso.contract.js';

export const PUBLIC_URL = 'https://app.example.test';

/** A service over the test database, with connections in memory and a recording sign-in completion. */
export interface SamlFixture {
  tenancy: Tenancy;
  service: SamlService;
  connections: Map<string, SamlConnection>;
  completed: { profile: SamlProfile; meta: { ip: string; userAgent?: string | null } }[];
  /** The core's pending flows (in memory here). */
  flows: Map<string, SsoFlowStart & { connectionId: string }>;
  keys: TestIdpKeys;
  otherKeys: TestIdpKeys;
  orgA: string;
  orgB: string;
  /** Adds a connection (defaults: active, org A, the test IdP's certificate, SP-initiated only). */
  connection(over?: Partial<SamlConnection>): SamlConnection;
  /** Starts an SP-initiated sign-in: the AuthnRequest id and the flow id (RelayState). */
  start(
    c: SamlConnection,
    returnTo?: string,
  ): Promise<{ requestId: string; flowId: string; redirectUrl: string }>;
  /** Response options for connection `c` (its audience and consumer URL) signed by the test IdP. */
  opts(c: SamlConnection, over?: Partial<ResponseOptions>): ResponseOptions;
  post(c: SamlConnection, xml: string, relayState?: string): ReturnType<SamlService['consume']>;
  close(): Promise<void>;
}

export async function samlFixture(): Promise<SamlFixture> {
  const tenancy = createTestTenancy(4);
  const connections = new Map<string, SamlConnection>();
  const completed: SamlFixture['completed'] = [];
  const flows: SamlFixture['flows'] = new Map();
  const service = createSamlService({
    connections: { findById: (id) => Promise.resolve(connections.get(id) ?? null) },
    withTenant: tenancy.withTenant,
    publicUrl: PUBLIC_URL,
    signIn: {
      complete: (profile, meta) => {
        completed.push({ profile: profile as SamlProfile, meta });
        return Promise.resolve({
          token: 'token',
          sessionId: randomUUID(),
          userId: randomUUID(),
          organizationId: profile.organizationId,
          provisioned: true,
          absoluteExpiresAt: new Date(Date.now() + 3_600_000),
        });
      },
      consumeFlow: (flowId) => {
        const flow = flows.get(flowId) ?? null;
        flows.delete(flowId);
        return Promise.resolve(flow);
      },
    },
    sessionCookie: (token) => `sid=${token}; Path=/; HttpOnly`,
  });
  const [keys, otherKeys] = await Promise.all([makeIdpKeys(), makeIdpKeys('attacker.example.test')]);
  const orgA = await createTestOrg(tenancy, 'samla');
  const orgB = await createTestOrg(tenancy, 'samlb');
  const f: SamlFixture = {
    tenancy,
    service,
    connections,
    completed,
    flows,
    keys,
    otherKeys,
    orgA,
    orgB,
    connection(over = {}) {
      const c: SamlConnection = {
        id: randomUUID(),
        organizationId: orgA,
        active: true,
        idpEntityId: IDP_ENTITY_ID,
        idpSsoUrl: 'https://idp.example.test/sso',
        idpCertificates: [keys.cert],
        wantAssertionsSigned: true,
        wantResponseSigned: false,
        allowIdpInitiated: false,
        emailAttribute: null,
        groupsAttribute: 'groups',
        ...over,
      };
      connections.set(c.id, c);
      return c;
    },
    async start(c, returnTo = '/') {
      const flowId = randomUUID();
      flows.set(flowId, { flowId, returnTo, nonce: randomUUID(), codeVerifier: '', connectionId: c.id });
      const { redirectUrl } = await service.startSignIn(c, { flowId, returnTo });
      const request = new URL(redirectUrl).searchParams.get('SAMLRequest')!;
      const xml = inflateRawSync(Buffer.from(request, 'base64')).toString('utf8');
      const requestId = /\sID="([^"]+)"/.exec(xml)![1]!;
      return { requestId, flowId, redirectUrl };
    },
    opts(c, over = {}) {
      const { entityId, acsUrl } = service.urls(c.id);
      return { keys, acsUrl, audience: entityId, ...over };
    },
    post(c, xml, relayState) {
      return service.consume(
        c.id,
        { SAMLResponse: b64(xml), RelayState: relayState },
        { ip: '203.0.113.9', userAgent: 'test' },
      );
    },
    close: () => tenancy.close(),
  };
  return f;
}

/** The refusal reason of a rejected promise ('accepted' when it resolved). */
export async function refusalOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'accepted';
  } catch (e) {
    const err = e as { code?: string; refusal?: string; message?: string };
    if (err.code === 'SAML_RESPONSE_REFUSED') return err.refusal ?? 'unknown';
    return `error:${err.code ?? err.message}`;
  }
}

export { buildResponseXml };
