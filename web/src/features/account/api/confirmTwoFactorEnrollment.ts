import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { twoFactorChanged } from './two-factor-changed';

/**
 * `POST /v1/auth/two-factor/enroll/confirm`: a code from the app turns two-factor on; answers the ten
 * recovery codes (the only time they are shown).
 */
export function useConfirmTwoFactorEnrollment() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (code: string) => unwrap(api.POST('/v1/auth/two-factor/enroll/confirm', { body: { code } })),
    onSuccess: () => twoFactorChanged(qc),
  });
}
