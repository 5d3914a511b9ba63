import { useMutation, useQueryClient } from '@tanstack/react-query';
import { startRegistration, type PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/browser';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { passkeysKey } from './listPasskeys';

/**
 * Adds a passkey: `POST /v1/auth/passkeys/registration/options`, the browser's `navigator.credentials.create`
 * (through `@simplewebauthn/browser`), then `POST /v1/auth/passkeys/registration/verify` with its name.
 */
export function useRegisterPasskey() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async (name: string) => {
      const options = await unwrap(api.POST('/v1/auth/passkeys/registration/options'));
      const response = await startRegistration({
        optionsJSON: options as unknown as PublicKeyCredentialCreationOptionsJSON,
      });
      return unwrap(
        api.POST('/v1/auth/passkeys/registration/verify', {
          body: { name, response: response as never },
        }),
      );
    },
    onSuccess: () => qc.invalidateQueries({ queryKey: passkeysKey }),
  });
}
