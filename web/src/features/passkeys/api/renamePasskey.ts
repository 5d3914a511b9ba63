import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { passkeysKey } from './listPasskeys';

/** `PATCH /v1/auth/passkeys/{id}`: renames one of the user's passkeys. */
export function useRenamePasskey() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (v: { id: string; name: string }) =>
      unwrap(api.PATCH('/v1/auth/passkeys/{id}', { params: { path: { id: v.id } }, body: { name: v.name } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: passkeysKey }),
  });
}
