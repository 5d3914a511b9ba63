import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { twoFactorChanged } from './two-factor-changed';

/**
 * `POST /v1/auth/two-factor/disable`: turns two-factor off (a current code required); every other session
 * of the user and every API token ends.
 */
export function useDisableTwoFactor() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (code: string) => unwrap(api.POST('/v1/auth/two-factor/disable', { body: { code } })),
    onSuccess: () => twoFactorChanged(qc),
  });
}
