import { describe, expect, it } from 'vitest';
import { microsoftIssuerMatches, MICROSOFT_CONSUMER_TENANT } from './social.providers.js';
import { safeReturnTo } from './social.service.js';

const TEMPLATE = 'https://login.microsoftonline.com/{tenantid}/v2.0';
const TID = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const OTHER = '0d2b0f3c-1111-4a2b-9c3d-123456789abc';
const iss = (tid: string) => `https://login.microsoftonline.com/${tid}/v2.0`;

describe('Microsoft multi-tenant issuer', () => {
  it('common: any tenant, when iss is the template with the token’s own tid', () => {
    expect(microsoftIssuerMatches('common', TEMPLATE, { iss: iss(TID), tid: TID })).toBe(true);
    expect(
      microsoftIssuerMatches('common', TEMPLATE, {
        iss: iss(MICROSOFT_CONSUMER_TENANT),
        tid: MICROSOFT_CONSUMER_TENANT,
      }),
    ).toBe(true);
  });

  it('refuses an iss naming another tenant than tid, a tid that is not a GUID, and missing claims', () => {
    expect(microsoftIssuerMatches('common', TEMPLATE, { iss: iss(OTHER), tid: TID })).toBe(false);
    expect(microsoftIssuerMatches('common', TEMPLATE, { iss: iss('{tenantid}'), tid: '{tenantid}' })).toBe(
      false,
    );
    expect(microsoftIssuerMatches('common', TEMPLATE, { iss: TEMPLATE, tid: TID })).toBe(false);
    expect(
      microsoftIssuerMatches('common', TEMPLATE, {
        iss: 'https://evil.example.com/' + TID + '/v2.0',
        tid: TID,
      }),
    ).toBe(false);
    expect(microsoftIssuerMatches('common', TEMPLATE, { iss: iss(TID) })).toBe(false);
    expect(microsoftIssuerMatches('common', TEMPLATE, { tid: TID })).toBe(false);
    expect(microsoftIssuerMatches('common', TEMPLATE, { iss: iss(`${TID}/x`), tid: `${TID}/x` })).toBe(false);
  });

  it('organizations: work and school tenants only; consumers: the consumer tenant only', () => {
    expect(microsoftIssuerMatches('organizations', TEMPLATE, { iss: iss(TID), tid: TID })).toBe(true);
    const consumer = { iss: iss(MICROSOFT_CONSUMER_TENANT), tid: MICROSOFT_CONSUMER_TENANT };
    expect(microsoftIssuerMatches('organizations', TEMPLATE, consumer)).toBe(false);
    expect(microsoftIssuerMatches('consumers', TEMPLATE, consumer)).toBe(true);
    expect(microsoftIssuerMatches('consumers', TEMPLATE, { iss: iss(TID), tid: TID })).toBe(false);
  });

  it('a single tenant: its own issuer and tid only', () => {
    expect(microsoftIssuerMatches(TID, iss(TID), { iss: iss(TID), tid: TID })).toBe(true);
    expect(microsoftIssuerMatches(TID, iss(TID), { iss: iss(OTHER), tid: OTHER })).toBe(false);
    expect(microsoftIssuerMatches(TID, iss(TID), { iss: iss(TID), tid: OTHER })).toBe(false);
  });

  it('an overridden issuer template (a local test server) substitutes the same way', () => {
    const local = 'http://127.0.0.1:4000/{tenantid}/v2.0';
    expect(
      microsoftIssuerMatches('common', local, { iss: `http://127.0.0.1:4000/${TID}/v2.0`, tid: TID }),
    ).toBe(true);
    expect(microsoftIssuerMatches('common', local, { iss: iss(TID), tid: TID })).toBe(false);
  });
});

describe('returnTo', () => {
  it.each([
    ['/o/acme/projects?x=1', '/o/acme/projects?x=1'],
    ['/', '/'],
    [undefined, '/'],
    ['//evil.example.com', '/'],
    ['/\\evil.example.com', '/'],
    ['https://evil.example.com/', '/'],
    ['/\t/evil.example.com', '/'],
    ['relative', '/'],
    ['/' + 'a'.repeat(1000), '/'],
  ])('%s → %s', (raw, expected) => {
    expect(safeReturnTo(raw)).toBe(expected);
  });
});
