import { describe, expect, it } from 'vitest';
import { socialSignInConfig } from './config-social.js';

const fail = (variable: string, message: string) => Object.assign(new Error(message), { variable });
const load = (env: Record<string, string>) => socialSignInConfig(env, fail);

describe('SOCIAL_* configuration', () => {
  it('no SOCIAL_PROVIDERS: no providers', () => {
    expect(load({})).toEqual({ providers: [] });
  });

  it('presets with their endpoints, each overridable', () => {
    const { providers } = load({
      SOCIAL_PROVIDERS: 'google, microsoft,github,oidc:acme-sso',
      SOCIAL_GOOGLE_CLIENT_ID: 'g-id',
      SOCIAL_GOOGLE_CLIENT_SECRET: 'g-secret',
      SOCIAL_MICROSOFT_CLIENT_ID: 'm-id',
      SOCIAL_MICROSOFT_CLIENT_SECRET: 'm-secret',
      SOCIAL_MICROSOFT_TENANT: 'organizations',
      SOCIAL_GITHUB_CLIENT_ID: 'gh-id',
      SOCIAL_GITHUB_CLIENT_SECRET: 'gh-secret',
      SOCIAL_GITHUB_API_URL: 'http://127.0.0.1:9999',
      SOCIAL_OIDC_ACME_SSO_CLIENT_ID: 'a-id',
      SOCIAL_OIDC_ACME_SSO_CLIENT_SECRET: 'a-secret',
      SOCIAL_OIDC_ACME_SSO_ISSUER: 'https://id.acme.example/',
      SOCIAL_OIDC_ACME_SSO_LABEL: 'Acme',
      SOCIAL_OIDC_ACME_SSO_SCOPES: 'openid email',
    });
    expect(providers.map((p) => [p.id, p.label])).toEqual([
      ['google', 'Google'],
      ['microsoft', 'Microsoft'],
      ['github', 'GitHub'],
      ['oidc:acme-sso', 'Acme'],
    ]);
    expect(providers[0]).toMatchObject({ kind: 'oidc', issuer: 'https://accounts.google.com' });
    expect(providers[1]).toMatchObject({
      issuer: 'https://login.microsoftonline.com/organizations/v2.0',
      microsoftTenant: 'organizations',
    });
    expect(providers[2]).toMatchObject({
      kind: 'github',
      authorizationUrl: 'https://github.com/login/oauth/authorize',
      tokenUrl: 'https://github.com/login/oauth/access_token',
      apiUrl: 'http://127.0.0.1:9999',
    });
    expect(providers[3]).toMatchObject({ issuer: 'https://id.acme.example', scopes: ['openid', 'email'] });
  });

  it('refuses what cannot work, naming the variable and never the secret', () => {
    const refusal = (env: Record<string, string>) => {
      try {
        load(env);
      } catch (err) {
        return { variable: (err as { variable: string }).variable, message: (err as Error).message };
      }
      throw new Error('accepted');
    };
    expect(refusal({ SOCIAL_PROVIDERS: 'google' }).variable).toBe('SOCIAL_GOOGLE_CLIENT_ID');
    expect(refusal({ SOCIAL_PROVIDERS: 'google', SOCIAL_GOOGLE_CLIENT_ID: 'x' }).variable).toBe(
      'SOCIAL_GOOGLE_CLIENT_SECRET',
    );
    expect(refusal({ SOCIAL_PROVIDERS: 'facebook' }).variable).toBe('SOCIAL_PROVIDERS');
    expect(refusal({ SOCIAL_PROVIDERS: 'google,google' }).variable).toBe('SOCIAL_PROVIDERS');
    const base = {
      SOCIAL_PROVIDERS: 'oidc:x',
      SOCIAL_OIDC_X_CLIENT_ID: 'i',
      SOCIAL_OIDC_X_CLIENT_SECRET: 'very-secret',
    };
    expect(refusal(base).variable).toBe('SOCIAL_OIDC_X_ISSUER');
    const plain = refusal({ ...base, SOCIAL_OIDC_X_ISSUER: 'http://id.example.com' });
    expect(plain.variable).toBe('SOCIAL_OIDC_X_ISSUER');
    expect(plain.message).not.toContain('very-secret');
    expect(
      refusal({ ...base, SOCIAL_OIDC_X_ISSUER: 'https://id.example.com', SOCIAL_OIDC_X_SCOPES: 'email' })
        .variable,
    ).toBe('SOCIAL_OIDC_X_SCOPES');
    expect(
      refusal({
        SOCIAL_PROVIDERS: 'microsoft',
        SOCIAL_MICROSOFT_CLIENT_ID: 'i',
        SOCIAL_MICROSOFT_CLIENT_SECRET: 's',
        SOCIAL_MICROSOFT_TENANT: 'evil/x',
      }).variable,
    ).toBe('SOCIAL_MICROSOFT_TENANT');
  });
});
