import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { projectsKey } from './listProjects';

/** `PATCH /v1/orgs/{org}/projects/{id}`. */
export function useUpdateProject(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, ...body }: { id: string; name: string; description: string | null }) =>
      unwrap(api.PATCH('/v1/orgs/{org}/projects/{id}', { params: { path: { org, id } }, body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: projectsKey(org) }),
  });
}
