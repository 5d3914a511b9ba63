/**
 * A real OpenID Connect provider (`oidc-provider`) in process, standing in for Google and the like in the
 * social sign-in tests: discovery, JWKS, authorization with PKCE, the token endpoint, and its built-in
 * login and consent pages (any password is accepted for a known login). `tamperIdToken` re-signs the next
 * ID tokens with changed claims (wrong issuer, audience, nonce), with the provider's own key, so only the
 * claim checks can catch them.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  SignJWT,
  type JWK,
} from 'jose';
import Provider from 'oidc-provider';

export interface IdpAccount {
  email?: string;
  email_verified?: boolean;
  name?: string;
}

export interface OidcIdp {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Logins the provider knows (login → claims); the login is the subject. */
  readonly accounts: Map<string, IdpAccount>;
  /** Changes the claims of ID tokens from the token endpoint while set. */
  tamperIdToken: ((claims: Record<string, unknown>) => Record<string, unknown>) | null;
  close(): Promise<void>;
}

/**
 * Starts the provider. Without `redirectUris` it listens (its issuer known) but answers nothing until
 * `allowRedirects` names the relying party's callbacks (an app whose port is chosen after the issuer).
 */
export async function startOidcIdp(
  opts: { redirectUris?: string[]; clientId?: string } = {},
): Promise<OidcIdp & { allowRedirects(uris: string[]): void }> {
  const clientId = opts.clientId ?? 'social-test-client';
  const clientSecret = `secret-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk: JWK = { ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  const signingKey = await importJWK(jwk, 'RS256');
  const accounts = new Map<string, IdpAccount>();
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const build = (redirectUris: string[]) =>
    new Provider(issuer, {
      clients: [
        {
          client_id: clientId,
          client_secret: clientSecret,
          redirect_uris: redirectUris,
          grant_types: ['authorization_code'],
          response_types: ['code'],
        },
      ],
      jwks: { keys: [jwk] },
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
      // As Google does: the scoped claims in the ID token itself.
      conformIdTokenClaims: false,
      cookies: { keys: ['test-cookie-key-0123456789'] },
      ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600 },
      features: { devInteractions: { enabled: true } },
      findAccount: (_ctx, sub) => {
        const account = accounts.get(sub);
        if (!account) return undefined;
        return { accountId: sub, claims: () => ({ sub, ...account }) };
      },
    });
  let handle: ReturnType<Provider['callback']> | undefined;
  if (opts.redirectUris) handle = build(opts.redirectUris).callback();
  const idp: OidcIdp & { allowRedirects(uris: string[]): void } = {
    issuer,
    clientId,
    clientSecret,
    accounts,
    tamperIdToken: null,
    allowRedirects: (uris) => {
      handle = build(uris).callback();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  server.on('request', (req, res: ServerResponse) => {
    if (idp.tamperIdToken && req.method === 'POST' && req.url?.startsWith('/token')) {
      const tamper = idp.tamperIdToken;
      const end = res.end.bind(res) as (chunk?: unknown) => ServerResponse;
      // Koa answers with one end(body) after setting its headers: swap the ID token for a re-signed one.
      res.end = ((chunk?: unknown) => {
        void (async () => {
          const body = JSON.parse(String(chunk)) as { id_token?: string };
          if (body.id_token) {
            const header = decodeProtectedHeader(body.id_token);
            const claims = tamper({ ...decodeJwt(body.id_token) });
            body.id_token = await new SignJWT(claims)
              .setProtectedHeader({ alg: 'RS256', kid: header.kid ?? 'test-key' })
              .sign(signingKey);
          }
          const text = JSON.stringify(body);
          res.setHeader('content-length', Buffer.byteLength(text));
          end(text);
        })();
        return res;
      }) as typeof res.end;
    }
    if (!handle) {
      res.writeHead(503).end();
      return;
    }
    void handle(req, res);
  });
  return idp;
}

/**
 * Signs in at the provider the way a browser would with its built-in pages (cookies kept, login form
 * and consent form posted), starting from the authorization URL; returns the URL the provider
 * redirected to (the relying party's callback with `code`, `state` and `iss`).
 */
export async function signInAtIdp(
  authorizationUrl: string,
  login: string,
  callbackPrefix: string,
): Promise<string> {
  const jar = new Map<string, string>();
  const keep = (res: Response) => {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  let url = authorizationUrl;
  let form: URLSearchParams | undefined;
  for (let hop = 0; hop < 20; hop++) {
    if (url.startsWith(callbackPrefix)) return url;
    const res = await fetch(url, {
      method: form ? 'POST' : 'GET',
      redirect: 'manual',
      headers: {
        cookie: cookie(),
        ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      body: form?.toString(),
    });
    keep(res);
    form = undefined;
    const location = res.headers.get('location');
    if (location) {
      url = new URL(location, url).href;
      continue;
    }
    const html = await res.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    if (!action) throw new Error(`the provider answered ${res.status} without a form: ${html.slice(0, 300)}`);
    const prompt = /name="prompt" value="([^"]+)"/.exec(html)?.[1] ?? 'login';
    form = new URLSearchParams(prompt === 'login' ? { prompt, login, password: 'any' } : { prompt });
    url = new URL(action, url).href;
  }
  throw new Error('too many hops at the provider');
}
