import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { myOrganizationsKey } from './listMyOrganizations';

/** `POST /v1/organizations`: the user becomes its owner. */
export function useCreateOrganization() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { name: string; slug: string; region?: string }) =>
      unwrap(api.POST('/v1/organizations', { body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: myOrganizationsKey }),
  });
}
