import { Button, Stack } from '@mantine/core';
import { browserSupportsWebAuthn } from '@simplewebauthn/browser';
import { FormError } from '../../../components/FormError';
import { useSignInWithPasskey } from '../api/signInWithPasskey';

/** "Sign in with a passkey" on the sign-in page (hidden where the browser has no WebAuthn). */
export function PasskeySignInButton({ onSignedIn }: { readonly onSignedIn: () => void }) {
  const signIn = useSignInWithPasskey();
  if (!browserSupportsWebAuthn()) return null;
  return (
    <Stack gap="xs">
      <FormError error={signIn.error} fields={[]} fieldErrors={{}} />
      <Button
        variant="default"
        loading={signIn.isPending}
        onClick={() => signIn.mutate(undefined, { onSuccess: onSignedIn })}
      >
        Sign in with a passkey
      </Button>
    </Stack>
  );
}
