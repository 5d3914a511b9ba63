import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { platformOrganizationsKey } from './listPlatformOrganizations';

/** `POST /v1/platform/organizations/{id}/suspend`: its members are refused until it is reactivated. */
export function useSuspendOrganization() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(api.POST('/v1/platform/organizations/{id}/suspend', { params: { path: { id } } })),
    onSettled: () => qc.invalidateQueries({ queryKey: platformOrganizationsKey }),
  });
}
