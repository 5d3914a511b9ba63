/**
 * A tiny OpenID provider for the SSO tests: discovery, JWKS, an authorization endpoint that signs in
 * `nextUser` at once (redirecting back with a code), and a token endpoint answering an ID token that a
 * test can spoil on purpose (`tamper`: another issuer or audience, a wrong nonce, expired, unsigned).
 * Codes are single use and bound to the PKCE challenge, like a real provider's.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

export type Tamper = 'issuer' | 'audience' | 'nonce' | 'expired' | 'alg-none' | 'other-key' | null;

export interface FakeUser {
  sub: string;
  email: string;
  email_verified?: boolean;
  name?: string;
  groups?: string[];
}

export interface FakeIdp {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  nextUser: FakeUser;
  tamper: Tamper;
  /** Codes redeemed so far (a replay is refused by the IdP too: `invalid_grant`). */
  readonly redeemed: Set<string>;
  /** Answers codes more than once (to prove the relying party's own single-use state). */
  allowCodeReplay: boolean;
  /** Discovery documents served so far. */
  discoveries: number;
  /** Answers discovery with a 503 while set. */
  failDiscovery: boolean;
  close(): Promise<void>;
}

export async function startFakeIdp(): Promise<FakeIdp> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const other = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const codes = new Map<string, { user: FakeUser; nonce: string; challenge: string; redirect: string }>();
  const state: FakeIdp = {
    issuer: '',
    clientId: `client-${randomBytes(4).toString('hex')}`,
    clientSecret: randomBytes(16).toString('hex'),
    nextUser: { sub: 'u1', email: 'u1@example.test', email_verified: true },
    tamper: null,
    redeemed: new Set(),
    allowCodeReplay: false,
    discoveries: 0,
    failDiscovery: false,
    close: () => new Promise((r) => server.close(() => r())),
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', state.issuer);
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (url.pathname === '/.well-known/openid-configuration') {
        if (state.failDiscovery) return json(503, { error: 'unavailable' });
        state.discoveries++;
        return json(200, {
          issuer: state.issuer,
          authorization_endpoint: `${state.issuer}/authorize`,
          token_endpoint: `${state.issuer}/token`,
          jwks_uri: `${state.issuer}/jwks`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          code_challenge_methods_supported: ['S256'],
          scopes_supported: ['openid', 'email', 'profile'],
          token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
        });
      }
      if (url.pathname === '/jwks') return json(200, { keys: [jwk] });
      if (url.pathname === '/authorize') {
        const p = url.searchParams;
        if (p.get('client_id') !== state.clientId || p.get('code_challenge_method') !== 'S256') {
          return json(400, { error: 'invalid_request' });
        }
        const code = randomBytes(16).toString('hex');
        codes.set(code, {
          user: state.nextUser,
          nonce: p.get('nonce') ?? '',
          challenge: p.get('code_challenge') ?? '',
          redirect: p.get('redirect_uri') ?? '',
        });
        const back = new URL(p.get('redirect_uri')!);
        back.searchParams.set('code', code);
        back.searchParams.set('state', p.get('state') ?? '');
        res.writeHead(302, { location: back.href });
        return res.end();
      }
      if (url.pathname === '/token' && req.method === 'POST') {
        let body = '';
        for await (const chunk of req) body += String(chunk);
        const form = new URLSearchParams(body);
        const code = form.get('code') ?? '';
        const entry = codes.get(code);
        if (!entry || (state.redeemed.has(code) && !state.allowCodeReplay))
          return json(400, { error: 'invalid_grant' });
        const verifier = form.get('code_verifier') ?? '';
        if (createHash('sha256').update(verifier).digest('base64url') !== entry.challenge) {
          return json(400, { error: 'invalid_grant', error_description: 'PKCE' });
        }
        if (form.get('client_id') !== state.clientId || form.get('client_secret') !== state.clientSecret) {
          return json(401, { error: 'invalid_client' });
        }
        state.redeemed.add(code);
        const t = state.tamper;
        const now = Math.floor(Date.now() / 1000);
        const claims = { ...entry.user, nonce: t === 'nonce' ? 'not-the-nonce' : entry.nonce };
        let idToken: string;
        if (t === 'alg-none') {
          const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
          idToken = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({
            ...claims,
            iss: state.issuer,
            aud: state.clientId,
            iat: now,
            exp: now + 300,
          })}.`;
        } else {
          idToken = await new SignJWT(claims)
            .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
            .setIssuer(t === 'issuer' ? 'https://evil.example.test' : state.issuer)
            .setAudience(t === 'audience' ? 'another-client' : state.clientId)
            .setSubject(entry.user.sub)
            .setIssuedAt(t === 'expired' ? now - 7200 : now)
            .setExpirationTime(t === 'expired' ? now - 3600 : now + 300)
            .sign(t === 'other-key' ? other.privateKey : privateKey);
        }
        return json(200, {
          access_token: randomBytes(16).toString('hex'),
          token_type: 'Bearer',
          expires_in: 300,
          id_token: idToken,
        });
      }
      json(404, { error: 'not_found' });
    })().catch(() => {
      res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  (state as { issuer: string }).issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}
