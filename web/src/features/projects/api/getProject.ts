import { queryOptions, useQuery } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { projectsKey } from './listProjects';

/** `GET /v1/orgs/{org}/projects/{id}`: one project, 404 for any id outside the organization. */
export const projectQueryOptions = (org: string, id: string) =>
  queryOptions({
    queryKey: [...projectsKey(org), id] as const,
    queryFn: () => unwrap(api.GET('/v1/orgs/{org}/projects/{id}', { params: { path: { org, id } } })),
  });

export const useProject = (org: string, id: string) => useQuery(projectQueryOptions(org, id));
