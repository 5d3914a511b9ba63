import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeIdp, type FakeIdp } from '../support/oidc-fake-idp.js';
import {
  apiAs,
  expectAccessible,
  launchChromium,
  mailedLink,
  newContext,
  newEmail,
  newPassword,
  screenshots,
  signUpVerified,
  startConsoleApp,
  stopConsoleApp,
  type ConsoleApp,
} from './support.js';

const seen = new Set<string>();

/** A SAML IdP's metadata (nothing signs in through it here: the certificate is never used). */
const METADATA = `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
  xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example.test/console">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>MIIBconsole</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.test/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`;
const txt = new Map<string, string>();

describe('console: single sign-on in Chromium', () => {
  let c: ConsoleApp;
  let browser: Browser;
  let idp: FakeIdp;

  beforeAll(async () => {
    idp = await startFakeIdp();
    c = await startConsoleApp({
      sso: {
        allowHttpIssuers: true,
        resolveTxt: async (name) => {
          const v = txt.get(name);
          if (v === undefined) throw new Error('ENOTFOUND');
          return [[v]];
        },
      },
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await stopConsoleApp(c);
    await idp?.close();
  });

  it('an owner verifies a domain and adds an OIDC connection; a person of that domain signs in with SSO', async () => {
    const domain = `sso-${randomBytes(4).toString('hex')}.test`;
    const { page } = await newContext(browser, c);
    await signUpVerified(page, newEmail('sso-owner'), newPassword(), seen);
    await page
      .getByRole('navigation', { name: 'Organization' })
      .getByRole('link', { name: 'Single sign-on' })
      .click();
    await page.getByRole('heading', { name: 'Single sign-on', level: 1 }).waitFor();
    await page.getByText('No connections yet').waitFor();
    await expectAccessible(page, 'single sign-on (empty)');
    await screenshots(page, 'sso', '01-empty');

    // The domain: add, publish the TXT record it shows, verify.
    await page.getByRole('textbox', { name: 'Domain' }).fill(domain);
    await page.getByRole('button', { name: 'Add domain' }).click();
    const name = `_saasready-verification.${domain}`;
    await page.getByText(name).waitFor();
    const value = await page.getByText(/^saasready-verification=/).textContent();
    txt.set(name, value!.trim());
    await page.getByRole('button', { name: `Verify ${domain}` }).click();
    await page.getByText('verified', { exact: true }).waitFor();

    // The connection.
    await page.getByRole('button', { name: 'New connection' }).click();
    const dialog = page.getByRole('dialog', { name: 'New SSO connection' });
    await dialog.getByRole('textbox', { name: 'Name' }).fill('Test IdP');
    await dialog.getByRole('textbox', { name: 'Issuer' }).fill(idp.issuer);
    await dialog.getByRole('textbox', { name: 'Client ID' }).fill(idp.clientId);
    await dialog.getByLabel('Client secret').fill(idp.clientSecret);
    await dialog.getByRole('button', { name: 'Create connection' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByText('Test IdP (OIDC)').waitFor();
    await page.getByRole('button', { name: 'Test connection' }).click();
    await page.getByText(`Issuer ${idp.issuer}; signing algorithms RS256.`).waitFor();
    await expectAccessible(page, 'single sign-on (configured)');
    await screenshots(page, 'sso', '02-configured');

    // Editing it: the form opens prefilled (never with the secret), checks its fields, shows the
    // server's refusal, and saves the name and default role.
    await page.getByRole('button', { name: 'Edit Test IdP' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit SSO connection' });
    const editName = edit.getByRole('textbox', { name: 'Name' });
    expect(await editName.inputValue()).toBe('Test IdP');
    expect(await edit.getByRole('textbox', { name: 'Issuer' }).inputValue()).toBe(idp.issuer);
    expect(await edit.getByLabel('New client secret').inputValue()).toBe('');
    await editName.fill('');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await edit.getByText('Enter a name').waitFor();
    await editName.fill('Renamed IdP');
    await edit.getByRole('textbox', { name: 'Issuer' }).fill(`${idp.issuer}/nowhere`);
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await edit.getByRole('alert').filter({ hasText: 'That did not work' }).waitFor();
    await edit.getByRole('textbox', { name: 'Issuer' }).fill(idp.issuer);
    await edit.getByRole('combobox', { name: 'Default role' }).click();
    await page.getByRole('option', { name: 'Viewer', exact: true }).click();
    await edit.getByRole('button', { name: 'Add a group mapping' }).click();
    await edit.getByRole('textbox', { name: 'Group 1' }).fill('engineering');
    await edit.getByRole('combobox', { name: 'Role of group 1' }).click();
    await page.getByRole('option', { name: 'Member', exact: true }).click();
    await expectAccessible(page, 'single sign-on (editing)');
    await screenshots(page, 'sso', '03-editing');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await edit.waitFor({ state: 'hidden' });
    await page.getByText('Connection “Renamed IdP” saved').waitFor();
    await page.getByText('Renamed IdP (OIDC)').waitFor();
    await page.getByText('Default role: Viewer · 1 group mapping(s)').waitFor();
    expect(await page.getByText('Test IdP (OIDC)').count()).toBe(0);
    await expectAccessible(page, 'single sign-on (edited)');

    // A person of the domain, who has no account yet, signs in through the IdP.
    const email = `jane@${domain}`;
    idp.nextUser = { sub: 'jane', email, email_verified: true, name: 'Jane' };
    const other = await newContext(browser, c);
    await other.page.goto('/sign-in');
    await other.page.getByRole('button', { name: 'Continue with SSO' }).click();
    await other.page.getByRole('textbox', { name: 'Work email' }).fill(email);
    await expectAccessible(other.page, 'sign-in (SSO)');
    await other.page.getByRole('button', { name: 'Continue with SSO' }).click();
    await other.page.waitForURL(/\/o\/[a-z0-9-]+\//);
    const me = await other.page.request.get(`${c.base}/v1/auth/me`);
    expect(me.status()).toBe(200);
    expect(((await me.json()) as { user: { email: string } }).user.email).toBe(email);
    await screenshots(other.page, 'sso', '04-signed-in');
  });

  it('an owner creates a SAML connection from pasted metadata, then edits its options and email attribute', async () => {
    const { page } = await newContext(browser, c);
    await signUpVerified(page, newEmail('sso-saml'), newPassword(), seen);
    await page
      .getByRole('navigation', { name: 'Organization' })
      .getByRole('link', { name: 'Single sign-on' })
      .click();
    await page.getByText('No connections yet').waitFor();

    await page.getByRole('button', { name: 'New connection' }).click();
    const create = page.getByRole('dialog', { name: 'New SSO connection' });
    await create.getByText('SAML 2.0').click();
    await create.getByRole('textbox', { name: 'Name' }).fill('Okta');
    // Neither a metadata URL nor XML: refused before sending.
    await create.getByRole('button', { name: 'Create connection' }).click();
    await create.getByText('Enter the metadata URL or paste the XML').waitFor();
    await create.getByRole('textbox', { name: 'or IdP metadata XML' }).fill(METADATA);
    await create.getByRole('textbox', { name: 'Email attribute (optional)' }).fill('email');
    await create.getByRole('button', { name: 'Create connection' }).click();
    await create.waitFor({ state: 'hidden' });
    await page.getByText('Okta (SAML)').waitFor();
    await page.getByText('https://idp.example.test/console').waitFor();

    await page.getByRole('button', { name: 'Edit Okta' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit SSO connection' });
    expect(await edit.getByRole('textbox', { name: 'or IdP metadata XML' }).inputValue()).toBe('');
    expect(await edit.getByRole('checkbox', { name: 'Require signed assertions' }).isChecked()).toBe(true);
    await edit.getByRole('checkbox', { name: 'Allow IdP-initiated sign-in' }).check();
    expect(await edit.getByRole('textbox', { name: 'Email attribute (optional)' }).inputValue()).toBe(
      'email',
    );
    await edit.getByRole('textbox', { name: 'Email attribute (optional)' }).fill('mail');
    await edit.getByRole('textbox', { name: 'Groups attribute' }).fill('groups');
    await expectAccessible(page, 'single sign-on (editing SAML)');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await edit.waitFor({ state: 'hidden' });
    await page.getByText('Connection “Okta” saved').waitFor();

    const org = /\/o\/([^/]+)\//.exec(page.url())![1]!;
    const list = await page.request.get(`${c.base}/v1/orgs/${org}/sso/connections`);
    const saml = ((await list.json()) as { data: { saml: Record<string, unknown> }[] }).data[0]!.saml;
    expect(saml).toMatchObject({
      idpEntityId: 'https://idp.example.test/console',
      allowIdpInitiated: true,
      wantAssertionsSigned: true,
      groupsAttribute: 'groups',
      emailAttribute: 'mail',
    });
  });

  it('an admin sees that connections are set up by an owner: creating, activating and the trust fields are disabled', async () => {
    const owner = await newContext(browser, c);
    await signUpVerified(owner.page, newEmail('sso-owner2'), newPassword(), seen);
    const api = apiAs(owner.page, c);
    const slug = `sso-${Date.now().toString(36)}`;
    expect((await api.post('/v1/organizations', { name: 'SSO Inc', slug })).status()).toBe(201);
    const created = await api.post(`/v1/orgs/${slug}/sso/connections`, {
      kind: 'oidc',
      name: 'Owner IdP',
      status: 'inactive',
      defaultRole: 'member',
      oidc: { issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret },
    });
    expect(created.status(), await created.text()).toBe(201);

    const admin = await newContext(browser, c);
    const email = newEmail('sso-admin');
    await signUpVerified(admin.page, email, newPassword(), seen);
    expect((await api.post(`/v1/orgs/${slug}/invitations`, { email, role: 'admin' })).status()).toBe(201);
    const token = new URL(await mailedLink(email, 'accept-invitation', seen)).searchParams.get('token');
    expect((await apiAs(admin.page, c).post('/v1/invitations/accept', { token })).status()).toBe(200);

    const page = admin.page;
    await page.goto(`/o/${slug}/settings/sso`);
    await page.getByRole('heading', { name: 'Single sign-on', level: 1 }).waitFor({ timeout: 30_000 });
    await page.getByText('Only an owner sets up a connection').waitFor();
    await page.getByText('Owner IdP (OIDC)').waitFor();
    expect(await page.getByRole('button', { name: 'New connection' }).isDisabled()).toBe(true);
    expect(await page.getByRole('button', { name: 'Activate' }).isDisabled()).toBe(true);
    await expectAccessible(page, 'single sign-on (admin)');
    await screenshots(page, 'sso', '05-admin');

    await page.getByRole('button', { name: 'Edit Owner IdP' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit SSO connection' });
    expect(await edit.getByRole('textbox', { name: 'Issuer' }).isDisabled()).toBe(true);
    expect(await edit.getByRole('textbox', { name: 'Client ID' }).isDisabled()).toBe(true);
    expect(await edit.getByLabel('New client secret').isDisabled()).toBe(true);
    await edit.getByRole('textbox', { name: 'Name' }).fill('Owner IdP (EU)');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await edit.waitFor({ state: 'hidden' });
    await page.getByText('Owner IdP (EU) (OIDC)').waitFor();
  });
});
