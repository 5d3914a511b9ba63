import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { signOutHere } from '../../auth/api/me';

/**
 * `DELETE /v1/account`: erases the signed-in user after re-authentication (the current password, and a
 * code when two-factor authentication is on). On success every session is gone, this one included: the
 * tab forgets it and the signed-in screens give way to the sign-in page.
 */
export function useEraseAccount() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { password: string; code?: string }) => unwrap(api.DELETE('/v1/account', { body })),
    onSuccess: () => signOutHere(qc),
  });
}
