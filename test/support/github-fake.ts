/**
 * A tiny local stand-in for github.com's OAuth endpoints and api.github.com's `/user` and `/user/emails`
 * (the only thing the GitHub sign-in tests replace; the code under test talks to it over real HTTP with
 * its own client). The authorization endpoint approves at once as the account in `signInAs`; the token
 * endpoint checks the client, the code, the redirect URI and the PKCE verifier, as GitHub does.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeGithubUser {
  id: number;
  login: string;
  name: string | null;
  emails: { email: string; primary: boolean; verified: boolean }[];
}

export interface FakeGithub {
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Who approves at the authorization endpoint. */
  signInAs: FakeGithubUser | null;
  /** Token requests refused so far (wrong client, code, redirect or verifier). */
  readonly refusals: string[];
  close(): Promise<void>;
}

const body = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let s = '';
    req.on('data', (c: Buffer) => (s += c.toString()));
    req.on('end', () => resolve(s));
  });

export async function startFakeGithub(): Promise<FakeGithub> {
  const codes = new Map<string, { user: FakeGithubUser; challenge: string; redirectUri: string }>();
  const tokens = new Map<string, FakeGithubUser>();
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', fake.url);
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      };
      if (req.method === 'GET' && url.pathname === '/login/oauth/authorize') {
        const p = url.searchParams;
        if (
          p.get('client_id') !== fake.clientId ||
          p.get('code_challenge_method') !== 'S256' ||
          !fake.signInAs
        ) {
          return json(400, { error: 'bad authorization request' });
        }
        const code = randomBytes(10).toString('hex');
        codes.set(code, {
          user: fake.signInAs,
          challenge: p.get('code_challenge')!,
          redirectUri: p.get('redirect_uri')!,
        });
        const back = new URL(p.get('redirect_uri')!);
        back.searchParams.set('code', code);
        back.searchParams.set('state', p.get('state') ?? '');
        res.writeHead(302, { location: back.href }).end();
        return;
      }
      if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
        const form = new URLSearchParams(await body(req));
        const basic = req.headers.authorization?.startsWith('Basic ')
          ? Buffer.from(req.headers.authorization.slice(6), 'base64')
              .toString()
              .split(':')
              .map(decodeURIComponent)
          : [form.get('client_id'), form.get('client_secret')];
        const grant = codes.get(form.get('code') ?? '');
        codes.delete(form.get('code') ?? '');
        const verifier = form.get('code_verifier') ?? '';
        const why =
          basic[0] !== fake.clientId || basic[1] !== fake.clientSecret
            ? 'client'
            : !grant
              ? 'code'
              : grant.redirectUri !== form.get('redirect_uri')
                ? 'redirect_uri'
                : createHash('sha256').update(verifier).digest('base64url') !== grant.challenge
                  ? 'code_verifier'
                  : null;
        if (why || !grant) {
          fake.refusals.push(why ?? 'code');
          // GitHub answers refusals with 200 and an error body.
          return json(200, { error: 'bad_verification_code', error_description: why });
        }
        const token = `gho_${randomBytes(16).toString('hex')}`;
        tokens.set(token, grant.user);
        return json(200, { access_token: token, token_type: 'bearer', scope: 'read:user,user:email' });
      }
      const auth = req.headers.authorization ?? '';
      const user = tokens.get(auth.replace(/^(Bearer|token) /i, ''));
      if (req.method === 'GET' && (url.pathname === '/user' || url.pathname === '/user/emails')) {
        if (!user) return json(401, { message: 'Bad credentials' });
        if (url.pathname === '/user') return json(200, { id: user.id, login: user.login, name: user.name });
        return json(
          200,
          user.emails.map((e) => ({ ...e, visibility: e.primary ? 'private' : null })),
        );
      }
      json(404, { message: 'Not Found' });
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const fake: FakeGithub = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    clientId: 'gh-test-client',
    clientSecret: `gh-secret-${randomBytes(8).toString('hex')}`,
    signInAs: null,
    refusals: [],
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return fake;
}
