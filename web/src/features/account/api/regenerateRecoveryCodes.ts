import { useMutation } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

/**
 * `POST /v1/auth/two-factor/recovery-codes`: ten new recovery codes replace the old ones (a current code
 * from the app, or a recovery code, required).
 */
export function useRegenerateRecoveryCodes() {
  return useMutation({
    mutationFn: (code: string) => unwrap(api.POST('/v1/auth/two-factor/recovery-codes', { body: { code } })),
  });
}
