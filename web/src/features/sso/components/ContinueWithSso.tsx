import { useState, type FormEvent } from 'react';
import { Anchor, Button, Stack, Text, TextInput } from '@mantine/core';
import { useSearchParams } from 'react-router';
import { describeError } from '../../../api/errors';
import { safeNext } from '../../../lib/base-path';
import { useDiscoverSso } from '../api/discoverSso';

const REFUSALS: Record<string, string> = {
  SSO_FLOW_INVALID: 'That sign-in link is no longer valid. Start again.',
  SSO_EMAIL_DOMAIN_NOT_ALLOWED: 'Your organization has not verified the domain of this address.',
  SSO_EMAIL_NOT_VERIFIED: 'Your identity provider did not confirm this address.',
};

/** "Continue with SSO" on the sign-in page: email → home-realm discovery → the organization's IdP. */
export function ContinueWithSso() {
  const [params] = useSearchParams();
  const discover = useDiscoverSso();
  const refused = params.get('sso_error');
  const [open, setOpen] = useState(refused !== null);
  const [email, setEmail] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    discover.mutate(
      { email, returnTo: safeNext(params.get('next')) },
      { onSuccess: (r) => window.location.assign(r.redirectUrl) },
    );
  };
  if (!open) {
    return (
      <Anchor component="button" type="button" size="sm" onClick={() => setOpen(true)}>
        Continue with SSO
      </Anchor>
    );
  }
  return (
    <form onSubmit={submit} noValidate aria-label="Single sign-on">
      <Stack gap="sm">
        {refused ? (
          <Text size="sm" c="red" role="alert">
            {REFUSALS[refused] ?? 'Single sign-on did not complete. Try again or ask your administrator.'}
          </Text>
        ) : null}
        {discover.error ? (
          <Text size="sm" c="red" role="alert">
            {describeError(discover.error)}
          </Text>
        ) : null}
        <TextInput
          label="Work email"
          type="email"
          autoComplete="username"
          value={email}
          onChange={(e) => setEmail(e.currentTarget.value)}
        />
        <Button type="submit" variant="light" loading={discover.isPending}>
          Continue with SSO
        </Button>
      </Stack>
    </form>
  );
}
