import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { linkedIdentitiesKey } from './listLinkedIdentities';

/** `DELETE /v1/auth/identities/{id}`: unlinks a provider account (refused when it is the last way in). */
export function useUnlinkIdentity() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE('/v1/auth/identities/{id}', { params: { path: { id } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: linkedIdentitiesKey }),
  });
}
