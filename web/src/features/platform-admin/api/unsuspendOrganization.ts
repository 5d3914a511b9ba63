import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { platformOrganizationsKey } from './listPlatformOrganizations';

/** `POST /v1/platform/organizations/{id}/unsuspend`: its members can use it again at once. */
export function useUnsuspendOrganization() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(api.POST('/v1/platform/organizations/{id}/unsuspend', { params: { path: { id } } })),
    onSettled: () => qc.invalidateQueries({ queryKey: platformOrganizationsKey }),
  });
}
