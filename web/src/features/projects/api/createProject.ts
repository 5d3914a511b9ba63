import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { projectsKey } from './listProjects';

/** `POST /v1/orgs/{org}/projects`. */
export function useCreateProject(org: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: { name: string; description?: string | null }) =>
      unwrap(api.POST('/v1/orgs/{org}/projects', { params: { path: { org } }, body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: projectsKey(org) }),
  });
}
