import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { sessionsKey } from './listSessions';

/**
 * `POST /v1/auth/password`: the current password and a new one. The server keeps this session (with a
 * new cookie) and signs every other session of the account out.
 */
export function useChangePassword() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { currentPassword: string; newPassword: string }) =>
      unwrap(api.POST('/v1/auth/password', { body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: sessionsKey }),
  });
}
