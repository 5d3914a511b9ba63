import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { platformOrganizationsKey } from './listPlatformOrganizations';

/** `PATCH /v1/platform/organizations/{id}`: the plan and attributes flag rules target. */
export function useUpdateOrganizationTargeting() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({
      id,
      ...body
    }: {
      id: string;
      plan?: string;
      attributes?: Record<string, string | number | boolean>;
    }) => unwrap(api.PATCH('/v1/platform/organizations/{id}', { params: { path: { id } }, body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: platformOrganizationsKey }),
  });
}
