import { Button, Stack } from '@mantine/core';
import { browserSupportsWebAuthn } from '@simplewebauthn/browser';
import { FormError } from '../../../components/FormError';
import { useVerifyPasskeySecondFactor } from '../api/verifyPasskeySecondFactor';

/** "Use a passkey" on the second-factor step: one of the user's passkeys instead of a code. */
export function PasskeySecondFactorButton({ onVerified }: { readonly onVerified: () => void }) {
  const verify = useVerifyPasskeySecondFactor();
  if (!browserSupportsWebAuthn()) return null;
  return (
    <Stack gap="xs">
      <FormError error={verify.error} fields={[]} fieldErrors={{}} />
      <Button
        variant="default"
        loading={verify.isPending}
        onClick={() => verify.mutate(undefined, { onSuccess: onVerified })}
      >
        Use a passkey
      </Button>
    </Stack>
  );
}
