import { useMutation } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';

/** `GET /v1/orgs/{org}/organization/exports/{id}`: a ready export with a fresh link signed for this user. */
export function useOrganizationExportLink(org: string) {
  return useMutation({
    mutationFn: async (id: string) =>
      (await unwrap(api.GET('/v1/orgs/{org}/organization/exports/{id}', { params: { path: { org, id } } })))
        .download,
  });
}
