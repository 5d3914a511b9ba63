import { Alert, Button, Divider, Stack, Text } from '@mantine/core';
import { useSearchParams } from 'react-router';
import { basePath, consoleHref, safeNext } from '../../../lib/base-path';
import { useSocialProviders } from '../api/listSocialProviders';

/** What the sign-in page says when a provider's sign-in came back with an error (`?error=<code>`). */
const ERRORS: Record<string, string> = {
  SOCIAL_EMAIL_UNVERIFIED:
    'An account with this email address already exists, and the provider has not verified the address. Sign in with your password instead.',
  SOCIAL_EMAIL_MISSING: 'The provider did not share an email address with us. Sign in another way.',
  SOCIAL_STATE_INVALID: 'That sign-in expired or was already used. Please start again.',
  SOCIAL_PROVIDER_REFUSED: 'The provider did not confirm who you are. Please try again.',
  SOCIAL_PROVIDER_UNAVAILABLE: 'The provider cannot be reached right now. Please try again later.',
  SOCIAL_PROVIDER_NOT_FOUND: 'That sign-in provider is not available.',
  AUTH_THROTTLED: 'Too many sign-in attempts. Please wait a few minutes and try again.',
};

/**
 * "Continue with …" links for the providers the deployment configured (none: nothing drawn), and the
 * reason a provider's sign-in failed when it came back with one. Each link is a full navigation to the
 * server, which redirects to the provider and, afterwards, back to `next`.
 */
export function SocialSignInButtons() {
  const [params] = useSearchParams();
  const providers = useSocialProviders();
  const error = params.get('error');
  const returnTo = consoleHref(safeNext(params.get('next')));
  const message = error
    ? (ERRORS[error] ?? 'Signing in with the provider did not work. Please try again.')
    : null;
  const list = providers.data?.data ?? [];
  return (
    <Stack gap="sm" mt={list.length > 0 || message || providers.isError ? 'md' : 0}>
      {message ? (
        <Alert color="red" role="alert" title="That did not work">
          {message}
        </Alert>
      ) : null}
      {providers.isError ? (
        <Text size="sm" c="dimmed">
          Other ways to sign in could not be loaded.
        </Text>
      ) : null}
      {list.length > 0 ? (
        <>
          <Divider label="or" labelPosition="center" />
          {list.map((p) => (
            <Button
              key={p.id}
              component="a"
              variant="default"
              href={`${basePath}${p.startUrl}?returnTo=${encodeURIComponent(returnTo)}`}
            >
              Continue with {p.label}
            </Button>
          ))}
        </>
      ) : null}
    </Stack>
  );
}
