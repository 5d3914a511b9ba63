import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../../../api/client';
import { unwrap } from '../../../api/errors';
import { platformOrganizationsKey } from './listPlatformOrganizations';

/**
 * `POST /v1/platform/organizations/{id}/expedite-deletion`: the deletion becomes due now (the deletion job
 * runs every 5 minutes), confirmed by the organization's slug.
 */
export function useExpediteOrganizationDeletion() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, confirmSlug }: { id: string; confirmSlug: string }) =>
      unwrap(
        api.POST('/v1/platform/organizations/{id}/expedite-deletion', {
          params: { path: { id } },
          body: { confirmSlug },
        }),
      ),
    // Also refreshes the pending list (its key starts with this one).
    onSettled: () => qc.invalidateQueries({ queryKey: platformOrganizationsKey }),
  });
}
