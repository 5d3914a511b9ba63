import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { passkeysKey } from './listPasskeys';

/** `DELETE /v1/auth/passkeys/{id}`: removes one of the user's passkeys (it no longer signs in). */
export function useRemovePasskey() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE('/v1/auth/passkeys/{id}', { params: { path: { id } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: passkeysKey }),
  });
}
